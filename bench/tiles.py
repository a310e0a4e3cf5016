"""Fit in small tiles or as one big fit? The lever "fit at the size where the net converges
fastest" of issue 12, on whole photos.

    python -m bench.tiles --cases f16_denoise,val_village_denoise --tile 128 --seeds 0,1 \\
        --out bench/results/tiles.jsonl

For each case and seed (denoising or SR cases): the default preset restores the whole photo
in overlapping tiles of `--tile` px (SR: px of the small photo) fitted in parallel (one worker
per core, auto-stop per tile where the preset has it), then the same preset fits the whole
photo at once (the default plan at these sizes before `fast` got tiles of its own) to its end:
its result, and what Stop would have returned at the tiles' wall time. `--whole-seeds` limits
the whole fit to some seeds. The table's "input" is what the user starts from: the noisy photo,
or for SR its Lanczos upscale. One JSON line per case and seed; `--summary FILE` prints the
table of a file. `--no-fallback` keeps every tile's network result, to measure what the
per-tile fallback to the classical answer is worth.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from unittest import mock

import numpy as np

from bench import cases as bench_cases
from bench import classical as bench_classical
from bench.explore import overrides
from bench.record import machine
from bench.run import _photo, _score
from dip_engine import presets, restore
from dip_engine.presets import Preset


@dataclass
class Variant(restore.Job):
    """A job whose preset takes field overrides (`--set`): a lever tried through the whole restore path."""
    sets: dict = field(default_factory=dict)

    def settings(self) -> Preset:
        return replace(super().settings(), **self.sets)


def _job(case: bench_cases.Case, seed: int, precision: str, iters: int | None, sets: dict | None = None,
         **kw) -> restore.Job:
    return Variant(case.task, _photo(case.observed), seed=seed, precision=precision, iters=iters,
                   device="cpu", scale=case.scale if case.task == "sr" else 1, sets=sets or {}, **kw)


def _every_fit_usable():
    """The engine with no usable rule: every part keeps its network's result (the parts' problems,
    which carry the rule's level, are built in this process before the workers get them)."""
    return mock.patch.object(restore.classical, "usable_mse", lambda *a, **k: None)


def tiled(case: bench_cases.Case, tile: int, seed: int, precision: str, iters: int | None = None,
          overlap: int | None = None, fallback: bool = True, sets: dict | None = None) -> dict:
    job = _job(case, seed, precision, iters, sets, tile=tile, overlap=overlap, preview_every=10 ** 9)
    t0 = time.perf_counter()
    last, eta, marks = None, [], [0.05, 0.25, 0.5]
    with contextlib.nullcontext() if fallback else _every_fit_usable():
        for last in restore.run(job):
            if marks and not last.done and last.eta_s is not None and (last.progress or 0) >= marks[0]:
                marks.pop(0)   # what the progress bar promised then: [progress, seconds so far, ETA, low, high]
                eta.append([round(last.progress, 3), round(time.perf_counter() - t0, 1), round(last.eta_s, 1),
                            *(round(v, 1) for v in last.eta_range or (last.eta_s, last.eta_s))])
    wall = time.perf_counter() - t0
    s = bench_cases.score(case, last.result.pixels)
    return {"psnr": round(float(s["psnr"]), 3), "ssim": round(s["ssim"], 4), "wall_s": round(wall, 1),
            "stopped_by": last.stopped_by, "parts": last.extra["parts"], "iterations": last.iteration,
            "iterations_per_part": round(last.iteration / last.extra["parts"]), "usable": last.usable,
            "classical_parts": last.extra.get("unfinished_parts", []),   # parts that kept the classical answer
            "overlap": restore.plan(job).overlap, "fallback": fallback,
            "eta": [e + [round((e[1] + e[2]) / wall - 1, 3)] for e in eta]}   # ... and its error: end / wall - 1


