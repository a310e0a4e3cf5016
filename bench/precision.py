"""Seconds per iteration in fp32 and in bf16 (`--precision bf16`), per preset and photo size.

    python -m bench.precision --sizes 128 256 512 --presets fast,draft,paper --iters 6 --threads 1

Each preset fits a noisy synthetic photo (our own, no data needed) at each size, in fp32 and bf16
alternately, for --iters iterations without auto-stop; the time per iteration leaves out the first
two (they include one-off set-up). Quality in bf16 is measured on real photos with
`bench.levers ... --variants fast,fast+bf16` (bench/README.md).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from bench.parallel import photo
from bench.run import _write_atomic, machine
from dip_engine import device, presets
from dip_engine.fit import Problem, fit
from dip_engine.operators import Identity

WARM_UP = 2


def s_per_iter(preset: str, size: int, precision: str, iters: int, dev: str = "cpu") -> float:
    x = torch.from_numpy(photo(size).pixels.transpose(2, 0, 1).copy())[None]
    stamps = []
    # Every Step reads the loss back (a sync), so on a GPU the laps are whole iterations too.
    for _ in fit(Problem(x, Identity(), (size, size)), presets.get("denoise", preset), iterations=iters,
                 auto_stop=False, preview_every=10 ** 9, confidence=False, precision=precision,
                 device=dev):
        stamps.append(time.perf_counter())
    laps = np.diff(stamps[WARM_UP:-1])   # the last Step is the result, not an iteration
    return round(float(np.median(laps)), 4)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512])
    ap.add_argument("--presets", default="fast,draft,paper")
    ap.add_argument("--iters", type=int, default=6)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu", choices=device.DEVICES[1:])
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "precision.json")
    a = ap.parse_args(argv)
    if a.iters < WARM_UP + 2:
        ap.error(f"--iters must be at least {WARM_UP + 2}")
    device.set_threads(a.threads)
    dev = device.pick(a.device)
    device.tune(dev)   # what restore.run does: cuDNN autotuning on a GPU
    if dev.type == "cpu":
        print(f"CPU bfloat16 native: {bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())}", file=sys.stderr)
    else:
        print(f"{dev}: {torch.cuda.get_device_name(dev) if dev.type == 'cuda' else dev}", file=sys.stderr)
    rows = []
    print("| preset | size | fp32 s/it | bf16 s/it | bf16 speed-up |\n|---|---|---|---|---|")
    for name in a.presets.split(","):
        for size in a.sizes:
            t = {p: s_per_iter(name, size, p, a.iters, dev) for p in ("fp32", "bf16")}
            rows.append({"preset": name, "size": size, "fp32_s_per_iter": t["fp32"], "bf16_s_per_iter": t["bf16"],
                         "speedup": round(t["fp32"] / t["bf16"], 2)})
            print(f"| {name} | {size}² | {t['fp32']} | {t['bf16']} | {rows[-1]['speedup']}x |", flush=True)
    command = " ".join(["python -m bench.precision", *(argv if argv is not None else sys.argv[1:])])
    _write_atomic(a.out, json.dumps({"machine": machine(), "device": str(dev), "threads": a.threads, "command": command,
                                     "results": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
