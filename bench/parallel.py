"""Speed-up of fitting a photo's tiles in parallel processes against one process using every core.

    python -m bench.parallel --size 240 --tile 128 --iters 150 --repeat 2

A noisy smooth test photo (our own, no data needed) is denoised in 2x2 tiles with the default
preset and a fixed iteration count (no auto-stop), alternately with one worker using all cores'
threads and with one worker per core (1 thread each). Wall time includes starting the workers.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from dip_engine import restore
from dip_engine.imageio import Photo
from dip_engine.parallel import cores


def photo(size: int) -> Photo:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:size, 0:size] / size
    img = np.stack([0.5 + 0.3 * np.sin(9 * x + 4 * y), 0.5 + 0.3 * np.cos(7 * y), 0.4 + 0.3 * x * y], axis=2)
    img = np.clip(img + rng.normal(0, 25 / 255, img.shape), 0, 1)
    return Photo(data=np.rint(img * 255).astype(np.uint8))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=240)
    ap.add_argument("--tile", type=int, default=128)
    ap.add_argument("--iters", type=int, default=150)
    ap.add_argument("--repeat", type=int, default=2)
    a = ap.parse_args(argv)
    p, n = photo(a.size), cores()
    times: dict[str, list[float]] = {"1 worker": [], f"{n} workers": []}
    for _ in range(a.repeat):
        for label, workers, threads in (("1 worker", 1, n), (f"{n} workers", n, 1)):
            job = restore.Job("denoise", p, iters=a.iters, stop="never", tile=a.tile, workers=workers, threads=threads)
            t = time.perf_counter()
            last = list(restore.run(job))[-1]
            times[label].append(time.perf_counter() - t)
            print(f"{label}: {times[label][-1]:.1f} s ({last.extra['parts']} tiles x {a.iters} iterations)", flush=True)
    best = {k: min(v) for k, v in times.items()}
    print(json.dumps({"cores": n, "best_s": best, "speedup": round(best["1 worker"] / best[f"{n} workers"], 2)}))


if __name__ == "__main__":
    sys.exit(main())
