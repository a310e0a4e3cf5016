"""The paper's benchmark cases, built from ../shared/data/dip-paper/ (never shipped)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "dip-paper"


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


def _load(rel: str) -> np.ndarray:
    return np.asarray(Image.open(DATA / rel).convert("RGB"), dtype=np.float32) / 255


def _crop(a: np.ndarray, size: int | None, multiple: int = 1) -> np.ndarray:
    """Centre crop to size x size (None: the whole image cut to a multiple, as the notebooks do)."""
    h, w = a.shape[:2]
    if size is None:
        hh, ww = h - h % multiple, w - w % multiple
    else:
        hh, ww = min(size, h), min(size, w)
    t, l = (h - hh) // 2, (w - ww) // 2
    return a[t:t + hh, l:l + ww]


def build(name: str, crop: int | None = None) -> Case:
    """Case `name`, optionally a centre crop of `crop` pixels (documented in the results)."""
    if name == "f16_denoise":
        gt = _crop(_load("denoising/F16_GT.png"), crop, 32)
        rng = np.random.default_rng(0)
        noisy = np.clip(gt + rng.normal(0, 25 / 255, gt.shape), 0, 1).astype(np.float32)
        return Case(name, "denoise", "paper", 3000, noisy, gt)
    if name == "zebra_sr4":
        gt = _crop(_load("sr/zebra_GT.png"), crop * 4 if crop else None, 32)
        h, w = gt.shape[:2]
        lr_img = Image.fromarray((gt * 255).round().astype(np.uint8)).resize((w // 4, h // 4), Image.LANCZOS)
        return Case(name, "sr", "paper", 2000, np.asarray(lr_img, np.float32) / 255, gt, scale=4, protocol="y4")
    files = {"kate_text": ("inpainting/kate.png", "inpainting/kate_mask.png", "paper", 6001),
             "vase_object": ("inpainting/vase.png", "inpainting/vase_mask.png", "paper-object", 5001),
             "library_holes": ("inpainting/library.png", "inpainting/library_mask.png", "paper-holes", 3001)}
    if name in files:
        img, msk, preset, iters = files[name]
        gt = _crop(_load(img), crop, 64)
        known = _crop(np.asarray(Image.open(DATA / msk).convert("L"))[..., None], crop, 64)[..., 0] > 127
        return Case(name, "inpaint", preset, iters, gt * known[..., None], gt, mask=~known)
    raise KeyError(f"unknown case {name}: choose from {', '.join(NAMES)}")


NAMES = ("f16_denoise", "zebra_sr4", "kate_text", "vase_object", "library_holes")
