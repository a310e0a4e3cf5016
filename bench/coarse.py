"""Coarse-to-fine probe (issue #7): fit the problem at half size first, then go on at full size
with the same network weights, optimiser state and (sub-sampled) input noise.

    python -m bench.coarse f16_denoise --crop 128 --coarse 400 --iters 1200
The coarse problem: denoising fits the 2x area-downsampled photo; SR xS fits the same low-res
photo as SR x(S/2). Prints the PSNR of the smoothed output (upsampled during the coarse phase).
"""
from __future__ import annotations

import argparse
import json
import sys

import torch
import torch.nn.functional as F

from bench import cases as bench_cases
from bench.explore import problem, variant
from bench.run import _score
from dip_engine.fit import Problem, build_net, fit, make_input
from dip_engine.operators import Downsample, Identity
from dip_engine.stopping import WindowedVariance


def problems(case):
    """The half-size problem and the full one (denoising and SR cases)."""
    full = problem(case)
    h, w = full.size
    if case.task == "sr":
        return Problem(full.observation, Downsample(case.scale // 2), (h // 2, w // 2)), full
    return Problem(F.avg_pool2d(full.observation, 2), Identity(), (h // 2, w // 2)), full


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("case")
    ap.add_argument("--crop", type=int)
    ap.add_argument("--preset", default="fast")
    ap.add_argument("--set", nargs="*", default=[])
    ap.add_argument("--coarse", type=int, default=400, help="iterations at half size")
    ap.add_argument("--iters", type=int, default=1200, help="iterations in all")
    ap.add_argument("--every", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--ema", choices=["carry", "restart"], default="carry")
    bench_cases.add_data_option(ap)
    a = ap.parse_args(argv)
    bench_cases.use_data(a.data)
    torch.set_num_threads(a.threads)
    case = bench_cases.build_or_exit(a.case, a.crop, "bench.coarse")
    p = variant(case, a.preset, a.set)
    coarse, full = problems(case)
    h, w = full.size
    up = lambda t: F.interpolate(t, size=(h, w), mode="bilinear", align_corners=False)
    best = (0.0, 0, 0.0)

    def report(s, img):
        nonlocal best
        ps = _score(case, img)[0]
        best = max(best, (ps, s.iteration, s.elapsed_s))
        print(f"it {s.iteration:5d}  t {s.elapsed_s:7.1f}s  psnr {ps:6.2f}", flush=True)

    ck = None
    for s in fit(coarse, p, iterations=a.coarse, auto_stop=False, preview_every=a.every):
        if s.image is not None:
            img = up(torch.from_numpy(s.image.transpose(2, 0, 1))[None])[0].permute(1, 2, 0).numpy()
            report(s, img)
        ck = s.checkpoint or ck
    t_coarse = s.elapsed_s
    # Full-size input whose even pixels are the coarse input: the net sees the same noise there.
    net = build_net(p, 3)
    z = make_input(p, net, (h, w), torch.Generator().manual_seed(1234))
    even = z[..., ::2, ::2]
    hh, ww = min(even.shape[-2], ck["z"].shape[-2]), min(even.shape[-1], ck["z"].shape[-1])
    even[..., :hh, :ww] = ck["z"][..., :hh, :ww]
    ck = dict(ck, z=z, best=None, best_due=None, lowest_loss=None, es=WindowedVariance(p.es_window, p.es_patience).state_dict(),
              smoothed=up(ck["smoothed"]) if a.ema == "carry" else None)
    for s in fit(full, p, iterations=a.iters, auto_stop=False, preview_every=a.every, resume=ck):
        if s.image is not None:
            report(s, s.image)
    print(json.dumps({"case": a.case, "set": a.set, "coarse": a.coarse, "coarse_s": round(t_coarse, 1),
                      "best_psnr": round(best[0], 2), "best_it": best[1], "best_t": round(best[2], 1),
                      "s_per_iter": round(s.s_per_iter, 4)}))


if __name__ == "__main__":
    sys.exit(main())
