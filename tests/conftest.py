"""Shared test helpers. Tests run on 2 shared cores: keep torch to one thread each."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

torch.set_num_threads(1)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "dip-paper"
REPO = Path(__file__).resolve().parents[1]


def smooth_image(h: int = 40, w: int = 48, c: int = 3, seed: int = 0) -> np.ndarray:
    """A smooth, structured float32 test image in [0.1, 0.9] (gradients and a disc)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    chans = [0.5 + 0.4 * np.sin(x / w * np.pi * (k + 1) + y / h * (2 - k)) for k in range(c)]
    img = np.stack(chans, axis=-1)
    disc = ((y - h / 2) ** 2 + (x - w / 3) ** 2) < (min(h, w) / 4) ** 2
    img[disc] = 0.8
    return np.clip(img, 0.1, 0.9).astype(np.float32)


@pytest.fixture
def shared_data() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"the paper's images are not at {SHARED}")
    return SHARED
