"""The confidence map as the screen shows it: a colour scale over the picture and its legend. Qt-free.

The map (`dip_engine.confidence`; denoising, JPEG and SR: the engine measured that inpainting's
told no more than the fill's edges, so it has none) is the per-pixel standard deviation of the fit's output over
its last iterations, in 0..1 units. The overlay shows it in 8-bit levels (x 255) on one fixed
scale, 0 to `MAX_LEVELS` (the CLI's 16-bit file clips there too), so a colour means the same on
every picture. Pixels the fit did not change (outside an inpainting's fill) stay clear; settled
pixels are only tinted, so the photo shows through where the result is sure.
"""
from __future__ import annotations

import cv2
import numpy as np

MAX_LEVELS = 16.0                       # the top colour: 16 levels (of 255) or more
TICKS = (0, 4, 8, 12, 16)
TITLE = "Confidence: how much each pixel still changed"
CAPTION = "std of the last iterations, in 8-bit levels · bright: a guess"
NO_MAP = "No map for this picture: nothing was fitted here"
NO_MAP_INPAINT = "Inpainting has no map: Run > Variations… shows other fills"
COLORMAP = cv2.COLORMAP_INFERNO         # perceptually ordered, dark = settled
ALPHA_MIN, ALPHA_MAX = 0.2, 0.65         # overlay opacity at 0 and at MAX_LEVELS: the picture shows through


def scale(map_: np.ndarray) -> np.ndarray:
    """0..1 position on the colour scale of each pixel of a map (0..1 units)."""
    return np.clip(np.nan_to_num(np.asarray(map_, np.float32)) * (255.0 / MAX_LEVELS), 0.0, 1.0)


def colours(t: np.ndarray) -> np.ndarray:
    """uint8 RGB of scale positions `t` (any shape)."""
    u8 = np.rint(np.asarray(t, np.float32) * 255).astype(np.uint8)
    bgr = cv2.applyColorMap(u8.reshape(-1, 1), COLORMAP).reshape(*u8.shape, 3)
    return np.ascontiguousarray(bgr[..., ::-1])


def overlay_rgba(map_: np.ndarray) -> np.ndarray:
    """The map as an H x W x 4 uint8 RGBA layer (straight alpha) to draw over its picture."""
    m = np.asarray(map_, np.float32)
    t = scale(m)
    alpha = np.where(m > 0, ALPHA_MIN + (ALPHA_MAX - ALPHA_MIN) * t, 0.0)
    return np.ascontiguousarray(np.dstack([colours(t), np.rint(alpha * 255).astype(np.uint8)]))


def legend_ramp(width: int, height: int = 1) -> np.ndarray:
    """The colour scale from 0 (left) to MAX_LEVELS (right) as uint8 RGB, height x width."""
    row = colours(np.linspace(0.0, 1.0, max(2, int(width)), dtype=np.float32))
    return np.ascontiguousarray(np.repeat(row[None], max(1, int(height)), axis=0))


def tick_label(level: float) -> str:
    return f"≥{level:g}" if level >= MAX_LEVELS else f"{level:g}"


def at_size(map_: np.ndarray | None, region, size: tuple[int, int]) -> np.ndarray | None:
    """A region-sized map placed in a full output of `size` (width, height): what projects keep."""
    if map_ is None:
        return None
    from dip_engine import confidence       # imports torch: not at the GUI's start
    w, h = size
    return confidence.full(np.asarray(map_, np.float32), tuple(int(v) for v in region), (h, w))
