"""Noise level of a photo, estimated from the photo alone.

Immerkær's operator (the difference of two Laplacians) cancels smooth image structure, so on a
flat patch its response is pure noise: E|r| = 6 sigma sqrt(2/pi) for Gaussian noise. Photos are
not flat, so the response is averaged in 8x8 blocks and a low quantile of the blocks is taken:
the flattest quarter of the photo speaks for the noise, edges and texture do not. Blocks that
touch clipped pixels (black or white) are left out: clipping removes noise there, and skies and
shadows are often the flattest blocks. The quantile of block means sits below their mean even
on pure noise; CALIBRATION undoes that (measured on Gaussian noise, tests/engine/test_noise.py).
On the 12 validation photos with sigma 25 added the estimate is 24.8-27.0 (without leaving out
clipped blocks: 21.5-24.9); on the clean photos 0.1-7.3 (forest_path's fine foliage the most).
"""
from __future__ import annotations

import cv2
import numpy as np

_KERNEL = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
BLOCK = 8
QUANTILE = 0.25
CLIP = 1 / 255         # values this close to 0 or 1 count as clipped
MIN_BLOCKS = 16        # ... unless fewer unclipped blocks than this remain
CALIBRATION = 1.1315  # pure Gaussian noise: the block quantile reads 0.8838 of the true sigma


def estimate_sigma(image: np.ndarray) -> float:
    """Standard deviation of additive white noise in `image` (H x W [x C], values in [0, 1]),
    in the same units; the median over channels."""
    img = np.asarray(image, np.float32)
    if img.ndim == 2:
        img = img[..., None]
    h, w = img.shape[0] - 2, img.shape[1] - 2
    hb, wb = h // BLOCK * BLOCK, w // BLOCK * BLOCK
    if hb < BLOCK or wb < BLOCK:
        return 0.0
    def blocks(a: np.ndarray, how) -> np.ndarray:
        return how(a[:hb, :wb].reshape(hb // BLOCK, BLOCK, wb // BLOCK, BLOCK), axis=(1, 3))

    per_channel = []
    for c in range(img.shape[2]):
        ch = np.ascontiguousarray(img[..., c])
        r = blocks(np.abs(cv2.filter2D(ch, -1, _KERNEL))[1:-1, 1:-1], np.mean)
        clipped = ((ch <= CLIP) | (ch >= 1 - CLIP)).astype(np.uint8)
        near_clip = blocks(cv2.dilate(clipped, np.ones((3, 3), np.uint8))[1:-1, 1:-1], np.max) > 0
        if (~near_clip).sum() >= MIN_BLOCKS:
            r = r[~near_clip]
        per_channel.append(np.quantile(r, QUANTILE))
    return float(np.sqrt(np.pi / 2) / 6 * np.median(per_channel) * CALIBRATION)
