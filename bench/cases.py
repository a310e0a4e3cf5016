"""The bench's cases: the paper's five images and the validation photos, degraded by our own
seeded code. The images live outside the repository (never shipped) in a data folder given by
`--data DIR` or $DIP_BENCH_DATA (default: ../shared/data beside the repository, if present),
holding `dip-paper/` and `validation/`.

Case names: the paper's (`f16_denoise`, `zebra_sr4`, `kate_text`, `vase_object`,
`library_holes`) and, per validation photo NAME, `val_NAME_denoise`, `val_NAME_sr4`,
`val_NAME_inpaint` (and `val_NAME_sr2`, `val_NAME_sr8`: the other scales, in no group). Groups
(`select`): `paper`, `val`, `val_denoise`, `val_sr2`, `val_sr4`, `val_sr8`, `val_inpaint`, `all`.
"""
from __future__ import annotations

import argparse
import math
import os
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from dip_engine import metrics

ROOT = Path(__file__).resolve().parents[1]
ENV = "DIP_BENCH_DATA"
DEFAULT_DATA = ROOT.parent / "shared" / "data"
NAMES = ("f16_denoise", "zebra_sr4", "kate_text", "vase_object", "library_holes")
VAL_TASKS = ("denoise", "sr4", "inpaint")
SIGMA = 25  # Gaussian noise of the denoising cases, in 8-bit levels


class MissingData(Exception):
    """The bench's data folder (or a subfolder a case needs) is not there."""


@dataclass
class Case:
    name: str
    task: str
    paper_preset: str
    paper_iterations: int
    observed: np.ndarray            # what the user has: float32 HxWxC in [0, 1]
    truth: np.ndarray               # ground truth at output size
    mask: np.ndarray | None = None  # inpaint: True = fill
    scale: int = 1
    protocol: str = "rgb"           # "rgb", or "y4": Y channel with a 4-pixel border shaved (SR)
    sigma: float = SIGMA            # denoise: the noise level, in 8-bit levels


# --- the data folder ---------------------------------------------------------------------------

def add_data_option(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--data", type=Path, metavar="DIR",
                    help=f"folder holding dip-paper/ and validation/ (default: ${ENV}, else {DEFAULT_DATA})")


def use_data(path: Path | str | None) -> None:
    """Make `path` (from --data) the data folder of this process and the bench's subprocesses."""
    if path:
        os.environ[ENV] = str(Path(path).resolve())


def data_dir() -> Path:
    """The data folder: $DIP_BENCH_DATA (set by --data too), else ../shared/data."""
    return Path(os.environ.get(ENV) or DEFAULT_DATA)


def _folder(sub: str) -> Path:
    d = data_dir() / sub
    if not d.is_dir():
        raise MissingData(f"no {sub}/ folder in {data_dir()}: pass --data DIR or set {ENV}=DIR "
                          f"to the folder holding dip-paper/ and validation/")
    return d


def photos() -> list[str]:
    """Names of the validation photos (their file stems), sorted."""
    return sorted(p.stem for p in _folder("validation").glob("*.png"))


# --- selecting cases ---------------------------------------------------------------------------

def group_of(name: str) -> str:
    """`val_denoise`, `val_sr4`, `val_inpaint` or `paper`."""
    if name.startswith("val_"):
        return "val_" + name.rsplit("_", 1)[1]
    return "paper"


def select(text: str) -> list[str]:
    """Case names from a comma-separated list of names and groups, in order, without repeats."""
    out: list[str] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        if part == "all":
            names = [*NAMES, *select("val")]
        elif part == "paper":
            names = list(NAMES)
        elif part == "val":
            names = [n for t in VAL_TASKS for n in select(f"val_{t}")]
        elif part.startswith("val_") and (part[4:] in VAL_TASKS or part[4:] in ("sr2", "sr8")):   # other SR scales
            names = [f"val_{p}_{part[4:]}" for p in photos()]
        else:
            names = [part]
        out += [n for n in names if n not in out]
    return out


