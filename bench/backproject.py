"""What back-projecting an SR result onto the small photo is worth (issue 12), on whole photos.

    python -m bench.backproject --kernels --out bench/results/backproject_kernels.jsonl
    python -m bench.backproject --cases zebra_sr4,val_street_sr4,val_lighthouse_sr4 --seeds 0,1 \\
        --out bench/results/backproject.jsonl

    python -m bench.backproject --kept --cases zebra_sr4,val_sr2,val_sr4,val_sr8

`--kept` fits nothing either: the engine's answer when every tile keeps Lanczos, as it was
(the plain upscale) and as it is now (back-projected once), per case.

`--kernels` fits nothing: for every validation photo at x2, x4 and x8, the small photo made by
Pillow's Lanczos (as the bench's SR cases), Pillow's bicubic or OpenCV's area averaging, the
PSNR (Y) of the Lanczos upscale and its gain after 1, 3 and 10 back-projection steps with the
fit's Lanczos-2 model (`classical.back_project`). Back-projection assumes that model; the other
two kernels show what it costs when a photo was shrunk another way.

For each case and seed, `fast` restores the photo in its tiles (`restore.run`) while each tile's
last network image is recorded. The tiles are then put together afresh, with the per-tile
fallback to Lanczos (what the engine keeps) and without it (every tile's network image), and
each is scored before and after 1, 3 and 10 steps. `engine` is the run's own result: the
fallback composite back-projected `classical.BACK_PROJECTION_STEPS` times (it was 3 for the
first runs, on 2026-12-07, and 1 since). `ratio_rule` scores a looser usable rule, back-projected
once: a tile keeps its network image when its data term is at most k times the Lanczos
upscale's (k = 1 is about the engine's rule, which judges the smoothed image while it runs).
`tiles` gives, per tile, that ratio and the network image's gain over Lanczos on the truth (dB,
before back-projection).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from unittest import mock

import cv2
import numpy as np
from PIL import Image

from bench import cases as bench_cases
from bench.record import machine
from bench.tiles import _job
from dip_engine import classical, eta, metrics, parallel, physics, restore

STEPS = (1, 3, 10)
KERNELS = ("lanczos", "bicubic", "area")


def shrink(truth: np.ndarray, scale: int, kernel: str) -> np.ndarray:
    h, w = truth.shape[:2]
    if kernel == "area":
        small = cv2.resize(truth, (w // scale, h // scale), interpolation=cv2.INTER_AREA)
        return small.reshape(h // scale, w // scale, -1)
    img = Image.fromarray((truth * 255).round().astype(np.uint8))
    small = img.resize((w // scale, h // scale), {"lanczos": Image.LANCZOS, "bicubic": Image.BICUBIC}[kernel])
    return np.asarray(small, np.float32) / 255


def kernels(photos: list[Path]) -> list[dict]:
    rows = []
    for path in photos:
        full = np.asarray(Image.open(path).convert("RGB"), np.float32) / 255
        for scale in (2, 4, 8):
            h, w = (full.shape[0] // scale) * scale, (full.shape[1] // scale) * scale
            truth = np.ascontiguousarray(full[:h, :w])
            down = physics.of("sr", scale=scale).downsample
            for kernel in KERNELS:
                small = shrink(truth, scale, kernel)
                up = classical.lanczos_upscale(small, w, h)
                base = metrics.psnr_y(up, truth)
                rows.append({"photo": path.stem, "scale": scale, "kernel": kernel, "lanczos": round(base, 3),
                             "gain": {str(k): round(metrics.psnr_y(classical.back_project(up, small, down, k), truth)
                                                    - base, 3) for k in STEPS}})
    return rows


def kept_row(case: bench_cases.Case) -> dict:
    """What a run that keeps Lanczos everywhere returned before 2026-12-07 (the plain upscale,
    `Physics.classical`) and returns now (`Physics.finish`: back-projected once). No network is
    fitted, so no seed plays a part."""
    ph = physics.of("sr", scale=case.scale)
    region = restore.whole(*case.truth.shape[:2])
    plain = ph.classical(case.observed, region)
    return {"case": case.name, "kept_plain": _psnr(case, plain),
            "kept_now": _psnr(case, ph.finish(case.observed, region, plain))}


def case_row(case: bench_cases.Case, seed: int, iters: int | None = None, tile: int | None = None) -> dict:
    job = _job(case, seed, "fp32", iters, tile=tile, preview_every=10 ** 9)
    if not restore.plan(job).tiled:
        raise SystemExit(f"bench.backproject: {case.name} is fitted whole at this size: give a smaller --tile")
    last_image: dict[int, np.ndarray] = {}
    usable: dict[int, bool] = {}
    fit_parts = parallel.fit_parts

    def recording(*a, **kw):
        for j, step in fit_parts(*a, **kw):
            if step.image is not None:
                last_image[j] = step.image
            if step.done:
                usable[j] = bool(step.usable)
            yield j, step
    t0 = time.perf_counter()
    with mock.patch.object(restore.parallel, "fit_parts", recording):
        *_, last = restore.run(job)
    wall = time.perf_counter() - t0
    pl = restore.plan(job)
    layout = restore._Tiles(job, pl)
    order = list(eta.order(len(pl.regions)))   # the parts in the order they were handed out
    image = {order[j]: v for j, v in last_image.items()}
    kept = {order[j]: v for j, v in usable.items()}

    def composed(keep) -> np.ndarray:
        out = layout.base.copy()
        for i in image:
            if keep(i):
                layout.put(out, i, image[i])
        return out
    ph = job.physics()
    small = ph.observation(job.photo.pixels, restore.whole(*case.truth.shape[:2]))
    tiles = [tile_row(case, ph, job.photo.pixels, layout, i, image[i]) | {"kept": kept[i]} for i in sorted(image)]
    ratio = {t["part"]: t["ratio"] for t in tiles}

    def scored(a: np.ndarray) -> dict:
        return {"0": _psnr(case, a)} | {str(k): _psnr(case, classical.back_project(a, small, ph.downsample, k))
                                        for k in STEPS}

    def once(a: np.ndarray) -> float:
        return _psnr(case, classical.back_project(a, small, ph.downsample, 1))
    return {"case": case.name, "seed": seed, "wall_s": round(wall, 1), "engine": _psnr(case, last.image),
            "parts": len(pl.regions), "kept_lanczos": sorted(i for i in kept if not kept[i]),
            "lanczos": scored(layout.base), "fallback": scored(composed(lambda i: kept[i])),
            "no_fallback": scored(composed(lambda i: True)),
            "ratio_rule": {str(k): once(composed(lambda i: ratio[i] <= k)) for k in RATIOS},
            "tiles": tiles}


RATIOS = (1.0, 1.25, 1.5, 2.0, 3.0, 5.0)


def tile_row(case: bench_cases.Case, ph, pixels: np.ndarray, layout, i: int, image: np.ndarray) -> dict:
    """Tile i: its network image's data term over the Lanczos upscale's (`ratio`, what the usable
    rule compares with 1), and what the network image is worth against Lanczos on the truth."""
    t, l, b, r = region = layout.regions[i]
    obs, up = ph.observation(pixels, region), ph.classical(pixels, region)
    truth = case.truth[t:b, l:r]
    data, lanczos = (classical._mse(ph.downsample(a), obs) for a in (image, up))
    return {"part": i, "ratio": round(data / lanczos, 3),
            "gain_db": round(10 * np.log10(classical._mse(up, truth) / classical._mse(image, truth)), 3)}


def _psnr(case: bench_cases.Case, img: np.ndarray) -> float:
    return round(float(bench_cases.score(case, img)["psnr"]), 3)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kernels", action="store_true", help="the Lanczos upscale only, small photos made 3 ways")
    ap.add_argument("--kept", action="store_true", help="the engine's kept Lanczos upscale, before and after "
                    "back-projection, on --cases (e.g. zebra_sr4,val_sr2,val_sr4,val_sr8); no fit")
    ap.add_argument("--cases", default="zebra_sr4")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--iters", type=int, help="iterations per tile (default: the preset's)")
    ap.add_argument("--tile", type=int, help="tile size in px of the small photo (default: the engine's plan)")
    ap.add_argument("--data", type=Path, help="folder holding dip-paper/ and validation/ (default: $DIP_BENCH_DATA)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "backproject.jsonl")
    a = ap.parse_args(argv)
    if a.data:
        bench_cases.use_data(a.data)
    if a.kernels:
        try:
            photos = sorted(bench_cases._folder("validation").glob("*.png"))
        except bench_cases.MissingData as e:
            print(f"bench.backproject: {e}", file=sys.stderr)
            return 2
        rows = kernels(photos)
    elif a.kept:
        rows = (kept_row(bench_cases.build_or_exit(n, None, "bench.backproject")) for n in bench_cases.select(a.cases))
    else:
        cases = [bench_cases.build_or_exit(n, None, "bench.backproject") for n in bench_cases.select(a.cases)]
        rows = (case_row(case, int(s), a.iters, a.tile) for s in a.seeds.split(",") for case in cases)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    for r in rows:  # each row is written as soon as it is made: a fit takes minutes, and runs get cut
        r["machine"] = machine()
        with a.out.open("a") as f:
            f.write(json.dumps(r) + "\n")
        print(json.dumps(r), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
