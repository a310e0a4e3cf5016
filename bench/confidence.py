"""Does the confidence map mean something? Its correlation with the real per-pixel error.

    python -m bench.confidence                                   # the default cases, 2 seeds
    python -m bench.confidence --cases f16_denoise,kate_text --crop 128,zebra_sr4=40 --seeds 0,1
    python -m bench.confidence --cost --crop 256 --repeats 6     # its cost per iteration

Each case runs through `restore.run` as the CLI does (default preset, auto-stop where the preset
has it). Two maps are scored against the absolute error of the result (mean over channels) in
the pixels that were restored (denoise: all; SR: all but a 4-px border; inpainting: the mask):
`iterations`, the fit's map (`Step.confidence`, the output's spread over the last window of
iterations), and `seeds`, the spread of the results of the two seeds (`confidence.across`),
scored against each seed's error; `both` combines them (root of the summed variances). Two
baselines that need no fit say whether the maps know more than where the edges are: `edges`,
the result's blurred gradient magnitude, and for inpainting `distance`, each hole pixel's
distance to the nearest known pixel. Pearson and Spearman per pixel, and per 8 x 8 block (block
means: where the map is high, are the errors high there?). Results go to results/confidence.json.

`--cost` times the fit with and without the map: 256 x 256 F16 denoising, the default preset,
fixed threads, runs of `--iters` iterations alternating on/off, `--repeats` pairs.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from scipy import stats

from bench import cases as bench_cases
from dip_engine import confidence, presets, restore
from dip_engine.fit import Problem, fit
from dip_engine.imageio import Photo
from dip_engine.operators import Identity

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "confidence.json"
DEFAULT_CASES = ("f16_denoise,zebra_sr4,kate_text,vase_object,library_holes,"
                 "val_village_denoise,val_village_sr4,val_village_inpaint,"
                 "val_street_denoise,val_street_sr4,val_street_inpaint")
BLOCK = 8


def _crops(text: str) -> tuple[int, dict[str, int]]:
    default, per = 128, {}
    for part in text.split(","):
        if "=" in part:
            k, v = part.split("=")
            per[k] = int(v)
        else:
            default = int(part)
    return default, per


def _photo(a: np.ndarray) -> Photo:
    return Photo(np.clip(np.rint(a * 255), 0, 255).astype(np.uint8))


def run_case(case: bench_cases.Case, seed: int, preset: str, iters: int | None = None) -> dict:
    """The result (H x W x C), the fit's map placed at full size, and run facts."""
    job = restore.Job(case.task, _photo(case.observed), mask=case.mask, scale=case.scale, preset=preset,
                      seed=seed, iters=iters, device="cpu", preview_every=10 ** 9)
    t0 = time.perf_counter()
    last = None
    for last in restore.run(job):
        pass
    H, W = case.truth.shape[:2]
    kept = last.confidence is None     # the classical answer was kept: no map (scored as None)
    return {"result": last.result.pixels,
            "map": np.zeros((H, W), np.float32) if kept else confidence.full(last.confidence, last.region, (H, W)),
            "iterations": last.iteration, "stopped_by": last.stopped_by, "kept": last.extra.get("kept"),
            "wall_s": round(time.perf_counter() - t0, 1)}


def where(case: bench_cases.Case) -> np.ndarray:
    """The pixels a map is judged on: those the run restored."""
    H, W = case.truth.shape[:2]
    if case.mask is not None:
        return case.mask
    keep = np.ones((H, W), bool)
    if case.task == "sr":
        keep[:4], keep[-4:], keep[:, :4], keep[:, -4:] = False, False, False, False
    return keep


