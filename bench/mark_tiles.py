"""Thin marks spread over a whole photo: fill them in small tiles, or in one fit of the whole area?

    python -m bench.mark_tiles --case kate_text --tile 128 --out bench/results/mark_tiles.jsonl
    python -m bench.mark_tiles --case kate_text --tile 0 --jobs 1     # one fit of the whole photo
    python -m bench.mark_tiles --case val_beach_inpaint --layout cover   # tiles placed on the marks

The inpainting case's photo is cut into overlapping tiles of `--tile` px (overlap `--overlap`),
and every tile that holds marks is fitted with the `fast` preset for thin marks, `--jobs` tiles
at a time with one thread each; `--tile 0` fits the whole photo once instead (what the engine
did before thin marks got tiles). `--layout cover` places the tiles on the marks instead of on a
grid (`cover`): fewer tiles along a scratch, each mark at least `--overlap` px inside a tile.
Each tile's smoothed output is kept every `EVERY` iterations, and at each of those points the
tiles are blended as the engine blends them (raised-cosine weights, marks only) and scored:
PSNR of the photo and inside the marks, with every tile's network fill ("net") and with the
engine's usable rule applied per tile ("usable": a tile whose fill is not yet judged better than
Telea's keeps Telea's). One JSON line per run.
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


def _tiles(case: cases.Case, tile: int, overlap: int, layout: str = "grid") -> list[regions.Region]:
    h, w = case.mask.shape
    if not tile:
        return [regions.whole(h, w)]
    return cover(case.mask, tile, overlap) if layout == "cover" else regions.tiles(h, w, tile, overlap)


def cover(mask: np.ndarray, tile: int, margin: int, step: int = 8) -> list[regions.Region]:
    """Tiles of `tile` px placed on the marks, greedily: each next tile (top left on a `step` px
    lattice) holds the most marks not yet held, counting only marks at least `margin` px inside
    its sides that are not the photo's. Every mark ends up that far inside one tile, so it is
    filled with context on every side. Hand-written: a greedy set cover over an integral image,
    which no library we use offers."""
    h, w = mask.shape
    th, tw = min(tile, h), min(tile, w)
    ys = np.unique(np.r_[np.arange(0, h - th + 1, step), h - th])
    xs = np.unique(np.r_[np.arange(0, w - tw + 1, step), w - tw])
    # each candidate's inner box: `margin` in from every side that is not on the photo's border
    t = ys + np.where(ys > 0, margin, 0)
    b = ys + th - np.where(ys + th < h, margin, 0)
    l_ = xs + np.where(xs > 0, margin, 0)
    r = xs + tw - np.where(xs + tw < w, margin, 0)
    left, out = mask.astype(bool).copy(), []
    while left.any():
        s = np.pad(left.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
        held = s[b][:, r] - s[t][:, r] - s[b][:, l_] + s[t][:, l_]
        i, j = np.unravel_index(np.argmax(held), held.shape)
        if not held[i, j]:   # only when the inner boxes leave gaps: tile - 2 * margin < step
            raise ValueError(f"tiles of {tile} px with {margin} px margins cannot hold every mark")
        left[t[i]:b[i], l_[j]:r[j]] = False
        out.append((int(ys[i]), int(xs[j]), int(ys[i] + th), int(xs[j] + tw)))
    return out


def cover_weights(tiles: list[regions.Region], h: int, w: int, ramp: int) -> list[np.ndarray]:
    """Blend weights for tiles anywhere (not on a grid): each a raised cosine rising over `ramp` px
    from its sides that are not the photo's, normalised to sum to 1 wherever a tile lies."""
    def axis(s: int, e: int, n: int) -> np.ndarray:
        d = np.arange(e - s, dtype=np.float64) + 0.5
        up = 0.5 - 0.5 * np.cos(np.pi * np.clip(d / ramp, 0, 1)) if s > 0 else np.ones(e - s)
        down = 0.5 - 0.5 * np.cos(np.pi * np.clip(d[::-1] / ramp, 0, 1)) if e < n else np.ones(e - s)
        return up * down
    raw = [np.outer(axis(t, b, h), axis(l, r, w)) for t, l, b, r in tiles]
    total = np.zeros((h, w))
    for (t, l, b, r), wgt in zip(tiles, raw):
        total[t:b, l:r] += wgt
    total[total == 0] = 1
    return [(wgt / total[t:b, l:r]).astype(np.float32) for (t, l, b, r), wgt in zip(tiles, raw)]


