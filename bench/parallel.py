"""Speed-up of fitting a photo's tiles in parallel processes against one process using every core.

    python -m bench.parallel --size 240 --tile 128 --iters 150 --repeat 2

A noisy smooth test photo (our own, no data needed) is denoised in 2x2 tiles with the default
preset and a fixed iteration count (no auto-stop), alternately with one worker using all cores'
threads with one worker per core (1 thread each), and with one worker on one core (1 thread: the
"over 1 core" baseline of issue 12). Wall time includes starting the workers.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from dip_engine import restore
from dip_engine.imageio import Photo
from dip_engine.parallel import cores


def photo(size: int, width: int | None = None) -> Photo:
    """A smooth synthetic photo, size x size (or size x width) px, with Gaussian noise sigma 25."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:size, 0:width or size] / size
    img = np.stack([0.5 + 0.3 * np.sin(9 * x + 4 * y), 0.5 + 0.3 * np.cos(7 * y), 0.4 + 0.3 * x * y], axis=2)
    img = np.clip(img + rng.normal(0, 25 / 255, img.shape), 0, 1)
    return Photo(data=np.rint(img * 255).astype(np.uint8))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=240)
    ap.add_argument("--tile", type=int, default=128)
    ap.add_argument("--iters", type=int, default=150)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--workers", type=int, nargs="+", metavar="N",
                    help="also time N workers of 1 thread each (default: one per core only)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "parallel.json",
                    help="JSON file whose 'runs' list this run is appended to")
    a = ap.parse_args(argv)
    p, n = photo(a.size), cores()
    runs = [("1 core", 1, 1), ("1 worker", 1, n)] + [(f"{k} workers", k, 1) for k in sorted({*(a.workers or []), n})]
    times: dict[str, list[float]] = {label: [] for label, _, _ in runs}
    for _ in range(a.repeat):
        for label, workers, threads in runs:
            job = restore.Job("denoise", p, iters=a.iters, stop="never", tile=a.tile, workers=workers, threads=threads,
                              device="cpu")   # on a machine with a GPU too: this measures the cores
            t = time.perf_counter()
            last = list(restore.run(job))[-1]
            times[label].append(time.perf_counter() - t)
            print(f"{label}: {times[label][-1]:.1f} s ({last.extra['parts']} tiles x {a.iters} iterations)", flush=True)
    best = {k: round(min(v), 1) for k, v in times.items()}
    row = {"date": time.strftime("%Y-%m-%d %H:%M"), "size": a.size, "tile": a.tile, "iters": a.iters,
           "repeat": a.repeat, "cores": n, "load_avg_after": round(os.getloadavg()[0], 1), "best_s": best,
           "speedup_over_1_core": round(best["1 core"] / best[f"{n} workers"], 2),
           "speedup_over_1_worker_all_threads": round(best["1 worker"] / best[f"{n} workers"], 2),
           "threads_speedup": round(best["1 core"] / best["1 worker"], 2)}
    if a.workers:
        row["speedup_over_1_core_by_workers"] = {k: round(best["1 core"] / best[f"{k} workers"], 2)
                                                  for k in sorted({*a.workers, n})}
    print(json.dumps(row))
    record = json.loads(a.out.read_text()) if a.out.exists() else {"runs": []}
    record["runs"].append(row)
    a.out.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
