"""Is the average of a few small fits worth more than one bigger fit? Whole photos through the
restore path (tiles, every core) with one preset at several seeds: each seed's PSNR and time,
the PSNR of their average, and of the average of the first k seeds for every k.

    python -m bench.ensemble --cases val_street_denoise,val_pagoda_denoise --preset draft \\
        --seeds 0,1 --out bench/results/ensemble.jsonl

One JSON line per case, and a line of text each. `groups_psnr` scores the averages of
consecutive groups of k seeds, for every k that divides their number: with `draft`, the group
starting at seed s is what a preset of k fits (`Preset.fits`) returns at seed s. `--keep DIR`
saves each seed's result there and reuses it on the next run, so more seeds can be added later.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from bench import cases as bench_cases
from bench.record import machine
from bench.run import _photo
from dip_engine import restore


def _fit(case: bench_cases.Case, preset: str, seed: int, iters: int | None, tile: int | None,
         keep: Path | None) -> tuple[np.ndarray, float | None]:
    """One seed's result and its wall time (None: read back from `keep`)."""
    kept = keep / f"{case.name}_{preset}_i{iters}_t{tile}_s{seed}.npy" if keep else None
    if kept is not None and kept.exists():
        return np.load(kept), None
    t = time.perf_counter()
    last = None
    for last in restore.run(restore.Job(case.task, _photo(case.observed), seed=seed, preset=preset,
                                        iters=iters, tile=tile, preview_every=10 ** 9)):
        pass
    if kept is not None:
        keep.mkdir(parents=True, exist_ok=True)
        np.save(kept, last.result.pixels)
    return last.result.pixels, round(time.perf_counter() - t, 1)


def run(case: bench_cases.Case, preset: str, seeds: list[int], iters: int | None, tile: int | None,
        keep: Path | None = None) -> dict:
    images, row = [], {"case": case.name, "preset": preset, "iters": iters, "tile": tile, "seeds": []}
    for seed in seeds:
        image, wall = _fit(case, preset, seed, iters, tile, keep)
        images.append(image)
        row["seeds"].append({"seed": seed, "psnr": _psnr(case, [image]), "wall_s": wall})
    row["average_psnr"] = _psnr(case, images)
    # the average of the first k seeds, k = 2, 3, ...: how much each further fit adds
    row["first_k_psnr"] = {k: _psnr(case, images[:k]) for k in range(2, len(images) + 1)}
    row["groups_psnr"] = {k: [_psnr(case, images[i:i + k]) for i in range(0, len(images), k)]
                          for k in range(2, len(images)) if len(images) % k == 0}
    return row


def _psnr(case: bench_cases.Case, images: list[np.ndarray]) -> float:
    """The PSNR of the average of `images`."""
    return round(bench_cases.score(case, np.mean(images, axis=0))["psnr"], 3)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    bench_cases.add_data_option(ap)
    ap.add_argument("--cases", default="val_street_denoise")
    ap.add_argument("--preset", default="draft")
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--iters", type=int, help="iteration budget per fit (default: the preset's)")
    ap.add_argument("--tile", type=int, help="tile size in px (default: the engine's plan)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "ensemble.jsonl")
    ap.add_argument("--keep", type=Path, metavar="DIR", help="save each seed's result here, and reuse it next time")
    a = ap.parse_args(argv)
    bench_cases.use_data(a.data)
    seeds = [int(s) for s in a.seeds.split(",")]
    for name in a.cases.split(","):
        row = run(bench_cases.build_or_exit(name, None, "bench.ensemble"), a.preset, seeds, a.iters, a.tile, a.keep)
        row["machine"] = machine()
        a.out.parent.mkdir(parents=True, exist_ok=True)
        with a.out.open("a") as f:
            f.write(json.dumps(row) + "\n")
        each = ", ".join(f"s{s['seed']} {s['psnr']:.2f} dB" + (" (kept)" if s["wall_s"] is None else f" in {s['wall_s']:.0f} s")
                         for s in row["seeds"])
        print(f"{name} ({a.preset}): {each}; average of {len(seeds)}: {row['average_psnr']:.2f} dB", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
