"""Where to fit: the whole photo, or a crop around an inpainting mask with a context margin."""
from __future__ import annotations

import numpy as np

Region = tuple[int, int, int, int]  # (top, left, bottom, right), bottom/right exclusive

# Below this fraction of the photo a crop pays; above it the whole photo is fitted.
CROP_WORTH = 0.6


def mask_box(mask: np.ndarray) -> Region | None:
    """Bounding box of the True pixels, or None for an empty mask."""
    rows, cols = np.any(mask, axis=1), np.any(mask, axis=0)
    if not rows.any():
        return None
    t, b = np.flatnonzero(rows)[[0, -1]]
    l, r = np.flatnonzero(cols)[[0, -1]]
    return int(t), int(l), int(b) + 1, int(r) + 1


def crop_around(mask: np.ndarray, margin: float, min_margin: int = 24, min_size: int = 64) -> Region:
    """The box around the mask grown by `margin` x its larger side (at least `min_margin` px) and
    to at least `min_size` px per side, clipped to the photo; the whole photo when the crop would
    not save much."""
    h, w = mask.shape
    box = mask_box(mask)
    if box is None:
        return 0, 0, h, w
    t, l, b, r = box
    m = max(min_margin, int(round(margin * max(b - t, r - l))))
    t, l, b, r = t - m, l - m, b + m, r + m
    # Grow small crops symmetrically so the network sees enough context.
    grow_h, grow_w = max(0, min_size - (b - t)), max(0, min_size - (r - l))
    t, b = t - grow_h // 2, b + grow_h - grow_h // 2
    l, r = l - grow_w // 2, r + grow_w - grow_w // 2
    t, l, b, r = max(0, t), max(0, l), min(h, b), min(w, r)
    if (b - t) * (r - l) > CROP_WORTH * h * w:
        return 0, 0, h, w
    return t, l, b, r


def whole(height: int, width: int) -> Region:
    return 0, 0, height, width