def _fit_tile(job: tuple) -> tuple[int, dict, np.ndarray, float]:
    """One tile's fit: its outputs every EVERY iterations, its Telea fill, its wall time."""
    data, name, tile, overlap, layout, i, seed, iters, channels = job
    cases.use_data(data)
    torch.set_num_threads(1)
    case = cases.build(name)
    region = _tiles(case, tile, overlap, layout)[i]
    problem, telea = physics.of("inpaint", mask=case.mask).part(case.observed, region)
    preset = presets.get("inpaint", "fast")
    if channels:
        preset = replace(preset, channels=channels, skip_channels=channels)
    outputs, t0 = {}, time.perf_counter()
    for step in fit(problem, preset, iterations=iters, seed=seed, preview_every=EVERY, confidence=False):
        if step.image is not None:
            outputs[iters if step.done else step.iteration] = (step.image, step.usable)
    return i, outputs, telea, time.perf_counter() - t0


def _blend(case: cases.Case, tiles: list, fills: dict[int, np.ndarray], layout: str = "grid",
           overlap: int = 16) -> np.ndarray:
    """The photo with the tiles' fills blended into its marks; tiles without a fill keep the photo."""
    h, w = case.mask.shape
    weights = cover_weights(tiles, h, w, overlap) if layout == "cover" else regions.weights(tiles, h, w)
    out = np.zeros(case.observed.shape, np.float64)
    for i, (t, l, b, r) in enumerate(tiles):
        out[t:b, l:r] += weights[i][..., None] * fills.get(i, case.observed[t:b, l:r])
    return np.where(case.mask[..., None], out, case.observed).astype(np.float32).clip(0, 1)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", default="kate_text", help="an inpainting case whose marks are thin")
    ap.add_argument("--tile", type=int, default=128, help="tile side in px; 0: one fit of the whole photo")
    ap.add_argument("--overlap", type=int, default=16)
    ap.add_argument("--layout", choices=("grid", "cover"), default="grid",
                    help="grid: the engine's tiles (those with marks); cover: tiles placed on the marks")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--iters", type=int, default=1500)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--channels", type=int, default=0, help="override the net's width (0: the preset's)")
    ap.add_argument("--out", default="bench/results/mark_tiles.jsonl")
    cases.add_data_option(ap)
    a = ap.parse_args(argv)
    cases.use_data(a.data)
    case = cases.build_or_exit(a.case, None, "bench.mark_tiles")
    tiles = _tiles(case, a.tile, a.overlap, a.layout)
    todo = [i for i, (t, l, b, r) in enumerate(tiles) if case.mask[t:b, l:r].any()]
    print(f"{a.case}: {len(tiles)} tiles, {len(todo)} with marks", flush=True)
    jobs = [(a.data, a.case, a.tile, a.overlap, a.layout, i, a.seed, a.iters, a.channels) for i in todo]
    results, t0 = {}, time.perf_counter()
    with get_context("spawn").Pool(a.jobs) as pool:
        for i, outputs, telea, wall in pool.imap_unordered(_fit_tile, jobs):
            results[i] = (outputs, telea)
            print(f"  tile {i}: {wall:.0f} s", flush=True)
    row = {"case": a.case, "tile": a.tile, "overlap": a.overlap, "layout": a.layout, "seed": a.seed,
           "iters": a.iters, "channels": a.channels or None, "jobs": a.jobs, "tiles": len(tiles),
           "fitted": len(todo),
           "wall_s": round(time.perf_counter() - t0, 1), "machine": machine(), "curve": {}}
    for it in sorted(next(iter(results.values()))[0]):
        for mode in ("net", "usable"):
            fills = {i: img if ok or mode == "net" else telea
                     for i, (outputs, telea) in results.items() for img, ok in [outputs[it]]}
            score = cases.score(case, _blend(case, tiles, fills, a.layout, a.overlap))
            row["curve"][f"{it}_{mode}"] = {k: round(float(v), 3) for k, v in score.items()}
            print(f"  {it:5d} {mode:6s} PSNR {score['psnr']:.2f} dB, in the marks {score['mask_psnr']:.2f}", flush=True)
    with open(a.out, "a") as f:
        f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