def whole(case: bench_cases.Case, seconds: float, seed: int, precision: str, iters: int | None = None,
          sets: dict | None = None) -> dict:
    """One fit of the whole photo run to its end: its result and the curve [iteration, seconds,
    PSNR] of its smoothed output every 25 iterations, from which `at_tiles_time` is what Stop
    would have returned after `seconds` (the last preview by then)."""
    side = max(case.observed.shape[:2])   # a tile the size of the photo: one whole fit, not the preset's tiles
    job = _job(case, seed, precision, iters, sets, tile=side, preview_every=25)
    t0 = time.perf_counter()
    curve, last = [], None
    for last in restore.run(job):
        if last.image is not None and not last.done:
            curve.append([last.iteration, round(time.perf_counter() - t0, 1),
                          round(float(_score(case, last.image)[0]), 3)])
    s = bench_cases.score(case, last.result.pixels)
    wall = time.perf_counter() - t0
    curve.append([last.iteration, round(wall, 1), round(float(s["psnr"]), 3)])   # the result itself
    by_then = [c for c in curve if c[1] <= seconds] or curve[:1]
    best = max(curve, key=lambda c: c[2])
    return {"psnr": round(float(s["psnr"]), 3), "ssim": round(s["ssim"], 4), "wall_s": round(wall, 1),
            "iterations": last.iteration, "stopped_by": last.stopped_by, "usable": last.usable,
            "parts": last.extra.get("parts", 1), "at_tiles_time": {"iteration": by_then[-1][0], "psnr": by_then[-1][2]},
            "best": {"iteration": best[0], "seconds": best[1], "psnr": best[2]}, "curve": curve}


def classical_psnr(path: Path) -> dict[str, float]:
    """BM3D's PSNR per case from a `bench.classical` results file ({} when there is none)."""
    if not path.is_file():
        return {}
    return {r["case"]: m["psnr"] for r in json.loads(path.read_text())["results"] if r["crop"] is None
            for m in r["methods"] if m["method"] == "bm3d"}


def start_psnr(case: bench_cases.Case) -> float:
    """PSNR of what the user starts from: the noisy photo, or for SR its Lanczos upscale."""
    start = case.observed if case.task == "denoise" else bench_classical.restore(case, "lanczos")
    return float(bench_cases.score(case, start)["psnr"])


