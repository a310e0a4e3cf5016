"""The inpainting mask: a numpy bool array (True = fill) with an undo stack of diffs.

Qt-free. Every edit (a brush stroke, clear, invert, grow, shrink, load) becomes one undo step
that stores only the pixels it changed, as a packed XOR patch bounded by the changed bounding
box, so undo and redo are the same operation and memory stays small on big photos.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

BBox = tuple[int, int, int, int]  # (top, left, bottom, right), bottom/right exclusive


@dataclass
class _Diff:
    bbox: BBox
    shape: tuple[int, int]
    packed: np.ndarray  # np.packbits of the XOR patch
    label: str

    @property
    def nbytes(self) -> int:
        return int(self.packed.nbytes)

    def apply(self, mask: np.ndarray) -> None:
        t, l, b, r = self.bbox
        h, w = self.shape
        xor = np.unpackbits(self.packed, count=h * w).reshape(h, w).astype(bool)
        mask[t:b, l:r] ^= xor


def _bbox_of(changed: np.ndarray) -> BBox | None:
    rows = np.flatnonzero(changed.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(changed.any(axis=0))
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


def _union(a: BBox | None, b: BBox | None) -> BBox | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


class MaskModel:
    """A bool mask the size of the photo, edited by strokes and whole-mask operations."""

    def __init__(self, width: int, height: int, *, max_undo: int = 200,
                 max_undo_bytes: int = 256 * 1024 * 1024):
        self.width = int(width)
        self.height = int(height)
        self.array = np.zeros((self.height, self.width), dtype=bool)
        self.max_undo = max_undo
        self.max_undo_bytes = max_undo_bytes
        self._undo: list[_Diff] = []
        self._redo: list[_Diff] = []
        self._listeners: list[Callable[[BBox | None], None]] = []
        # stroke state
        self._stroke_before: np.ndarray | None = None
        self._stroke_bbox: BBox | None = None
        self._stroke_value = True
        self._stroke_label = "Paint"

    # -- listeners ---------------------------------------------------------------------------
    def add_listener(self, fn: Callable[[BBox | None], None]) -> None:
        """fn(bbox) is called after every change; bbox None means 'everything may have changed'."""
        self._listeners.append(fn)

    def remove_listener(self, fn) -> None:
        if fn in self._listeners:
            self._listeners.remove(fn)

    def _notify(self, bbox: BBox | None) -> None:
        for fn in list(self._listeners):
            fn(bbox)

    # -- queries -----------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        return self.height, self.width

    def is_empty(self) -> bool:
        return not bool(self.array.any())

    def count(self) -> int:
        return int(np.count_nonzero(self.array))

    def can_undo(self) -> bool:
        return bool(self._undo)

    def can_redo(self) -> bool:
        return bool(self._redo)

    def undo_label(self) -> str | None:
        return self._undo[-1].label if self._undo else None

    def redo_label(self) -> str | None:
        return self._redo[-1].label if self._redo else None

    def bbox(self) -> BBox | None:
        return _bbox_of(self.array)

    # -- strokes -----------------------------------------------------------------------------
    @property
    def in_stroke(self) -> bool:
        return self._stroke_before is not None

    def begin_stroke(self, value: bool = True) -> None:
        """Start a brush (value=True) or eraser (value=False) stroke."""
        if self.in_stroke:
            self.end_stroke()
        self._stroke_before = self.array.copy()
        self._stroke_bbox = None
        self._stroke_value = bool(value)
        self._stroke_label = "Paint" if value else "Erase"

    def stroke_to(self, x0: float, y0: float, x1: float, y1: float, radius: float) -> BBox | None:
        """Paint a round-capped segment of the current stroke (image pixel coordinates)."""
        if not self.in_stroke:
            self.begin_stroke(True)
        r = max(0.5, float(radius))
        ri = int(np.ceil(r))
        left = int(np.floor(min(x0, x1))) - ri - 1
        top = int(np.floor(min(y0, y1))) - ri - 1
        right = int(np.ceil(max(x0, x1))) + ri + 2
        bottom = int(np.ceil(max(y0, y1))) + ri + 2
        left, top = max(0, left), max(0, top)
        right, bottom = min(self.width, right), min(self.height, bottom)
        if right <= left or bottom <= top:
            return None
        patch = np.zeros((bottom - top, right - left), dtype=np.uint8)
        shift = 4  # sub-pixel precision for cv2 drawing
        k = 1 << shift

        def pt(x, y):
            return (int(round((x - left) * k)), int(round((y - top) * k)))

        rad = int(round(r * k))
        cv2.circle(patch, pt(x0, y0), rad, 1, -1, cv2.LINE_8, shift)
        cv2.circle(patch, pt(x1, y1), rad, 1, -1, cv2.LINE_8, shift)
        if (x0, y0) != (x1, y1):
            # a filled quad between the two circles (thick lines in cv2 have no sub-pixel width)
            d = np.array([x1 - x0, y1 - y0], dtype=np.float64)
            n = np.array([-d[1], d[0]]) / (np.hypot(*d) or 1.0) * r
            quad = np.array([[x0 + n[0], y0 + n[1]], [x1 + n[0], y1 + n[1]],
                             [x1 - n[0], y1 - n[1]], [x0 - n[0], y0 - n[1]]])
            quad = np.round((quad - [left, top]) * k).astype(np.int32)
            cv2.fillConvexPoly(patch, quad, 1, cv2.LINE_8, shift)
        hit = patch.astype(bool)
        if not hit.any():
            return None
        region = self.array[top:bottom, left:right]
        region[hit] = self._stroke_value
        bb = (top, left, bottom, right)
        self._stroke_bbox = _union(self._stroke_bbox, bb)
        self._notify(bb)
        return bb

    def dab(self, x: float, y: float, radius: float) -> BBox | None:
        return self.stroke_to(x, y, x, y, radius)

    def end_stroke(self) -> bool:
        """Finish the stroke; returns True when it changed anything (and became an undo step)."""
        before, bb = self._stroke_before, self._stroke_bbox
        self._stroke_before, self._stroke_bbox = None, None
        if before is None or bb is None:
            return False
        t, l, b, r = bb
        changed = before[t:b, l:r] ^ self.array[t:b, l:r]
        return self._push(changed, (t, l), self._stroke_label)

    def cancel_stroke(self) -> None:
        before, bb = self._stroke_before, self._stroke_bbox
        self._stroke_before, self._stroke_bbox = None, None
        if before is not None and bb is not None:
            t, l, b, r = bb
            self.array[t:b, l:r] = before[t:b, l:r]
            self._notify(bb)

    # -- whole-mask operations -----------------------------------------------------------------
    def _replace(self, new: np.ndarray, label: str) -> bool:
        if self.in_stroke:
            self.end_stroke()
        new = np.asarray(new, dtype=bool)
        if new.shape != self.array.shape:
            raise ValueError(f"mask is {new.shape[1]}x{new.shape[0]}, photo is {self.width}x{self.height}")
        changed = new ^ self.array
        bb = _bbox_of(changed)
        if bb is None:
            return False
        t, l, b, r = bb
        self.array[t:b, l:r] = new[t:b, l:r]
        self._push(changed[t:b, l:r], (t, l), label)
        self._notify(bb)
        return True

    def clear(self) -> bool:
        return self._replace(np.zeros_like(self.array), "Clear mask")

    def invert(self) -> bool:
        return self._replace(~self.array, "Invert mask")

    def grow(self, pixels: int) -> bool:
        if pixels <= 0:
            return False
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * pixels + 1, 2 * pixels + 1))
        return self._replace(cv2.dilate(self.array.astype(np.uint8), k).astype(bool), "Grow mask")

    def shrink(self, pixels: int) -> bool:
        if pixels <= 0:
            return False
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * pixels + 1, 2 * pixels + 1))
        src = self.array.astype(np.uint8)
        out = cv2.erode(src, k, borderType=cv2.BORDER_REPLICATE)
        return self._replace(out.astype(bool), "Shrink mask")

    def set_mask(self, mask: np.ndarray, label: str = "Load mask") -> bool:
        return self._replace(mask, label)

    # -- undo / redo ---------------------------------------------------------------------------
    def _push(self, changed: np.ndarray, origin: tuple[int, int], label: str) -> bool:
        sub = _bbox_of(changed)
        if sub is None:
            return False
        t, l, b, r = sub
        patch = changed[t:b, l:r]
        ot, ol = origin
        diff = _Diff((ot + t, ol + l, ot + b, ol + r), patch.shape, np.packbits(patch, axis=None), label)
        self._undo.append(diff)
        self._redo.clear()
        while len(self._undo) > self.max_undo or (
                len(self._undo) > 1 and sum(d.nbytes for d in self._undo) > self.max_undo_bytes):
            self._undo.pop(0)
        return True

    def undo(self) -> bool:
        if self.in_stroke:
            self.end_stroke()
        if not self._undo:
            return False
        d = self._undo.pop()
        d.apply(self.array)
        self._redo.append(d)
        self._notify(d.bbox)
        return True

    def redo(self) -> bool:
        if not self._redo:
            return False
        d = self._redo.pop()
        d.apply(self.array)
        self._undo.append(d)
        self._notify(d.bbox)
        return True
