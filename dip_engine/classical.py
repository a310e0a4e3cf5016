"""The classical answer to each task: what a run shows before the network has anything better,
and what it keeps when it is stopped before its result is usable.

- denoise, JPEG: the photo itself;
- super-resolution: the Lanczos upscale;
- inpainting: OpenCV's Telea fill (fast marching; per channel on float data, so 16-bit photos
  keep their precision).

`usable_mse` says when a fit's result may replace that answer: the level its data term (the
loss of the smoothed output against the observation) must fall to. The levels are per task,
with the measurements behind them in bench/README.md ("When a result is usable").
"""
from __future__ import annotations

import cv2
import numpy as np

from .noise import estimate_sigma

TELEA_RADIUS = 3


def lanczos_upscale(img: np.ndarray, width: int, height: int) -> np.ndarray:
    out = cv2.resize(np.ascontiguousarray(img, np.float32), (width, height), interpolation=cv2.INTER_LANCZOS4)
    return np.clip(out.reshape(height, width, img.shape[2]), 0, 1)


def telea_fill(img: np.ndarray, fill: np.ndarray) -> np.ndarray:
    """`img` (H x W x C floats) with the `fill` pixels (bool H x W) filled from their surroundings."""
    m = fill.astype(np.uint8)
    # OpenCV's Telea on float data assumes the 0-255 range (on 0-1 it overshoots to 0 and 1)
    chans = [cv2.inpaint(np.ascontiguousarray(img[..., c] * 255, np.float32), m, TELEA_RADIUS, cv2.INPAINT_TELEA)
             for c in range(img.shape[2])]
    return np.clip(np.stack(chans, axis=2) / 255, 0, 1)


def _mse(a: np.ndarray, b: np.ndarray, weight: np.ndarray | None = None) -> float:
    d = (np.asarray(a, np.float64) - b) ** 2
    if weight is None:
        return float(d.mean())
    return float((d * weight[..., None]).sum() / max(1.0, weight.sum() * d.shape[2]))


def usable_mse(task: str, observation: np.ndarray, known: np.ndarray | None = None,
               downsample=None, upscaled: np.ndarray | None = None) -> float | None:
    """The data-term level at which a fit's smoothed output beats the classical answer.

    denoise: the output's residual against the noisy photo is about sigma^2 + its error, while the
      error stays independent of the noise; below 1.5 sigma^2 it has removed at least half the
      noise power (3 dB) (sigma estimated from the photo, `noise.estimate_sigma`).
    jpeg and inpainting: the output (on known pixels) must be at least as faithful to the photo as
      a Gaussian blur of 1 px would be: sharper than a blur, whatever the photo's texture.
    sr: the output, downscaled, must match the small photo at least as well as the Lanczos
      upscale (`upscaled`) does, downscaled the same way (`downsample`, numpy in and out).
    """
    obs = np.asarray(observation, np.float32)
    if task == "denoise":
        return 1.5 * estimate_sigma(obs) ** 2
    if task == "sr":
        return _mse(downsample(upscaled), obs)
    blurred = cv2.GaussianBlur(obs, (0, 0), 1.0, borderType=cv2.BORDER_REFLECT)
    if task == "inpaint":
        # blur the Telea-filled photo so the unknown pixels do not bleed black into the border
        blurred = cv2.GaussianBlur(telea_fill(obs, ~known), (0, 0), 1.0, borderType=cv2.BORDER_REFLECT)
        return _mse(blurred.reshape(obs.shape), obs, known.astype(np.float32))
    return _mse(blurred.reshape(obs.shape), obs)