def summary(rows: list[dict], bm3d: dict[str, float] | None = None) -> str:
    bm3d = bm3d or {}
    out = ["| case, seed | input | BM3D | tiles of N px: PSNR, time (parts x mean iterations) | whole photo at the "
           "tiles' time (iteration) | whole photo's result, time (iterations, stopped by) | tiles - whole's result |",
           "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        t, w = r["tiled"], r["whole"]
        cells = (f"{w['at_tiles_time']['psnr']:.2f} ({w['at_tiles_time']['iteration']}) | {w['psnr']:.2f} dB, "
                 f"{w['wall_s']:.0f} s ({w['iterations']}, {w['stopped_by']}) | {t['psnr'] - w['psnr']:+.2f}"
                 if w else "not run | not run | —")
        b = f"{bm3d[r['case']]:.2f}" if r["case"] in bm3d else "—"
        out.append(f"| {r['case']} s{r['seed']} | {r['input_psnr']:.2f} | {b} | {r['tile']} px"
                   f"{'' if t.get('fallback', True) else ', no fallback'}{''.join(', ' + v for v in r.get('set', []))}: "
                   f"{t['psnr']:.2f} dB, "
                   f"{t['wall_s']:.0f} s ({t['parts']} x {t['iterations_per_part']}) | {cells} |")
    w_rows = [r for r in rows if r["whole"]]
    if w_rows:
        d = [r["tiled"]["psnr"] - r["whole"]["psnr"] for r in w_rows]
        ratio = [r["tiled"]["wall_s"] / r["whole"]["wall_s"] for r in w_rows]
        out.append(f"\nmean tiles - whole's result over {len(d)} runs: {np.mean(d):+.2f} dB (worst {min(d):+.2f}), "
                   f"in {np.mean(ratio):.2f}x its time")
    if rows:
        gain = [r["tiled"]["psnr"] - r["input_psnr"] for r in rows]
        out.append(f"mean tiles - input over {len(rows)} runs: {np.mean(gain):+.2f} dB (worst {min(gain):+.2f})")
    for k, mark in enumerate(("5 %", "25 %", "50 %")):
        errs = [r["tiled"]["eta"][k][-1] for r in rows if len(r["tiled"].get("eta", [])) > k]
        if errs:
            out.append(f"ETA shown at {mark} of the tiles: its end {np.mean(errs):+.0%} off on average over "
                       f"{len(errs)} runs (from {min(errs):+.0%} to {max(errs):+.0%})")
    by_case: dict[str, list[float]] = {}
    for r in rows:
        if r["case"] in bm3d:
            by_case.setdefault(r["case"], []).append(r["tiled"]["psnr"] - bm3d[r["case"]])
    if by_case:
        gap = [float(np.mean(v)) for v in by_case.values()]   # each photo once, over its seeds
        out.append(f"mean tiles - BM3D over {len(gap)} photos (seeds averaged): {np.mean(gap):+.2f} dB "
                   f"(worst {min(gap):+.2f}, best {max(gap):+.2f})")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    bench_cases.add_data_option(ap)
    ap.add_argument("--cases", default="f16_denoise")
    ap.add_argument("--tile", type=int, default=128)
    ap.add_argument("--overlap", type=int, help="tile overlap in px (default: the engine's, tile // 8 and at least 16)")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--no-fallback", action="store_true",
                    help="keep every tile's network result, even where the usable rule would keep the "
                         "classical answer (what the per-tile fallback is worth)")
    ap.add_argument("--whole-seeds", metavar="SEEDS",
                    help="seeds that also get the whole fit (default: all of --seeds)")
    ap.add_argument("--iters", type=int, help="iteration budget per fit (default: the preset's)")
    ap.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    ap.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE",
                    help="preset overrides, as bench.explore's (a lever through the whole restore path)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "tiles.jsonl")
    ap.add_argument("--summary", type=Path, metavar="FILE", help="print the table of FILE and exit")
    ap.add_argument("--classical", type=Path, default=Path(__file__).parent / "results" / "classical.json",
                    help="BM3D's results for the table (python -m bench.classical; default: %(default)s)")
    a = ap.parse_args(argv)
    bm3d = classical_psnr(a.classical)
    if a.summary:
        print(summary([json.loads(line) for line in a.summary.read_text().splitlines() if line.strip()], bm3d))
        return 0
    bench_cases.use_data(a.data)
    names = bench_cases.select(a.cases)
    rows = []
    seeds = [int(s) for s in a.seeds.split(",")]
    whole_seeds = [int(s) for s in a.whole_seeds.split(",")] if a.whole_seeds else seeds
    for name in names:
        case = bench_cases.build_or_exit(name, None, "bench.tiles")
        if case.task not in ("denoise", "sr"):
            sys.exit(f"bench.tiles: {name} is a {case.task} case; this bench compares denoising and SR fits")
        for seed in seeds:
            t = tiled(case, a.tile, seed, a.precision, a.iters, a.overlap, not a.no_fallback, overrides(a.set))
            print(f"{name} s{seed} tiles {a.tile}: {t}", file=sys.stderr, flush=True)
            w = whole(case, t["wall_s"], seed, a.precision, a.iters, overrides(a.set)) if seed in whole_seeds else None
            if w:
                print(f"{name} s{seed} whole at {w['wall_s']} s: {w['psnr']} dB ({w['iterations']} its)",
                      file=sys.stderr, flush=True)
            row = {"case": name, "seed": seed, "size": list(case.truth.shape[1::-1]), "tile": a.tile,
                   "overlap": t["overlap"],
                   "preset": presets.DEFAULT, "set": a.set, "precision": a.precision, "iters": a.iters,
                   "input_psnr": round(start_psnr(case), 3),
                   "tiled": t, "whole": w, "machine": machine()}
            rows.append(row)
            with a.out.open("a") as f:   # one line per run: an interrupted bench keeps what it measured
                f.write(json.dumps(row) + "\n")
    print(summary(rows, bm3d))
    return 0


if __name__ == "__main__":
    sys.exit(main())