# --- building cases ----------------------------------------------------------------------------

def _load(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255


def _crop(a: np.ndarray, size: int | None, multiple: int = 1) -> np.ndarray:
    """Centre crop to size x size (None: the whole image cut to a multiple, as the notebooks do)."""
    h, w = a.shape[:2]
    if size is None:
        hh, ww = h - h % multiple, w - w % multiple
    else:
        hh, ww = min(size, h), min(size, w)
    t, l = (h - hh) // 2, (w - ww) // 2
    return a[t:t + hh, l:l + ww]


def _noisy(gt: np.ndarray, seed: int = 0, sigma: float = SIGMA) -> np.ndarray:
    """Gaussian noise of `sigma` levels, quantised to 8 bit as a saved photo is."""
    rng = np.random.default_rng(seed)
    return np.clip(np.round((gt + rng.normal(0, sigma / 255, gt.shape)) * 255), 0, 255).astype(np.float32) / 255


def _lanczos_down(gt: np.ndarray, scale: int) -> np.ndarray:
    h, w = gt.shape[:2]
    img = Image.fromarray((gt * 255).round().astype(np.uint8)).resize((w // scale, h // scale), Image.LANCZOS)
    return np.asarray(img, np.float32) / 255


def texture(img: np.ndarray, size: int = 31) -> np.ndarray:
    """Local texture energy: the gradient magnitude of the grey image, box-averaged over `size` px."""
    grey = cv2.cvtColor(img.astype(np.float32), cv2.COLOR_RGB2GRAY)
    gx, gy = cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1)
    return cv2.blur(np.sqrt(gx * gx + gy * gy), (size, size))


def stroke_mask(height: int, width: int, seed: int, weights: np.ndarray | None = None) -> np.ndarray:
    """Seeded bool mask (True = fill) of 3-5 thin strokes, each 8-14 px wide: polylines of 3-4
    segments of 15-30 % of the shorter side. `weights` (HxW, >= 0, e.g. `texture(img)`) draws the
    strokes' starts and bends towards where it is high; without it they go anywhere."""
    rng = np.random.default_rng(seed)
    canvas = np.zeros((height, width), np.uint8)
    margin = min(16, height // 8, width // 8)
    lo, hi = np.array([margin, margin]), np.array([width - 1 - margin, height - 1 - margin])
    w = None if weights is None else np.asarray(weights, np.float64)[margin:height - margin, margin:width - margin]
    if w is not None and not (np.isfinite(w).all() and w.sum() > 0):
        w = None

    def weight(p: np.ndarray) -> float:
        return 1.0 if w is None else float(w[int(p[1]) - margin, int(p[0]) - margin])

    for _ in range(rng.integers(3, 6)):
        if w is None:
            p = rng.uniform(lo, hi)
        else:
            i = rng.choice(w.size, p=(w / w.sum()).ravel())
            p = np.array([i % w.shape[1], i // w.shape[1]], np.float64) + margin
        points, angle = [p], rng.uniform(0, 2 * math.pi)
        for _ in range(rng.integers(3, 5)):
            length = rng.uniform(0.15, 0.3) * min(height, width)
            # Of a few bends of up to 45 degrees, go where the weights are highest.
            tries = [angle + rng.uniform(-math.pi / 4, math.pi / 4) for _ in range(4)]
            ends = [np.clip(points[-1] + length * np.array([math.cos(a), math.sin(a)]), lo, hi) for a in tries]
            k = int(np.argmax([weight(e) for e in ends]))
            angle, points = tries[k], [*points, ends[k]]
        cv2.polylines(canvas, [np.round(points).astype(np.int32)], False, 255,
                      thickness=int(rng.integers(8, 15)), lineType=cv2.LINE_8)
    return canvas > 0


def _paper(name: str, crop: int | None) -> Case:
    if name not in NAMES:
        raise KeyError(name)
    data = _folder("dip-paper")
    if name == "f16_denoise":
        gt = _crop(_load(data / "denoising/F16_GT.png"), crop, 32)
        return Case(name, "denoise", "paper", 3000, _noisy(gt), gt)
    if name == "zebra_sr4":
        gt = _crop(_load(data / "sr/zebra_GT.png"), crop * 4 if crop else None, 32)
        return Case(name, "sr", "paper", 2000, _lanczos_down(gt, 4), gt, scale=4, protocol="y4")
    img, msk, preset, iters = {"kate_text": ("kate.png", "kate_mask.png", "paper", 6001),
                               "vase_object": ("vase.png", "vase_mask.png", "paper-object", 5001),
                               "library_holes": ("library.png", "library_mask.png", "paper-holes", 3001)}[name]
    gt = _crop(_load(data / "inpainting" / img), crop, 64)
    known = _crop(np.asarray(Image.open(data / "inpainting" / msk).convert("L"))[..., None], crop, 64)[..., 0] > 127
    return Case(name, "inpaint", preset, iters, gt * known[..., None], gt, mask=~known)


def _validation(name: str, crop: int | None) -> Case:
    photo, _, task = name[4:].rpartition("_")
    path = _folder("validation") / f"{photo}.png"
    scale = int(task[2:]) if task in ("sr2", "sr4", "sr8") else None
    if (task not in VAL_TASKS and not scale) or not photo or not path.is_file():
        raise KeyError(name)
    gt = _load(path)
    if task == "denoise":
        gt = _crop(gt, crop, 32)
        return Case(name, "denoise", "paper", 3000, _noisy(gt), gt)
    if scale:
        gt = _crop(gt, crop * scale if crop else None, scale)
        return Case(name, "sr", "paper", 2000, _lanczos_down(gt, scale), gt, scale=scale, protocol="y4")
    gt = _crop(gt, crop, 32)
    mask = stroke_mask(*gt.shape[:2], seed=zlib.crc32(photo.encode()), weights=texture(gt))
    return Case(name, "inpaint", "paper", 6001, gt * ~mask[..., None], gt, mask=mask)


def build(name: str, crop: int | None = None) -> Case:
    """Case `name`, optionally a centre crop of `crop` pixels (SR: of the low-resolution input).
    A denoising case takes another noise level as a suffix: `val_village_denoise_s15` (sigma 15)."""
    base, _, level = name.rpartition("_s")
    if base.endswith("_denoise") and level.isdigit():
        case = build(base, crop)
        return replace(case, name=name, observed=_noisy(case.truth, sigma=int(level)), sigma=int(level))
    try:
        return _validation(name, crop) if name.startswith("val_") else _paper(name, crop)
    except KeyError:
        raise KeyError(f"unknown case {name}: choose from {', '.join(NAMES)}, val_PHOTO_TASK with TASK in "
                       f"{', '.join(VAL_TASKS)}, or the groups paper, val, val_denoise, val_sr2, val_sr4, val_sr8, "
                       "val_inpaint, all"
                       ) from None


def build_or_exit(name: str, crop: int | None, prog: str) -> Case:
    """`build` for a command line: a missing data folder or unknown case exits with one line."""
    try:
        return build(name, crop)
    except (MissingData, KeyError) as e:
        raise SystemExit(f"{prog}: {e.args[0]}") from None


# --- scoring -----------------------------------------------------------------------------------

def score(case: Case, img: np.ndarray) -> dict:
    """PSNR and SSIM by the case's protocol; inpainting also PSNR inside the mask (`mask_psnr`)."""
    if case.protocol == "y4":
        out = {"psnr": metrics.psnr_y(img, case.truth), "ssim": metrics.ssim_y(img, case.truth)}
    else:
        out = {"psnr": metrics.psnr(img, case.truth), "ssim": metrics.ssim(img, case.truth)}
    if case.mask is not None:
        out["mask_psnr"] = metrics.psnr(img[case.mask], case.truth[case.mask])
    return out
