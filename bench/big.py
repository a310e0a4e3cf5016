"""How long a big photo takes with the default plan: a synthetic noisy photo (sigma 25, our own,
no data needed) is denoised for --seconds, then stopped; the row records the plan (parts,
workers), how far the run got and the end it predicted then.

    python -m bench.big --size 3000 4000 --seconds 120            # 12 MP on this machine's CPU
    python -m bench.big --size 3000 4000 --seconds 60 --device cuda

    python -m bench.big --size 3000 4000 --seconds 0 --preset draft   # 12 MP to its end (hours)

`estimate_s` is the time so far over the fraction done (parts that ended count whole, the others
by their share of the iteration budget, so it errs long when parts stop early); `eta_s` is what
the progress bar showed at that moment. With --seconds 0 the run goes to its end, and
`readings` holds what the progress bar promised at 1, 5, 10, 25, 50 and 75 % of the run, each
with `error`: the end it promised (elapsed + time left) against the real end, as a fraction.
`peak_rss_mb` is the most memory the bench process and, separately, any one of its workers held.
Rows are appended to --out (JSON lines).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from bench.parallel import photo
from bench.record import machine
from dip_engine import presets, restore
from dip_engine.fit import Control

MARKS = (0.01, 0.05, 0.10, 0.25, 0.50, 0.75)   # fractions of the run at which the ETA is read


def probe(size: tuple[int, int], seconds: float, device: str, precision: str, preset: str,
          tile: int | None = None) -> dict:
    control = Control()
    job = restore.Job("denoise", photo(*size), preset=preset, device=device, precision=precision, tile=tile)
    t0 = time.perf_counter()
    first_iteration_s = wall = None
    last = None
    marks, readings = list(MARKS), []
    for step in restore.run(job, control):
        if control.stopped:
            continue   # let the workers wind down; the row describes the run before Stop
        last = step
        now = time.perf_counter() - t0
        if step.iteration > 0 and first_iteration_s is None:
            first_iteration_s = round(now, 2)
        while marks and not step.done and (step.progress or 0) >= marks[0]:
            marks.pop(0)
            readings.append({"progress": round(step.progress, 4), "elapsed_s": round(now, 1),
                             "eta_s": round(step.eta_s) if step.eta_s is not None else None})
        if seconds and step.iteration > 0 and now > seconds:   # at least one iteration to time
            wall = now
            control.stop()
    wall = round(wall or time.perf_counter() - t0, 1)
    if last.done and not control.stopped:
        for r in readings:
            r["error"] = round((r["elapsed_s"] + r["eta_s"]) / wall - 1, 3) if r["eta_s"] is not None else None
    progress = last.progress or 0.0
    return {"size": list(size), "megapixels": round(size[0] * size[1] / 1e6, 1), "preset": preset,
            "device": device, "precision": precision, "tile": tile,
            "parts": last.extra.get("parts", 1), "workers": last.extra.get("workers", 1),
            "seconds": wall, "first_iteration_s": first_iteration_s, "iterations": last.iteration,
            "s_per_iter": round(last.s_per_iter, 5), "progress": round(progress, 4),
            "estimate_s": round(last.elapsed_s / progress) if progress else None,
            "eta_s": round(last.eta_s) if last.eta_s is not None else None,
            "eta_range_s": [round(t) for t in last.eta_range] if last.eta_range else None,
            "done": bool(last.done and not control.stopped), "readings": readings,
            "peak_rss_mb": {"bench": _peak_mb(children=False), "worker": _peak_mb(children=True)}}


def _peak_mb(children: bool) -> int | None:
    try:
        import resource   # Unix only
    except ImportError:
        return None
    usage = resource.getrusage(resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF)
    return round(usage.ru_maxrss / 1024)   # kB on Linux


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.big", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, nargs=2, metavar=("HEIGHT", "WIDTH"), default=[3000, 4000])
    ap.add_argument("--seconds", type=float, default=120, help="stop after this long; 0: run to the end")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--preset", default=presets.DEFAULT)
    ap.add_argument("--tile", type=int, help="tile side instead of the preset's (as a big number: one whole fit)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "big.jsonl")
    a = ap.parse_args(argv)
    row = {"machine": machine(), **probe(tuple(a.size), a.seconds, a.device, a.precision, a.preset, a.tile)}
    print(json.dumps(row))
    a.out.parent.mkdir(parents=True, exist_ok=True)
    with a.out.open("a") as f:
        f.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
