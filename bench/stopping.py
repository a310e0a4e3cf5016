"""Record the curves a stopping rule is judged on, for denoising (sigma 25) on natural photos.

    python -m bench.stopping --photos beach,street --crop 256 --seeds 0,1 --iters 2500 --out results/stopping_256.json

Runs the default preset WITHOUT auto-stop and records per iteration the training loss (the raw
output's residual against the noisy input) and ES-WMV's variance, and every 10 iterations the
PSNR of the smoothed output against the clean photo and its residual against the noisy one. Any
stopping rule can then be replayed on the same curves (`python -m bench.stopping_rules`).
Photos are the bench's `val_NAME_denoise` cases (or a paper case such as f16_denoise), read from
--data DIR or $DIP_BENCH_DATA.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from bench import cases
from dip_engine import presets
from dip_engine.fit import Problem, fit
from dip_engine.metrics import psnr
from dip_engine.operators import Identity

ROOT = Path(__file__).resolve().parents[1]


def load(name: str, crop: int) -> tuple[np.ndarray, np.ndarray]:
    """(clean, noisy) of a validation photo stem (its `val_NAME_denoise` case) or of a bench
    denoising case such as f16_denoise."""
    c = cases.build(name if name.endswith("_denoise") else f"val_{name}_denoise", crop or None)
    return c.truth, c.observed


def record(gt: np.ndarray, noisy: np.ndarray, preset, iters: int, seed: int) -> dict:
    obs = torch.from_numpy(np.ascontiguousarray(noisy.transpose(2, 0, 1)))[None]
    problem = Problem(obs, Identity(), gt.shape[:2])
    loss, var, samples = [], [], []
    t0 = time.perf_counter()
    for s in fit(problem, preset, iterations=iters, seed=seed, auto_stop=False, preview_every=10):
        if s.done:
            break
        loss.append(round(s.loss, 7))
        var.append(None if s.variance is None else float(f"{s.variance:.6g}"))
        if s.image is not None:
            samples.append((s.iteration, round(psnr(s.image, gt), 3), float(f"{np.mean((s.image - noisy) ** 2):.6g}")))
    return {"loss": loss, "variance": var, "samples": samples, "s_per_iter": (time.perf_counter() - t0) / iters}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--photos", required=True, help="comma-separated validation photo stems")
    ap.add_argument("--crop", type=int, default=0, help="centre crop side in pixels (0: whole photo)")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--iters", type=int, default=2500)
    ap.add_argument("--preset", default=presets.DEFAULT)
    ap.add_argument("--threads", type=int, default=1)
    cases.add_data_option(ap)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    cases.use_data(a.data)
    torch.set_num_threads(a.threads)
    out = ROOT / "bench" / a.out if not os.path.isabs(a.out) else Path(a.out)
    runs = json.loads(out.read_text()) if out.exists() else []
    preset = presets.get("denoise", a.preset)
    for name in a.photos.split(","):
        gt, noisy = load(name, a.crop)
        for seed in map(int, a.seeds.split(",")):
            if any(r["photo"] == name and r["seed"] == seed and r["crop"] == a.crop and r["preset"] == a.preset
                   for r in runs):
                continue
            r = record(gt, noisy, preset, a.iters, seed)
            best = max(r["samples"], key=lambda s: s[1])
            print(f"{name} crop {a.crop} seed {seed}: best {best[1]:.2f} dB at {best[0]}, "
                  f"{r['s_per_iter']:.3f} s/it", flush=True)
            runs.append({"photo": name, "crop": a.crop, "seed": seed, "preset": a.preset,
                         "size": list(gt.shape[:2]), "noisy_psnr": round(psnr(noisy, gt), 3), **r})
            tmp = out.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(runs))
            os.replace(tmp, out)


if __name__ == "__main__":
    sys.exit(main())
