"""Drawable pictures for the canvas: pyramids of QPixmaps and the mask overlay.

Everything here is created and painted on the GUI thread. Numpy arrays come in as uint8 sRGB
(made by app.model.display, possibly on the worker thread); QImage/QPixmap are made here.
"""
from __future__ import annotations

import math

import cv2
import numpy as np
from PySide6.QtCore import QRectF
from PySide6.QtGui import QImage, QPainter, QPixmap

from app.model.display import pyramid


def qimage_from_rgb(arr: np.ndarray) -> QImage:
    """uint8 HxWx3 (RGB) or HxWx4 (RGBA, straight alpha) -> QImage that owns its pixels."""
    arr = np.ascontiguousarray(arr)
    h, w = arr.shape[:2]
    if arr.ndim == 2 or arr.shape[2] == 1:
        img = QImage(arr.data, w, h, arr.strides[0], QImage.Format.Format_Grayscale8)
    elif arr.shape[2] == 3:
        img = QImage(arr.data, w, h, arr.strides[0], QImage.Format.Format_RGB888)
    else:
        img = QImage(arr.data, w, h, arr.strides[0], QImage.Format.Format_RGBA8888)
    return img.copy()   # detach from the numpy buffer


def pixmap_from_rgb(arr: np.ndarray) -> QPixmap:
    return QPixmap.fromImage(qimage_from_rgb(arr))


class PictureLayer:
    """A picture drawn into `scene_rect`, rendered from the pyramid level that fits the zoom."""

    def __init__(self, rgb8: np.ndarray, scene_rect: QRectF, *, build_pyramid: bool = True,
                 min_side: int = 256):
        levels = pyramid(rgb8, min_side) if build_pyramid else [rgb8]
        self.pixmaps = [pixmap_from_rgb(a) for a in levels]
        self.scene_rect = QRectF(scene_rect)
        self.width = rgb8.shape[1]
        self.height = rgb8.shape[0]
        self.has_alpha = rgb8.ndim == 3 and rgb8.shape[2] == 4

    @property
    def density(self) -> float:
        """Level-0 pixels per scene unit."""
        return self.width / max(1e-9, self.scene_rect.width())

    def level_for(self, zoom: float) -> int:
        # the smallest level whose pixels are still at least as dense as the screen's
        k = 0
        while k + 1 < len(self.pixmaps) and self.density / (2 ** (k + 1)) >= zoom:
            k += 1
        return k

    def draw(self, painter: QPainter, zoom: float, visible: QRectF) -> None:
        """`painter` is in scene coordinates (already scaled by zoom)."""
        target = self.scene_rect.intersected(visible)
        if target.isEmpty():
            return
        k = self.level_for(zoom)
        pm = self.pixmaps[k]
        sx = pm.width() / self.scene_rect.width()
        sy = pm.height() / self.scene_rect.height()
        # expand to whole source pixels so that partial pixels at the edges line up
        x0 = math.floor((target.left() - self.scene_rect.left()) * sx)
        y0 = math.floor((target.top() - self.scene_rect.top()) * sy)
        x1 = math.ceil((target.right() - self.scene_rect.left()) * sx)
        y1 = math.ceil((target.bottom() - self.scene_rect.top()) * sy)
        x0, y0 = max(0, x0), max(0, y0)
        x1, y1 = min(pm.width(), x1), min(pm.height(), y1)
        if x1 <= x0 or y1 <= y0:
            return
        src = QRectF(x0, y0, x1 - x0, y1 - y0)
        dst = QRectF(self.scene_rect.left() + x0 / sx, self.scene_rect.top() + y0 / sy,
                     (x1 - x0) / sx, (y1 - y0) / sy)
        magnify = zoom / (self.density / (2 ** k))
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, magnify < 2.0)
        painter.drawPixmap(dst, pm, src)


class MaskOverlay:
    """The mask as a coloured layer (premultiplied ARGB pyramid), updated by bounding box."""

    def __init__(self, mask: np.ndarray, color=(255, 64, 96), min_side: int = 256):
        self.mask = mask            # shared with the MaskModel (bool HxW)
        self.color = color
        h, w = mask.shape
        self.sizes = [(w, h)]
        while min(self.sizes[-1]) > 2 * min_side:
            pw, ph = self.sizes[-1]
            self.sizes.append(((pw + 1) // 2, (ph + 1) // 2))
        self.buffers = [np.zeros((sh, sw, 4), dtype=np.uint8) for sw, sh in self.sizes]
        self.images = [QImage(b.data, sw, sh, sw * 4, QImage.Format.Format_ARGB32_Premultiplied)
                       for b, (sw, sh) in zip(self.buffers, self.sizes)]
        self.update(None)

    def set_color(self, color) -> None:
        self.color = color
        self.update(None)

    def update(self, bbox) -> None:
        h, w = self.mask.shape
        if bbox is None:
            bbox = (0, 0, h, w)
        t, l, b, r = bbox
        r_, g_, b_ = self.color
        for k, (buf, (sw, sh)) in enumerate(zip(self.buffers, self.sizes)):
            f = 2 ** k
            tk, lk = t // f, l // f
            bk, rk = min(sh, -(-b // f)), min(sw, -(-r // f))
            if bk <= tk or rk <= lk:
                continue
            if k == 0:
                alpha = self.mask[tk:bk, lk:rk].astype(np.float32)
            else:
                src = self.mask[tk * f:min(h, bk * f), lk * f:min(w, rk * f)].astype(np.float32)
                alpha = cv2.resize(src, (rk - lk, bk - tk), interpolation=cv2.INTER_AREA)
            a8 = (alpha * 255.0 + 0.5).astype(np.uint8)
            a = a8.astype(np.uint16)
            dst = buf[tk:bk, lk:rk]
            dst[..., 3] = a8                          # memory order B, G, R, A
            dst[..., 2] = (a * r_ // 255).astype(np.uint8)
            dst[..., 1] = (a * g_ // 255).astype(np.uint8)
            dst[..., 0] = (a * b_ // 255).astype(np.uint8)

    def draw(self, painter: QPainter, zoom: float, visible: QRectF, opacity: float) -> None:
        w, h = self.sizes[0]
        scene = QRectF(0, 0, w, h)
        target = scene.intersected(visible)
        if target.isEmpty():
            return
        k = 0
        while k + 1 < len(self.sizes) and 1.0 / (2 ** (k + 1)) >= zoom:
            k += 1
        img = self.images[k]
        sw, sh = self.sizes[k]
        s = sw / w
        x0, y0 = max(0, math.floor(target.left() * s)), max(0, math.floor(target.top() * s))
        x1, y1 = min(sw, math.ceil(target.right() * s)), min(sh, math.ceil(target.bottom() * s))
        if x1 <= x0 or y1 <= y0:
            return
        painter.save()
        painter.setOpacity(opacity)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, zoom * (2 ** k) < 2.0)
        painter.drawImage(QRectF(x0 / s, y0 / s, (x1 - x0) / s, (y1 - y0) / s), img,
                          QRectF(x0, y0, x1 - x0, y1 - y0))
        painter.restore()
