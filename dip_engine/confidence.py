"""Per-pixel confidence: how much the reconstruction still varies.

`Tracker` keeps an exponential moving average of the raw output and of its square on the fit's
device (two in-place updates per iteration, O(pixels)); its `map` is the per-pixel standard
deviation of the output over about the last `window` iterations, as an H x W float32 array in
the image's units (0..1), the channels pooled (root mean square). Large where the fit still
moves, near 0 where it has converged.

`to_png16` / `from_png16` give the map's file scale: 16-bit samples where 4096 is one 8-bit level
(1/255) of standard deviation, so 65535 means 16 levels or more (clipped).
"""
from __future__ import annotations

import numpy as np
import torch

LEVELS_PER_UNIT = 255        # the map's unit in the file: 8-bit levels of standard deviation
PNG_PER_LEVEL = 4096         # 16-bit samples per level: 65535 is 16 levels (clipped)
PNG_SCALE = ("16-bit value / 4096 = per-pixel standard deviation of the output over the last "
             "iterations, in 8-bit levels (0-255 scale); 65535 means 16 levels or more")
# The tasks whose map tells more than a map of the result's edges would (bench/README.md, "Confidence
# map", per-pixel Pearson with the absolute error, 2 seeds): denoising (F16 0.48 against 0.35 for
# edges; village 0.16 against 0.12) and SR x4 (zebra 0.38 against 0.25; village 0.21 against
# 0.17). Inpainting is left out: over 4 fills its map did no better than the edges on average
# (0.23 against 0.23): better on kate's text (0.52 / 0.46) and library's holes (0.11 / -0.13),
# worse on strokes across a photo (0.19 / 0.26) and the vase (0.08 / 0.20). Variations show a
# fill's alternatives instead.
TASKS = ("denoise", "jpeg", "sr")

PNG_SCALE_ACROSS = ("16-bit value / 4096 = per-pixel standard deviation of the output over the last "
                    "iterations and across the variations (seeds) together, in 8-bit levels (0-255 "
                    "scale); 65535 means 16 levels or more")


def tracks(task: str) -> bool:
    """Whether runs of `task` get a confidence map (`TASKS`)."""
    return task in TASKS


class Tracker:
    """EMA of x and x^2 of the fit's raw output; `map()` is the per-pixel standard deviation."""

    def __init__(self, window: int = 50):
        self.beta = 1.0 - 1.0 / max(1, window)
        self.mean: torch.Tensor | None = None
        self.sq: torch.Tensor | None = None
        self.count = 0

    def update(self, out: torch.Tensor) -> None:
        """Add one output (1 x C x H x W, detached)."""
        x = out.detach()
        if self.mean is None:
            self.mean, self.sq = x.clone(), x * x
        else:
            # early on weigh each output equally (1/n) so the first outputs do not dominate
            w = max(1.0 / (self.count + 1), 1.0 - self.beta)
            self.mean.lerp_(x, w)
            self.sq.mul_(1 - w).addcmul_(x, x, value=w)
        self.count += 1

    def map(self) -> np.ndarray | None:
        """H x W float32 standard deviation (0..1 units), or None before the first update."""
        if self.mean is None:
            return None
        var = (self.sq - self.mean * self.mean).clamp_min_(0).mean(dim=1)[0]
        return var.sqrt_().float().cpu().numpy()

    def state_dict(self) -> dict:
        def cpu(t):
            return None if t is None else t.detach().to("cpu", copy=True)
        return {"mean": cpu(self.mean), "sq": cpu(self.sq), "count": self.count}

    def load_state_dict(self, s: dict | None, device: torch.device | str = "cpu") -> None:
        if not s or s.get("mean") is None:
            return
        self.mean, self.sq, self.count = s["mean"].to(device), s["sq"].to(device), int(s["count"])


def combined(maps: list[np.ndarray], images: list[np.ndarray]) -> np.ndarray:
    """The variations' own maps and their spread together: the root of the mean variance over
    the iterations plus the variance across the seeds. On the bench it tracks the error better
    than either alone on denoising (Pearson 0.36 against 0.32 and 0.24), as well on SR (0.31
    against 0.33 and 0.22)."""
    var = np.mean([np.square(np.asarray(m, np.float64)) for m in maps], axis=0) if maps else 0.0
    return np.sqrt(var + np.square(across(images).astype(np.float64))).astype(np.float32)


def across(images: list[np.ndarray]) -> np.ndarray:
    """Per-pixel standard deviation across several results (H x W x C each), channels pooled as
    in `Tracker.map`: the spread between variations (seeds) of the same job."""
    a = np.stack([np.asarray(i, np.float64) for i in images])
    return np.sqrt(a.var(axis=0).mean(axis=-1)).astype(np.float32)


def full(map_: np.ndarray, region: tuple[int, int, int, int], size: tuple[int, int]) -> np.ndarray:
    """The region-sized `map_` placed in an H x W canvas of zeros (pixels outside were not fitted
    and keep the photo's values)."""
    H, W = size
    t, l, b, r = region
    if (t, l, b, r) == (0, 0, H, W):
        return np.asarray(map_, np.float32)
    out = np.zeros((H, W), np.float32)
    out[t:b, l:r] = map_
    return out


def to_png16(map_: np.ndarray) -> np.ndarray:
    """uint16 samples of the file scale (`PNG_SCALE`)."""
    v = np.nan_to_num(np.asarray(map_, np.float64)) * LEVELS_PER_UNIT * PNG_PER_LEVEL
    return np.clip(np.rint(v), 0, 65535).astype(np.uint16)


def from_png16(samples: np.ndarray) -> np.ndarray:
    """The map (0..1 units) back from `to_png16` samples (clipped values stay clipped)."""
    return (np.asarray(samples, np.float64) / (LEVELS_PER_UNIT * PNG_PER_LEVEL)).astype(np.float32)


def mosaic(maps: dict[int, np.ndarray], regions: list, size: tuple[int, int], *,
           weights: list[np.ndarray] | None = None, fills: list[np.ndarray] | None = None) -> np.ndarray | None:
    """One H x W map from the maps of several parts, as their images are composed: tiles blended
    with their feather `weights`, separate crops pasted where they fill (`fills`); None when no
    part has a map (a task without one, or every part kept the classical answer)."""
    if not maps:
        return None
    out = np.zeros(size, np.float32)
    for i, m in maps.items():
        t, l, b, r = regions[i]
        if weights is not None:
            out[t:b, l:r] += weights[i] * m
        else:
            out[t:b, l:r][fills[i]] = m[fills[i]]
    return out