def _blocks(a: np.ndarray, sel: np.ndarray) -> np.ndarray:
    """Means over BLOCK x BLOCK blocks of `a` on the selected pixels (blocks with at least a
    quarter of their pixels selected)."""
    H, W = a.shape
    h, w = H // BLOCK * BLOCK, W // BLOCK * BLOCK
    s = sel[:h, :w].reshape(h // BLOCK, BLOCK, w // BLOCK, BLOCK).sum((1, 3))
    v = (a[:h, :w] * sel[:h, :w]).reshape(h // BLOCK, BLOCK, w // BLOCK, BLOCK).sum((1, 3))
    ok = s >= BLOCK * BLOCK / 4
    return v[ok] / s[ok]


def correlations(map_: np.ndarray, err: np.ndarray, sel: np.ndarray) -> dict:
    m, e = map_[sel].astype(np.float64), err[sel].astype(np.float64)
    if m.std() == 0 or e.std() == 0:    # e.g. both seeds kept the classical answer
        return {"pearson": None, "spearman": None, "block_pearson": None, "block_spearman": None,
                "pixels": int(sel.sum())}
    bm, be = _blocks(map_.astype(np.float64), sel), _blocks(err.astype(np.float64), sel)
    return {"pearson": round(float(stats.pearsonr(m, e)[0]), 3),
            "spearman": round(float(stats.spearmanr(m, e)[0]), 3),
            "block_pearson": round(float(stats.pearsonr(bm, be)[0]), 3) if len(bm) > 2 else None,
            "block_spearman": round(float(stats.spearmanr(bm, be)[0]), 3) if len(bm) > 2 else None,
            "pixels": int(sel.sum()), "map_mean_levels": round(float(m.mean() * 255), 3),
            "error_mean_levels": round(float(e.mean() * 255), 3)}


def correlate(case_names: list[str], crops: tuple[int, dict], seeds: list[int], preset: str,
              iters: int | None = None) -> list[dict]:
    rows = []
    for name in case_names:
        crop = crops[1].get(name, crops[1].get(bench_cases.group_of(name), crops[0]))
        case = bench_cases.build_or_exit(name, crop, "bench.confidence")
        sel = where(case)
        runs = {}
        for seed in seeds:
            r = runs[seed] = run_case(case, seed, preset, iters)
            r["error"] = np.abs(r["result"] - case.truth).mean(axis=-1)
            c = correlations(r["map"], r["error"], sel)
            rows.append({"case": name, "task": case.task, "crop": crop, "size": list(case.truth.shape[1::-1]),
                         "seed": seed, "map": "iterations", "preset": preset,
                         **{k: r[k] for k in ("iterations", "stopped_by", "kept", "wall_s")}, **c})
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
        spread = confidence.across([r["result"] for r in runs.values()]) if len(runs) >= 2 else None
        for seed, r in runs.items():
            others = {"edges": edges(r["result"])}
            if case.mask is not None:
                others["distance"] = cv2.distanceTransform((case.mask * 255).astype(np.uint8), cv2.DIST_L2, 5)
            if spread is not None:
                others["seeds"] = spread
                others["both"] = np.sqrt(np.mean([q["map"] ** 2 for q in runs.values()], axis=0) + spread ** 2)
            for kind, m in others.items():
                rows.append({"case": name, "task": case.task, "crop": crop, "size": list(case.truth.shape[1::-1]),
                             "seed": seed, "map": kind, "preset": preset, **correlations(m, r["error"], sel)})
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


def edges(img: np.ndarray) -> np.ndarray:
    """A baseline that needs no fit: the result's gradient magnitude (grey, Sobel), blurred 3 px.
    Errors are larger at edges and texture; a map worth having must do better than this."""
    grey = cv2.cvtColor(np.ascontiguousarray(img, np.float32), cv2.COLOR_RGB2GRAY) if img.shape[2] == 3 else img[..., 0]
    gx, gy = cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1)
    return cv2.GaussianBlur(np.sqrt(gx * gx + gy * gy), (0, 0), 1.0)


def summary(rows: list[dict]) -> dict:
    """Mean correlation per task and map over cases and seeds."""
    out: dict = {}
    for task in dict.fromkeys(r["task"] for r in rows):
        for kind in dict.fromkeys(r["map"] for r in rows):
            sel = [r for r in rows if r["task"] == task and r["map"] == kind]
            if sel:
                out.setdefault(task, {})[kind] = {
                    k: round(float(np.mean(v)), 3) if (v := [r[k] for r in sel if r[k] is not None]) else None
                    for k in ("pearson", "spearman", "block_pearson", "block_spearman")} | {"runs": len(sel)}
    return out


def cost(crop: int, iters: int, repeats: int, preset_name: str) -> dict:
    """Seconds per iteration with and without the map, alternating runs; and the map's own
    update cost measured alone."""
    case = bench_cases.build_or_exit("f16_denoise", crop, "bench.confidence")
    obs = torch.from_numpy(np.ascontiguousarray(case.observed.transpose(2, 0, 1)))[None]
    problem = Problem(obs, Identity(), case.truth.shape[:2])
    preset = presets.get("denoise", preset_name)

    def spi(on: bool) -> float:
        last = None
        for last in fit(problem, preset, iterations=iters + 1, auto_stop=False, preview_every=10, confidence=on):
            if last.iteration == 1:
                start = last.elapsed_s     # after one warm-up iteration
        return (last.elapsed_s - start) / iters

    spi(True)   # warm-up run
    on, off = [], []
    for k in range(repeats):
        for flag in ((True, False) if k % 2 == 0 else (False, True)):
            (on if flag else off).append(spi(flag))
            print(f"{'on ' if flag else 'off'} {(on if flag else off)[-1]:.4f} s/it", file=sys.stderr, flush=True)
    t = confidence.Tracker(preset.es_window)
    x = obs.clone()
    for _ in range(5):
        t.update(x)
    t0 = time.perf_counter()
    for _ in range(500):
        t.update(x)
    update_s = (time.perf_counter() - t0) / 500
    t0 = time.perf_counter()
    for _ in range(50):
        t.map()
    map_s = (time.perf_counter() - t0) / 50
    ratios = [a / b for a, b in zip(on, off)]
    return {"size": list(case.truth.shape[1::-1]), "preset": preset_name, "threads": torch.get_num_threads(),
            "iterations_per_run": iters, "pairs": repeats, "s_per_iter_on": [round(v, 4) for v in on],
            "s_per_iter_off": [round(v, 4) for v in off], "median_on": round(float(np.median(on)), 4),
            "median_off": round(float(np.median(off)), 4),
            "median_pair_ratio": round(float(np.median(ratios)), 4),
            "update_s": round(update_s, 6), "map_s": round(map_s, 6),
            "update_share": round(update_s / float(np.median(off)), 5)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", default=DEFAULT_CASES, help="case names or groups (bench/cases.py)")
    ap.add_argument("--crop", default="128,zebra_sr4=40,val_sr4=40",
                    help="crop side (SR: of the low-resolution input), per case or group with NAME=N")
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--preset", default=presets.DEFAULT)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cost", action="store_true", help="time the map instead (256 x 256 F16 denoising)")
    ap.add_argument("--iters", type=int, help="iteration budget (default: the preset's); --cost: iterations "
                    "per timed run (default 60)")
    ap.add_argument("--repeats", type=int, default=6, help="--cost: on/off pairs")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--merge", type=Path, nargs="*", metavar="FILE",
                    help="only merge the rows of these result files into --out (runs split over processes)")
    bench_cases.add_data_option(ap)
    a = ap.parse_args(argv)
    bench_cases.use_data(a.data)
    torch.set_num_threads(a.threads)
    confidence.TASKS = presets.TASKS   # score every task's map, also those the product leaves out
    data = json.loads(a.out.read_text()) if a.out.exists() else {}
    if a.merge is not None:
        rows = [r for f in a.merge for r in json.loads(f.read_text())["rows"]]
        keys = {(r["case"], r["seed"], r["map"]) for r in rows}
        rows = [r for r in data.get("rows", []) if (r["case"], r["seed"], r["map"]) not in keys] + rows
        data.update(rows=rows, summary=summary(rows))
        print(json.dumps(data["summary"], indent=1))
    elif a.cost:
        data["cost"] = cost(_crops(a.crop)[0] if a.crop != ap.get_default("crop") else 256,
                            a.iters or 60, a.repeats, a.preset)
        print(json.dumps(data["cost"]))
    else:
        rows = correlate(bench_cases.select(a.cases), _crops(a.crop), [int(s) for s in a.seeds.split(",")],
                         a.preset, a.iters)
        data.update(command=" ".join(["python -m bench.confidence", *(argv or sys.argv[1:])]),
                    torch=torch.__version__, rows=rows, summary=summary(rows))
        print(json.dumps(data["summary"], indent=1))
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(data, indent=1) + "\n")


if __name__ == "__main__":
    main()
