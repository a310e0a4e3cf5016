"""Image quality metrics: PSNR and SSIM on RGB, and the Y-channel protocol used for SR papers."""
from __future__ import annotations

import cv2
import numpy as np


def _as_float(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype == np.uint8:
        return a.astype(np.float64) / 255
    if a.dtype == np.uint16:
        return a.astype(np.float64) / 65535
    return a.astype(np.float64)


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB of two images with values in [0, data_range]."""
    a, b = _as_float(a), _as_float(b)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(data_range ** 2 / mse)


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 1.0) -> float:
    """SSIM (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5), averaged over channels."""
    a, b = _as_float(a), _as_float(b)
    if a.ndim == 2:
        a, b = a[..., None], b[..., None]
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2

    def blur(x):
        return cv2.GaussianBlur(x, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)

    vals = []
    for ch in range(a.shape[2]):
        x, y = a[..., ch], b[..., ch]
        mx, my = blur(x), blur(y)
        sxx, syy, sxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
        m = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
        vals.append(m[5:-5, 5:-5].mean() if min(m.shape) > 10 else m.mean())
    return float(np.mean(vals))


def rgb_to_y(rgb: np.ndarray) -> np.ndarray:
    """Luma Y of ITU-R BT.601 in [16/255, 235/255], as MATLAB's rgb2ycbcr (the SR papers' protocol)."""
    rgb = _as_float(rgb)
    return (16 + 65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]) / 255


def psnr_y(a: np.ndarray, b: np.ndarray, shave: int = 4) -> float:
    """PSNR on the Y channel with `shave` pixels removed at each border (SR protocol)."""
    ya, yb = rgb_to_y(a), rgb_to_y(b)
    if shave:
        ya, yb = ya[shave:-shave, shave:-shave], yb[shave:-shave, shave:-shave]
    return psnr(ya, yb)


def ssim_y(a: np.ndarray, b: np.ndarray, shave: int = 4) -> float:
    ya, yb = rgb_to_y(a), rgb_to_y(b)
    if shave:
        ya, yb = ya[shave:-shave, shave:-shave], yb[shave:-shave, shave:-shave]
    return ssim(ya, yb)
