"""Quick quality-vs-time probe of one preset variant on one bench case (for tuning presets).

    python -m bench.explore f16_denoise --crop 256 --set channels=32 lr=0.02 --seconds 120
Prints the PSNR of the smoothed output every --every iterations with the fitting time.
"""
from __future__ import annotations

import argparse
import ast
import json
import sys
from dataclasses import replace

import numpy as np
import torch

from bench import cases as bench_cases
from bench.run import _score
from dip_engine import presets, regions
from dip_engine.fit import Control, Problem, fit
from dip_engine.noise import estimate_sigma
from dip_engine.operators import Downsample, Identity
from dip_engine.presets import Preset


def variant(case: bench_cases.Case, name: str, sets: list[str]) -> Preset:
    """The preset `name` the app would pick for `case`, with field=value overrides."""
    # The net the app picks for these marks (objects and large holes get another one).
    holes = case.task == "inpaint" and regions.large_holes(case.mask)
    p = presets.get(case.task, case.paper_preset if name == "paper" else name, holes=holes)
    return replace(p, **overrides(sets))


def overrides(sets: list[str]) -> dict:
    """{field: value} from "field=value" strings (values as Python literals)."""
    return {k: ast.literal_eval(v) for k, _, v in (kv.partition("=") for kv in sets)}


def tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None]


def problem(case: bench_cases.Case) -> Problem:
    """What the engine fits for `case`: its observation, operator and known pixels."""
    h, w = case.truth.shape[:2]
    if case.task == "sr":
        return Problem(tensor(case.observed), Downsample(case.scale), (h, w))
    if case.task == "inpaint":
        known = torch.from_numpy((~case.mask).astype(np.float32))[None, None]
        return Problem(tensor(case.observed), Identity(), (h, w), known)
    # the noise level as the app knows it: estimated from the photo (the SURE loss needs it)
    sigma = estimate_sigma(case.observed) if case.task == "denoise" else None
    return Problem(tensor(case.observed), Identity(), (h, w), noise_sigma=sigma)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("case")
    ap.add_argument("--crop", type=int)
    ap.add_argument("--preset", default="balanced")
    ap.add_argument("--set", nargs="*", default=[], help="field=value overrides of the preset")
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--iters", type=int, default=100000)
    ap.add_argument("--every", type=int, default=25)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", help="append the run (curve included) as a JSON line to this file")
    bench_cases.add_data_option(ap)
    a = ap.parse_args(argv)
    bench_cases.use_data(a.data)
    torch.set_num_threads(a.threads)
    case = bench_cases.build_or_exit(a.case, a.crop, "bench.explore")
    p = variant(case, a.preset, a.set)
    prob = problem(case)
    control = Control()
    best = (0, 0, 0)
    curve = []
    suggested = None   # where auto-stop would have ended the run (--set auto_stop=True shows it)
    for s in fit(prob, p, iterations=a.iters, seed=a.seed, auto_stop=False, preview_every=a.every, control=control,
                 precision=a.precision):
        if s.stop_suggested and suggested is None:
            suggested = s.iteration
        if s.image is not None:
            # Inpainting results keep every known pixel (restore.compose): score what is saved.
            img = np.where(case.mask[..., None], s.image, case.observed) if case.task == "inpaint" else s.image
            ps = _score(case, img)[0]
            curve.append((s.iteration, round(s.elapsed_s, 1), round(ps, 2), s.peak_iteration))
            best = max(best, (ps, s.iteration, s.elapsed_s))
            print(f"it {s.iteration:5d}  t {s.elapsed_s:7.1f}s  psnr {ps:6.2f}  peak {s.peak_iteration}", flush=True)
        if s.elapsed_s > a.seconds:
            control.stop()
    row = {"case": a.case, "crop": a.crop, "preset": a.preset, "set": a.set, "precision": a.precision, "seed": a.seed,
           "best_psnr": round(best[0], 2), "best_it": best[1], "best_t": round(best[2], 1),
           "s_per_iter": round(s.s_per_iter, 4), "stop_suggested_at": suggested}
    print(json.dumps(row))
    if a.out:
        with open(a.out, "a") as f:
            f.write(json.dumps({**row, "curve": curve}) + "\n")


if __name__ == "__main__":
    sys.exit(main())
