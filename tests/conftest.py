"""Shared test helpers. Tests run on 2 shared cores: keep torch to one thread each."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest
import torch

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
# The bench's data folder (bench/cases.py): $DIP_BENCH_DATA, else ../shared/data if present.
BENCH_DATA = Path(os.environ.get("DIP_BENCH_DATA") or REPO.parent / "shared" / "data")


def smooth_image(h: int = 40, w: int = 48, c: int = 3, seed: int = 0) -> np.ndarray:
    """A smooth, structured float32 test image in [0.1, 0.9] (gradients and a disc)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    chans = [0.5 + 0.4 * np.sin(x / w * np.pi * (k + 1) + y / h * (2 - k)) for k in range(c)]
    img = np.stack(chans, axis=-1)
    disc = ((y - h / 2) ** 2 + (x - w / 3) ** 2) < (min(h, w) / 4) ** 2
    img[disc] = 0.8
    return np.clip(img, 0.1, 0.9).astype(np.float32)


def T(a: np.ndarray) -> torch.Tensor:
    """H x W x C array -> 1 x C x H x W tensor (the fit's layout)."""
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None]


def tiny(task: str = "denoise", preset: str = "fast", **kw):
    """The task's preset (`fast`) with 16 channels (fits in well under a second per 10 iterations).
    Tests of auto-stop take `paper` denoising: our presets denoise with SURE, no peak to stop at."""
    from dip_engine import presets   # only tests that need a preset import the engine
    return dataclasses.replace(presets.get(task, preset), channels=16, **kw)


def last(steps):
    """The last item of an iterator (the final Step of a fit)."""
    s = None
    for s in steps:
        pass
    return s


@pytest.fixture
def shared_data() -> Path:
    """The bench data folder (holding dip-paper/ and validation/); skips the test without it."""
    if not BENCH_DATA.is_dir():
        pytest.skip(f"no bench data at {BENCH_DATA}: set DIP_BENCH_DATA to run this test")
    return BENCH_DATA


@pytest.fixture
def hill_data(tmp_path, monkeypatch):
    """A bench data folder with one small validation photo, `hill` (cases val_hill_*);
    $DIP_BENCH_DATA restored after the test."""
    from PIL import Image

    from bench import cases
    monkeypatch.setenv(cases.ENV, "")
    (tmp_path / "validation").mkdir()
    Image.fromarray((smooth_image(64, 96) * 255).astype(np.uint8)).save(tmp_path / "validation" / "hill.png")
    cases.use_data(tmp_path)
    return tmp_path
