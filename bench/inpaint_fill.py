"""Fills of thin strokes across texture: the default preset's fill against OpenCV's, inside the
stroke, with the curve that shows where auto-stop would have ended the run.

    python -m bench.inpaint_fill --photos field_wild,forest_path --crop 160 --seeds 0,1 --iters 1500 \
        --out results/inpaint_fill.json [--set field=value ...] [--tag NAME]

Each photo is a centre crop with the bench's seeded strokes (`cases.stroke_mask`, drawn towards
texture). A photo is a validation photo's name or a paper case's (`f16_denoise`, `zebra_sr4`,
`kate_text`, ...): then its ground truth gets our strokes (with `--thin`) or its own mask. The run goes through `restore.run` exactly as the app's (crop around the marks, known
pixels pasted back); PSNR is measured inside the mask every 50 iterations.
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import sys
import time
import zlib
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import torch

from bench import cases
from dip_engine import classical, presets, regions, restore
from dip_engine.imageio import Photo
from dip_engine.metrics import psnr

ROOT = Path(__file__).resolve().parents[1]


def classical_fills(obs: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
    u8 = np.rint(obs * 255).astype(np.uint8)
    m = mask.astype(np.uint8)
    return {k: cv2.inpaint(u8, m, 3, f).astype(np.float32) / 255
            for k, f in (("telea", cv2.INPAINT_TELEA), ("ns", cv2.INPAINT_NS))}


def thin_mask(name: str, gt: np.ndarray) -> np.ndarray:
    """The first of the bench's seeded stroke masks (after the case's own seed) whose marks are
    all thin (`regions.large_holes` false: the default preset's skip net and 1500 iterations)."""
    for k in range(100):
        m = cases.stroke_mask(*gt.shape[:2], seed=zlib.crc32(name.encode()) + k, weights=cases.texture(gt))
        if not regions.large_holes(m):
            return m
    raise SystemExit(f"no thin stroke mask found for {name}")


def case_for(name: str, crop: int) -> cases.Case:
    """The inpainting case of a validation photo, or a paper case whose ground truth is filled."""
    if name in cases.NAMES:
        return cases.build(name, crop // 4 if name.endswith("_sr4") else crop)
    return cases.build(f"val_{name}_inpaint", crop)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--photos", required=True)
    ap.add_argument("--crop", type=int, default=160)
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--set", nargs="*", default=[], help="preset field=value overrides")
    ap.add_argument("--tag", default="fast")
    ap.add_argument("--thin", action="store_true", help="thin strokes only (no crossings thicker than 8 px)")
    ap.add_argument("--iters", type=int, help="iteration budget (default: the preset's)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    overrides = {k: ast.literal_eval(v) for k, v in (kv.split("=", 1) for kv in a.set)}
    get = presets.get
    presets.get = lambda *x, **k: replace(get(*x, **k), **overrides)  # the job's preset, varied
    out = ROOT / "bench" / a.out
    runs = json.loads(out.read_text()) if out.exists() else []
    for name in a.photos.split(","):
        case = case_for(name, a.crop)
        gt = case.truth
        mask = thin_mask(name, gt) if a.thin else case.mask
        if mask is None:
            raise SystemExit(f"{name} has no mask of its own: use --thin")
        case.observed = gt * ~mask[..., None]
        fills = classical_fills(case.observed, mask)
        for seed in map(int, a.seeds.split(",")):
            if any(r["photo"] == name and r["seed"] == seed and r["tag"] == a.tag and r["crop"] == a.crop
                   and r.get("thin", False) == a.thin for r in runs):
                continue
            photo = Photo(data=np.rint(case.observed * 255).astype(np.uint8))
            job = restore.Job("inpaint", photo, mask=mask, preset="fast", iters=a.iters, stop="never", seed=seed,
                              preview_every=50)
            curve, usable_at, es_stop, t0 = [], None, None, time.perf_counter()
            for s in restore.run(job):
                t, l, b, r = s.region
                if s.image is not None and (s.iteration % 50 == 0 or s.done):
                    m = mask[t:b, l:r]
                    curve.append((s.iteration, round(psnr(s.image[m], gt[t:b, l:r][m]), 3), float(f"{s.loss:.5g}")))
                if usable_at is None and s.usable and s.iteration > 0:
                    usable_at = s.iteration
                if es_stop is None and s.stop_suggested:
                    es_stop = (s.iteration, s.peak_iteration)
            t, l, b, r = s.region
            known = ~mask[t:b, l:r]
            obs = case.observed[t:b, l:r]
            filled = classical.telea_fill(obs, ~known)
            levels = {str(sg): float(f"{np.sum((cv2.GaussianBlur(filled, (0, 0), sg) - obs) ** 2 * known[..., None]) / (known.sum() * 3):.5g}")
                      for sg in (0.7, 1.0, 1.5, 2.0)}
            row = {"photo": name, "blur_levels": levels, "thin": a.thin, "holes": bool(job.holes()), "seed": seed, "tag": a.tag, "set": a.set, "crop": a.crop,
                   "mask_share": round(float(mask.mean()), 4), "region": list(s.region),
                   "telea": round(psnr(fills["telea"][mask], gt[mask]), 3),
                   "ns": round(psnr(fills["ns"][mask], gt[mask]), 3), "curve": curve,
                   "usable_at": usable_at, "kept": s.extra.get("kept"), "es_stop": es_stop, "s_per_iter": round(s.s_per_iter, 4),
                   "wall_s": round(time.perf_counter() - t0, 1)}
            print(f"{name} s{seed} {a.tag}: dip {curve[-1][1]:.2f} (best {max(c[1] for c in curve):.2f}) "
                  f"telea {row['telea']:.2f} ns {row['ns']:.2f} usable@{usable_at} es {es_stop} "
                  f"{row['s_per_iter']} s/it", flush=True)
            runs.append(row)
            tmp = out.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(runs))
            os.replace(tmp, out)


if __name__ == "__main__":
    sys.exit(main())
