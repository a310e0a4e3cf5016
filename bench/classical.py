"""What a user would pick instead of DIP, on the bench's cases: BM3D for denoising (the `bm3d`
package, colour BM3D with the true sigma), OpenCV's TELEA and Navier-Stokes fill for inpainting,
Lanczos and bicubic upscaling for SR. Seconds to minutes for all cases, no network fitted.

    python -m bench.classical --cases paper,val            # -> bench/results/classical.json
    python -m bench.classical --cases val_sr4 --crop 64 --out /tmp/c.json

Outputs are quantised to 8 bit, as a saved result is, then scored like DIP's (`cases.score`).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from bench import cases as bench_cases
from bench.record import RESULTS, crop_for, crops, machine, write_atomic
INPAINT_RADIUS = 5  # px around each hole pixel that TELEA / NS draw from
METHODS = {"denoise": ("bm3d",), "sr": ("lanczos", "bicubic"), "inpaint": ("telea", "ns")}


def _u8(a: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(a * 255), 0, 255).astype(np.uint8)


def restore(case: bench_cases.Case, method: str) -> np.ndarray:
    """`case` restored by `method`, as float32 HxWxC in [0, 1] quantised to 8 bit."""
    if method == "bm3d":
        import bm3d  # the `bench` extra; imported here so the other methods work without it

        out = bm3d.bm3d_rgb(case.observed, sigma_psd=case.sigma / 255)
    elif method in ("lanczos", "bicubic"):
        h, w = case.truth.shape[:2]
        resample = Image.LANCZOS if method == "lanczos" else Image.BICUBIC
        out = np.asarray(Image.fromarray(_u8(case.observed)).resize((w, h), resample), np.float32) / 255
    elif method in ("telea", "ns"):
        flag = cv2.INPAINT_TELEA if method == "telea" else cv2.INPAINT_NS
        out = cv2.inpaint(_u8(case.observed), case.mask.astype(np.uint8) * 255, INPAINT_RADIUS, flag)
        out = out.astype(np.float32) / 255
    else:
        raise KeyError(f"unknown method {method}")
    return _u8(out).astype(np.float32) / 255


def run_case(case: bench_cases.Case) -> list[dict]:
    """Every classical method of the case's task: its scores and wall time."""
    rows = []
    for method in METHODS[case.task]:
        t0 = time.perf_counter()
        img = restore(case, method)
        wall = time.perf_counter() - t0
        rows.append({"method": method, **{k: round(float(v), 4 if k == "ssim" else 3)
                                          for k, v in bench_cases.score(case, img).items()},
                     "wall_s": round(wall, 3)})
    return rows


def best(rows: list[dict]) -> dict | None:
    """The classical method with the highest PSNR (what the side-by-side tables show)."""
    return max(rows, key=lambda r: r["psnr"]) if rows else None


def table(rows: list[dict]) -> str:
    head = "| case | size | method | PSNR dB | PSNR in mask dB | SSIM | wall s |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        for m in r["methods"]:
            lines.append(f"| {r['case']} | {r['size'][0]}x{r['size'][1]} | {m['method']} | {m['psnr']} | "
                         f"{m.get('mask_psnr', '—')} | {m['ssim']} | {m['wall_s']} |")
    return "\n".join(lines)


def means(rows: list[dict]) -> str:
    """Mean PSNR per group and method (validation groups: the mean over its photos)."""
    acc: dict = {}
    for r in rows:
        for m in r["methods"]:
            acc.setdefault((bench_cases.group_of(r["case"]), m["method"]), []).append(m)
    head = "| group | method | cases | mean PSNR dB | mean PSNR in mask dB | mean wall s |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for (group, method), ms in acc.items():
        inside = [m["mask_psnr"] for m in ms if "mask_psnr" in m]
        lines.append(f"| {group} | {method} | {len(ms)} | {np.mean([m['psnr'] for m in ms]):.3f} | "
                     f"{f'{np.mean(inside):.3f}' if inside else '—'} | {np.mean([m['wall_s'] for m in ms]):.2f} |")
    return "\n".join(lines)


def _update_readme(rows: list[dict], command: str, machine: dict) -> None:
    """Replace the classical tables in bench/README.md (between their markers)."""
    readme = Path(__file__).parent / "README.md"
    text = readme.read_text()
    head, sep, rest = text.partition("<!-- classical -->")
    if not sep:
        return
    _, _, tail = rest.partition("<!-- /classical -->")
    body = (f"\nMachine: {machine['cores']} cores ({machine['cpu']}), {machine['date']}. Command: `{command}`\n\n"
            f"{means(rows)}\n\n{table(rows)}\n")
    readme.write_text(f"{head}<!-- classical -->{body}<!-- /classical -->{tail}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.classical", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default="paper,val", help="names and groups (paper, val, val_denoise, ...)")
    ap.add_argument("--crop", type=crops, default={},
                    help="centre crop side (SR: of the low-resolution input); per case or group, e.g. 128,val_sr4=64")
    ap.add_argument("--out", type=Path, default=RESULTS / "classical.json")
    bench_cases.add_data_option(ap)
    a = ap.parse_args(argv)
    bench_cases.use_data(a.data)
    try:
        names = bench_cases.select(a.cases)
        rows = []
        for name in names:
            crop = crop_for(a.crop, name)
            case = bench_cases.build(name, crop)
            rows.append({"case": name, "task": case.task, "crop": crop, "size": list(case.truth.shape[1::-1]),
                         "methods": run_case(case)})
            print(name, " ".join(f"{m['method']} {m['psnr']} dB {m['wall_s']} s" for m in rows[-1]["methods"]),
                  file=sys.stderr, flush=True)
    except (bench_cases.MissingData, KeyError) as e:
        print(f"bench.classical: {e.args[0]}", file=sys.stderr)
        return 2
    command = " ".join(["python -m bench.classical", *(argv if argv is not None else sys.argv[1:])])
    m = machine()
    a.out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(a.out, json.dumps({"machine": m, "command": command, "results": rows}, indent=1))
    print(means(rows))
    if a.out.resolve() == (RESULTS / "classical.json").resolve():
        _update_readme(rows, command, m)
    return 0


if __name__ == "__main__":
    sys.exit(main())
