"""The classical answer to each task: what a run shows before the network has anything better,
and what it keeps when it is stopped before its result is usable.

- denoise, JPEG: the photo itself;
- super-resolution: the Lanczos upscale (`back_project` corrects a network's SR result towards
  the small photo at the end of a run);
- inpainting: OpenCV's Telea fill (fast marching; per channel on float data, so 16-bit photos
  keep their precision).

`usable_mse` says when a fit's result may replace that answer: the level its data term (the
loss of the smoothed output against the observation) must fall to. The levels are per task,
with the measurements behind them in bench/README.md ("When a result is usable").
Inpainting judges the fill itself: `holdout` picks known pixels near the marks that the fit
does not see, and the fit's prediction of them must beat Telea's.
"""
from __future__ import annotations

import cv2
import numpy as np

from .noise import estimate_sigma

TELEA_RADIUS = 3
HOLDOUT_SHARE = 0.1       # of the band of known pixels beside the marks
HOLDOUT_RADIUS = (2, 12)  # px: the discs are as wide as the marks, within these bounds
# SR results are back-projected this many times (bench/README.md, "Back-projection for SR"): one step
# gains on photos shrunk by Lanczos, bicubic or area averaging alike; more steps add 0.01-0.03 dB
# on our Lanczos-made cases but lose up to 0.27 dB on area-shrunk photos at 2x, where the fit's
# Lanczos-2 model is wrong
BACK_PROJECTION_STEPS = 1
# An SR fit is usable once its output, downscaled, misses the small photo by at most this factor
# times what the Lanczos upscale misses (bench/README.md, "The kept Lanczos upscale, and where the
# usable rule errs"): back-projection takes most of that mismatch away. On zebra and the 12
# validation photos at 4x (18 runs, 1-2 seeds each), tiles up to 3x carried detail Lanczos lacks:
# +0.105 dB on average against a factor of 1, worst run -0.05; a third of the way into a run every
# tile was still above 3.7x, so an early stop still keeps Lanczos
SR_USABLE_FACTOR = 3.0


def lanczos_upscale(img: np.ndarray, width: int, height: int) -> np.ndarray:
    return np.clip(_lanczos(img, width, height), 0, 1)


def _lanczos(img: np.ndarray, width: int, height: int) -> np.ndarray:
    out = cv2.resize(np.ascontiguousarray(img, np.float32), (width, height), interpolation=cv2.INTER_LANCZOS4)
    return out.reshape(height, width, img.shape[2])


def back_project(image: np.ndarray, small: np.ndarray, downsample, steps: int = BACK_PROJECTION_STEPS) -> np.ndarray:
    """Iterative back-projection (Irani and Peleg, 1991): `image` (an upscale of `small`) plus, `steps`
    times, the Lanczos upscale of what it still misses of `small` once downscaled (`downsample`,
    numpy in and out), so that the result, downscaled, matches the small photo more closely."""
    h, w = image.shape[:2]
    for _ in range(steps):
        image = np.clip(image + _lanczos(small - downsample(image), w, h), 0, 1)
    return image


def telea_fill(img: np.ndarray, fill: np.ndarray) -> np.ndarray:
    """`img` (H x W x C floats) with the `fill` pixels (bool H x W) filled from their surroundings."""
    m = fill.astype(np.uint8)
    # OpenCV's Telea on float data assumes the 0-255 range (on 0-1 it overshoots to 0 and 1)
    chans = [cv2.inpaint(np.ascontiguousarray(img[..., c] * 255, np.float32), m, TELEA_RADIUS, cv2.INPAINT_TELEA)
             for c in range(img.shape[2])]
    return np.clip(np.stack(chans, axis=2) / 255, 0, 1)


def holdout(marks: np.ndarray) -> np.ndarray:
    """Known pixels near the `marks` (bool H x W) left out of the fit to judge its fill by.

    Discs as wide as the marks (radius r: the marks' area over their perimeter, about half their
    width), holes like the marks in the same texture, covering about a tenth of the band of known
    pixels within r of the marks. Their centres lie 2r to 3r from the marks, so a strip of r known
    pixels stays between: discs that touched the marks widened them and took away the context the
    fill needs most (bench/README.md, "Judging an inpainting fill"). Seeded, so a run is
    reproducible.
    """
    marks = np.asarray(marks, bool)
    known = ~marks
    edge = marks & (cv2.dilate(known.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)
    lo, hi = HOLDOUT_RADIUS
    r = int(np.clip(round(marks.sum() / max(1, edge.sum())), lo, hi))
    near = cv2.distanceTransform(known.astype(np.uint8), cv2.DIST_L2, 5)   # px to the nearest mark
    band = known & (near <= r)
    where = np.flatnonzero(known & (near > 2 * r) & (near <= 3 * r))
    if where.size == 0:   # the marks fill most of the crop: the known pixels next to them instead
        where = np.flatnonzero(band)
    if where.size == 0:
        return np.zeros(marks.shape, bool)
    held = np.zeros(marks.shape, np.uint8)
    discs = max(1, int(np.ceil(HOLDOUT_SHARE * band.sum() / (np.pi * r * r))))
    for i in np.random.default_rng(0).choice(where, size=min(discs, where.size), replace=False):
        y, x = divmod(int(i), marks.shape[1])
        cv2.circle(held, (x, y), r, 1, -1)
    return (held > 0) & known


def _mse(a: np.ndarray, b: np.ndarray, weight: np.ndarray | None = None) -> float:
    d = (np.asarray(a, np.float64) - b) ** 2
    if weight is None:
        return float(d.mean())
    return float((d * weight[..., None]).sum() / max(1.0, weight.sum() * d.shape[2]))


def usable_mse(task: str, observation: np.ndarray, known: np.ndarray | None = None,
               downsample=None, upscaled: np.ndarray | None = None, held: np.ndarray | None = None) -> float | None:
    """The data-term level at which a fit's smoothed output beats the classical answer.

    denoise: the output's residual against the noisy photo is about sigma^2 + its error, while the
      error stays independent of the noise; below 1.5 sigma^2 it has removed at least half the
      noise power (3 dB) (sigma estimated from the photo, `noise.estimate_sigma`).
    jpeg: the output must be at least as faithful to the photo as a Gaussian blur of 1 px would
      be: sharper than a blur, whatever the photo's texture.
    inpainting: the output on the `held` pixels (`holdout`, not fitted) must be at least as close
      to the photo as Telea's fill of the marks and those pixels (`known`: outside the marks).
    sr: the output's mismatch with the small photo, once downscaled (`downsample`, numpy in and
      out), must be at most SR_USABLE_FACTOR times the Lanczos upscale's (`upscaled`).
    """
    obs = np.asarray(observation, np.float32)
    if task == "denoise":
        return 1.5 * estimate_sigma(obs) ** 2
    if task == "sr":
        return SR_USABLE_FACTOR * _mse(downsample(upscaled), obs)
    if task == "inpaint":
        return _mse(telea_fill(obs, ~known | held), obs, held.astype(np.float32))
    blurred = cv2.GaussianBlur(obs, (0, 0), 1.0, borderType=cv2.BORDER_REFLECT)
    return _mse(blurred.reshape(obs.shape), obs)
