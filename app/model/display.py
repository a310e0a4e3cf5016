"""Turning photo data into 8-bit sRGB arrays for the screen. Qt-free, used on any thread.

Display only: the saved result never passes through here. When the photo carries an ICC
profile it is converted to sRGB with PIL.ImageCms; 16-bit and float data are rounded to 8 bits.
"""
from __future__ import annotations

import io
import threading

import cv2
import numpy as np

from dip_engine import imageio

try:
    from PIL import Image, ImageCms
except Exception:  # pragma: no cover - Pillow is a hard dependency of the engine
    Image = ImageCms = None


def to_uint8(arr: np.ndarray) -> np.ndarray:
    """float [0,1] / uint16 / uint8 -> uint8, same shape, for the screen."""
    a = np.asarray(arr)
    if a.dtype.kind != "f":
        return imageio.to_uint8(a)
    # Live frames arrive ~15 times a second: round in float32 here (0.27 s against 0.67 s on a 24 MP
    # frame with imageio's exact float64 rounding, which files need and a screen does not).
    out = np.empty(a.shape, dtype=np.uint8)
    tmp = np.multiply(a, 255.0, dtype=np.float32)
    tmp += 0.5
    np.clip(tmp, 0, 255, out=tmp)
    out[...] = tmp
    return out


def to_rgb(arr8: np.ndarray) -> np.ndarray:
    """HxW / HxWx1 / HxWx2 (gray+alpha) / HxWx3 / HxWx4 uint8 -> HxWx3 or HxWx4 (RGBA)."""
    a = arr8
    if a.ndim == 2:
        a = a[:, :, None]
    c = a.shape[2]
    if c == 1:
        return np.repeat(a, 3, axis=2)
    if c == 2:
        g = a[:, :, :1]
        return np.concatenate([g, g, g, a[:, :, 1:2]], axis=2)
    if c in (3, 4):
        return a
    return a[:, :, :3]


class DisplayConverter:
    """Callable: image array (any dtype, gray or RGB[A]) -> contiguous uint8 RGB or RGBA, sRGB."""

    def __init__(self, icc_profile: bytes | None = None):
        self._transform = None
        self._lock = threading.Lock()
        if icc_profile and ImageCms is not None:
            try:
                src = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
                desc = (ImageCms.getProfileDescription(src) or "").strip()
                if not desc.lower().startswith("srgb"):   # sRGB already: nothing to convert
                    dst = ImageCms.createProfile("sRGB")
                    self._transform = ImageCms.buildTransform(src, dst, "RGB", "RGB")
            except Exception:
                self._transform = None   # gray or broken profile: show the numbers as they are

    @property
    def manages_colour(self) -> bool:
        return self._transform is not None

    def __call__(self, arr: np.ndarray, alpha: np.ndarray | None = None) -> np.ndarray:
        rgb = to_rgb(to_uint8(arr))
        if self._transform is not None and rgb.shape[2] >= 3:
            try:
                im = Image.fromarray(np.ascontiguousarray(rgb[:, :, :3]), "RGB")
                with self._lock:
                    im = ImageCms.applyTransform(im, self._transform)
                conv = np.asarray(im)
                if rgb.shape[2] == 4:
                    rgb = np.concatenate([conv, rgb[:, :, 3:]], axis=2)
                else:
                    rgb = conv
            except Exception:
                pass
        if alpha is not None and rgb.shape[2] == 3:
            rgb = np.concatenate([rgb, to_uint8(alpha)[:, :, None]], axis=2)
        return np.ascontiguousarray(rgb)


def pyramid(rgb8: np.ndarray, min_side: int = 256) -> list[np.ndarray]:
    """Level 0 is the array itself; each next level halves both sides (area average)."""
    levels = [rgb8]
    cur = rgb8
    while min(cur.shape[0], cur.shape[1]) > 2 * min_side:
        h, w = cur.shape[:2]
        cur = cv2.resize(cur, ((w + 1) // 2, (h + 1) // 2), interpolation=cv2.INTER_AREA)
        if cur.ndim == 2:
            cur = cur[:, :, None]
        levels.append(np.ascontiguousarray(cur))
    return levels


def fit_within(rgb8: np.ndarray, max_w: int, max_h: int) -> np.ndarray:
    h, w = rgb8.shape[:2]
    s = min(max_w / w, max_h / h, 1.0)
    if s >= 1.0:
        return rgb8
    nw, nh = max(1, int(round(w * s))), max(1, int(round(h * s)))
    out = cv2.resize(rgb8, (nw, nh), interpolation=cv2.INTER_AREA)
    if out.ndim == 2:
        out = out[:, :, None]
    return np.ascontiguousarray(out)


def thumbnail(rgb8: np.ndarray, height: int = 64, max_width: int = 160) -> np.ndarray:
    h, w = rgb8.shape[:2]
    s = min(height / h, max_width / w)
    nw, nh = max(1, int(round(w * s))), max(1, int(round(h * s)))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    out = cv2.resize(rgb8, (nw, nh), interpolation=interp)
    if out.ndim == 2:
        out = out[:, :, None]
    return np.ascontiguousarray(out)


DISPLAY_MAX = 2560              # pictures larger than this (either side) are downscaled for the screen


def screen_image(converter: DisplayConverter, image: np.ndarray) -> np.ndarray:
    """An output image as 8-bit sRGB for the screen, at most DISPLAY_MAX on either side."""
    return fit_within(converter(image), DISPLAY_MAX, DISPLAY_MAX)


def region_thumbnail(base_thumb: np.ndarray | None, disp: np.ndarray, region, out_size) -> np.ndarray:
    """A filmstrip thumbnail of the whole picture: `base_thumb` (the photo's) with `disp`, the
    screen image of `region` (top, left, bottom, right) of an output of `out_size` (w, h), pasted in."""
    if base_thumb is None or not out_size:
        return thumbnail(disp)
    out = np.ascontiguousarray(base_thumb[:, :, :3]).copy()
    th, tw = out.shape[:2]
    ow, oh = out_size
    t, l, b, r = region
    x0, y0 = int(l * tw / ow), int(t * th / oh)
    x1, y1 = max(x0 + 1, round(r * tw / ow)), max(y0 + 1, round(b * th / oh))
    x1, y1 = min(tw, x1), min(th, y1)
    if x1 <= x0 or y1 <= y0:
        return thumbnail(disp)
    patch = cv2.resize(np.ascontiguousarray(disp[:, :, :3]), (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
    out[y0:y1, x0:x1] = patch.reshape(y1 - y0, x1 - x0, -1)[:, :, :3]
    return out
