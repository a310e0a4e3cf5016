"""How long Stop takes to act on a big tile: the time from pressing Stop (from another thread,
as the app and Ctrl+C do) to the end of the fit's stream.

    python -m bench.stop_latency --size 1024 --presses 0.3 0.6 0.9

A noisy synthetic photo (our own, no data needed) is denoised in one piece with the default
preset. Each press comes at a different point of the third iteration (a fraction of the first
two iterations' mean duration), so it lands in the forward or the backward pass.
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
import time

import numpy as np
import torch

from bench.parallel import photo
from dip_engine import fit, presets
from dip_engine.fit import Control, Problem
from dip_engine.operators import Identity


def once(size: int, press_at: float, iter_s: float | None) -> tuple[float, float]:
    """(seconds per iteration, seconds from the press to the end of the stream)."""
    obs = torch.from_numpy(photo(size).pixels.transpose(2, 0, 1).copy())[None]
    control, pressed, times = Control(), [], []
    t0 = time.perf_counter()
    for s in fit.fit(Problem(obs, Identity(), (size, size)), presets.get("denoise", "fast"),
                     iterations=1000, auto_stop=False, control=control):
        times.append(time.perf_counter())
        if s.iteration == 2:
            per = (times[-1] - t0) / 2
            timer = threading.Timer(press_at * (iter_s or per), lambda: (pressed.append(time.perf_counter()), control.stop()))
            timer.start()
    return per, time.perf_counter() - pressed[0]


class _Clock(fit.Control):
    """A Control that notes when the fit looks at Stop."""

    def __init__(self):
        super().__init__()
        self.reads: list[float] = []

    @property
    def stopped(self) -> bool:
        self.reads.append(time.perf_counter())
        return super().stopped


def longest_gap(size: int, preset: str, iterations: int = 3) -> tuple[float, float]:
    """(seconds per iteration, the longest time between two looks at Stop) over the last of
    `iterations` iterations: the worst wait a press anywhere in that iteration could see."""
    obs = torch.from_numpy(photo(size).pixels.transpose(2, 0, 1).copy())[None]
    control = _Clock()
    marks = []
    for s in fit.fit(Problem(obs, Identity(), (size, size)), presets.get("denoise", preset),
                     iterations=iterations, auto_stop=False, control=control):
        marks.append(len(control.reads))
    reads = control.reads[marks[-3]:marks[-2] + 1]   # from the end of the one before to the end of the last
    return reads[-1] - reads[0], max(b - a for a, b in zip(reads, reads[1:]))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--presses", type=float, nargs="+", default=[0.3, 0.6, 0.9])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--gaps", metavar="PRESET", help="instead of pressing Stop, time the longest gap between "
                    "two looks at Stop in an iteration of this preset (with --size, or the planner's size cap)")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    if a.gaps:
        from dip_engine import latency
        cap = latency.max_pixels(presets.get("denoise", a.gaps), 3, "cpu")
        size = a.size if "--size" in (argv or sys.argv) else int(cap ** 0.5)
        per, gap = longest_gap(size, a.gaps)
        print(json.dumps({"preset": a.gaps, "size": size, "threads": a.threads, "cap_px": cap,
                          "s_per_iter": round(per, 2), "longest_gap_s": round(gap, 2)}))
        return
    rows = []
    for f in a.presses:
        per, latency = once(a.size, f, None)
        rows.append({"press_at": f, "s_per_iter": round(per, 2), "latency_s": round(latency, 2)})
        print(f"press at {f:.1f} of an iteration: {per:.2f} s/it, Stop took {latency:.2f} s", flush=True)
    print(json.dumps({"size": a.size, "threads": a.threads, "rows": rows,
                      "max_latency_s": max(r["latency_s"] for r in rows)}))


if __name__ == "__main__":
    sys.exit(main())
