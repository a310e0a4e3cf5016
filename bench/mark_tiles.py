"""Thin marks spread over a whole photo: fill them in small tiles, or in one fit of the whole area?

    python -m bench.mark_tiles --case kate_text --tile 128 --out bench/results/mark_tiles.jsonl
    python -m bench.mark_tiles --case kate_text --tile 0 --jobs 1     # one fit of the whole photo

The inpainting case's photo is cut into overlapping tiles of `--tile` px (overlap `--overlap`),
and every tile that holds marks is fitted with the `fast` preset for thin marks, `--jobs` tiles
at a time with one thread each; `--tile 0` fits the whole photo once instead (what the engine
did before thin marks got tiles). Each tile's smoothed output is kept every `EVERY` iterations,
and at each of those points the tiles are blended as the engine blends them (raised-cosine
weights, marks only) and scored: PSNR of the photo and inside the marks, with every tile's
network fill ("net") and with the engine's usable rule applied per tile ("usable": a tile whose
fill is not yet judged better than Telea's keeps Telea's). One JSON line per run.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from multiprocessing import get_context

import numpy as np
import torch

from bench import cases
from bench.record import machine
from dip_engine import physics, presets, regions
from dip_engine.fit import fit

EVERY = 300


def _tiles(case: cases.Case, tile: int, overlap: int) -> list[regions.Region]:
    h, w = case.mask.shape
    return regions.tiles(h, w, tile, overlap) if tile else [regions.whole(h, w)]


def _fit_tile(job: tuple) -> tuple[int, dict, np.ndarray, float]:
    """One tile's fit: its outputs every EVERY iterations, its Telea fill, its wall time."""
    data, name, tile, overlap, i, seed, iters, channels = job
    cases.use_data(data)
    torch.set_num_threads(1)
    case = cases.build(name)
    region = _tiles(case, tile, overlap)[i]
    problem, telea = physics.of("inpaint", mask=case.mask).part(case.observed, region)
    preset = presets.get("inpaint", "fast")
    if channels:
        preset = replace(preset, channels=channels, skip_channels=channels)
    outputs, t0 = {}, time.perf_counter()
    for step in fit(problem, preset, iterations=iters, seed=seed, preview_every=EVERY, confidence=False):
        if step.image is not None:
            outputs[iters if step.done else step.iteration] = (step.image, step.usable)
    return i, outputs, telea, time.perf_counter() - t0


def _blend(case: cases.Case, tiles: list, fills: dict[int, np.ndarray]) -> np.ndarray:
    """The photo with the tiles' fills blended into its marks; tiles without a fill keep the photo."""
    h, w = case.mask.shape
    weights = regions.weights(tiles, h, w)
    out = np.zeros(case.observed.shape, np.float64)
    for i, (t, l, b, r) in enumerate(tiles):
        out[t:b, l:r] += weights[i][..., None] * fills.get(i, case.observed[t:b, l:r])
    return np.where(case.mask[..., None], out, case.observed).astype(np.float32).clip(0, 1)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", default="kate_text", help="an inpainting case whose marks are thin")
    ap.add_argument("--tile", type=int, default=128, help="tile side in px; 0: one fit of the whole photo")
    ap.add_argument("--overlap", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--iters", type=int, default=1500)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--channels", type=int, default=0, help="override the net's width (0: the preset's)")
    ap.add_argument("--out", default="bench/results/mark_tiles.jsonl")
    cases.add_data_option(ap)
    a = ap.parse_args(argv)
    cases.use_data(a.data)
    case = cases.build_or_exit(a.case, None, "bench.mark_tiles")
    tiles = _tiles(case, a.tile, a.overlap)
    todo = [i for i, (t, l, b, r) in enumerate(tiles) if case.mask[t:b, l:r].any()]
    print(f"{a.case}: {len(tiles)} tiles, {len(todo)} with marks", flush=True)
    jobs = [(a.data, a.case, a.tile, a.overlap, i, a.seed, a.iters, a.channels) for i in todo]
    results, t0 = {}, time.perf_counter()
    with get_context("spawn").Pool(a.jobs) as pool:
        for i, outputs, telea, wall in pool.imap_unordered(_fit_tile, jobs):
            results[i] = (outputs, telea)
            print(f"  tile {i}: {wall:.0f} s", flush=True)
    row = {"case": a.case, "tile": a.tile, "overlap": a.overlap, "seed": a.seed, "iters": a.iters,
           "channels": a.channels or None, "jobs": a.jobs, "tiles": len(tiles), "fitted": len(todo),
           "wall_s": round(time.perf_counter() - t0, 1), "machine": machine(), "curve": {}}
    for it in sorted(next(iter(results.values()))[0]):
        for mode in ("net", "usable"):
            fills = {i: img if ok or mode == "net" else telea
                     for i, (outputs, telea) in results.items() for img, ok in [outputs[it]]}
            score = cases.score(case, _blend(case, tiles, fills))
            row["curve"][f"{it}_{mode}"] = {k: round(float(v), 3) for k, v in score.items()}
            print(f"  {it:5d} {mode:6s} PSNR {score['psnr']:.2f} dB, in the marks {score['mask_psnr']:.2f}", flush=True)
    with open(a.out, "a") as f:
        f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
