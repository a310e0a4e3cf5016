"""The photo canvas: zoom, pan, mask painting with an on-screen brush outline, split compare.

Scene coordinates are the photo's pixel coordinates. Pictures (`PictureLayer`) are drawn into
scene rectangles, so a 4x super-resolution result covers the same scene as the photo it came
from. Paint events draw only the visible part of cached pixmaps, from a downscaled level when
zoomed out, so a 24 MP photo pans and zooms smoothly.
"""
from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (QColor, QFont, QPainter, QPainterPath, QPen, QBrush,
                           QPixmap)
from PySide6.QtWidgets import QWidget

from app.model import confidence as conf_view
from app.ui.layers import MaskOverlay, PictureLayer, qimage_from_rgb

TOOL_PAN, TOOL_BRUSH, TOOL_ERASER = "pan", "brush", "eraser"
MIN_ZOOM, MAX_ZOOM = 0.01, 32.0
BRUSH_MIN, BRUSH_MAX = 1.0, 2000.0


def _checker() -> QPixmap:
    pm = QPixmap(16, 16)
    pm.fill(QColor(58, 61, 68))
    p = QPainter(pm)
    p.fillRect(0, 0, 8, 8, QColor(78, 82, 90))
    p.fillRect(8, 8, 8, 8, QColor(78, 82, 90))
    p.end()
    return pm


class Canvas(QWidget):
    viewChanged = Signal(float, float, float)      # zoom, centre x, centre y (scene)
    zoomChanged = Signal(float)
    cursorMoved = Signal(object)                   # (x, y) in photo pixels, or None
    brushSizeChanged = Signal(float)
    maskEdited = Signal()                          # a stroke finished
    splitMoved = Signal(float)
    fileDropped = Signal(str)
    openRequested = Signal()                       # a click on the empty canvas

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("Canvas")
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setAcceptDrops(True)
        self.setMinimumSize(200, 160)
        self.scene_w = 0
        self.scene_h = 0
        self.layers: list[PictureLayer] = []          # what is shown (A in a split)
        self.original: list[PictureLayer] = []        # shown while peeking
        self.compare_layers: list[PictureLayer] | None = None   # B (right of the divider)
        self.label_a = ""
        self.label_b = ""
        self.split = 0.5
        self.peek = False
        self.mask_model = None
        self.mask_overlay: MaskOverlay | None = None
        self.mask_visible = True
        self.mask_opacity = 0.55
        self.mask_editable = False
        self.tool = TOOL_PAN
        self.brush_size = 40.0                        # diameter in photo pixels
        self.zoom = 1.0
        self.cx = 0.0
        self.cy = 0.0
        self.fit_mode = True
        self.placeholder_title = "Open a photo to begin"
        self.placeholder_hint = "Click or Ctrl+O  ·  drop a file here  ·  Ctrl+V to paste"
        self.badge = ""                                # small label at the top left
        self.legend: bool | None = None                # confidence legend: None hidden, else "has a map"
        self.legend_note = ""                          # why there is no map
        self._ramp = None                              # the legend's colour bar (QImage)
        self._checker = _checker()
        self._mouse: QPointF | None = None
        self._space = False
        self._panning = False
        self._pan_last = QPointF()
        self._stroking = False
        self._stroke_last: QPointF | None = None
        self._dragging_split = False
        self._syncing = False

    def viewport(self) -> QWidget:   # the widget that receives the mouse (like a scroll area's)
        return self

    # ---------------------------------------------------------------- content
    def has_scene(self) -> bool:
        return self.scene_w > 0 and self.scene_h > 0

    def set_scene(self, width: int, height: int, original: list[PictureLayer]) -> None:
        first = not self.has_scene() or (width, height) != (self.scene_w, self.scene_h)
        self.scene_w, self.scene_h = int(width), int(height)
        self.original = list(original)
        self.layers = list(original)
        self.compare_layers = None
        if first:
            self.fit_mode = True
            self.fit()
        self.update()

    def clear_scene(self) -> None:
        self.scene_w = self.scene_h = 0
        self.layers, self.original, self.compare_layers = [], [], None
        self.set_mask(None)
        self.update()

    def set_layers(self, layers: list[PictureLayer], label: str = "") -> None:
        self.layers = list(layers)
        self.label_a = label
        self.update()

    def set_compare(self, layers: list[PictureLayer] | None, label: str = "") -> None:
        self.compare_layers = None if layers is None else list(layers)
        self.label_b = label
        self.update()

    def set_split(self, fraction: float) -> None:
        self.split = min(1.0, max(0.0, float(fraction)))
        self.update()

    def set_legend(self, has_map: bool | None, note: str = "") -> None:
        """The confidence map's legend at the bottom right: None hides it; False shows `note`,
        why the picture shown has no map."""
        if (has_map, note) != (self.legend, self.legend_note):
            self.legend, self.legend_note = has_map, note
            self.update()

    def set_peek(self, on: bool) -> None:
        if on != self.peek:
            self.peek = on
            self.update()

    def set_mask(self, model) -> None:
        if self.mask_model is not None:
            self.mask_model.remove_listener(self._on_mask_changed)
        self.mask_model = model
        self.mask_overlay = None
        if model is not None:
            self.mask_overlay = MaskOverlay(model.array)
            model.add_listener(self._on_mask_changed)
        self.update()

    def _on_mask_changed(self, bbox) -> None:
        if self.mask_overlay is not None:
            if self.mask_overlay.mask is not self.mask_model.array:
                self.mask_overlay = MaskOverlay(self.mask_model.array)
            else:
                self.mask_overlay.update(bbox)
        self.update()

    def set_mask_visible(self, on: bool) -> None:
        self.mask_visible = bool(on)
        self.update()

    def set_mask_opacity(self, opacity: float) -> None:
        self.mask_opacity = min(1.0, max(0.0, opacity))
        self.update()

    def set_tool(self, tool: str) -> None:
        self.tool = tool
        self._update_cursor()
        self.update()

    def set_brush_size(self, size: float) -> None:
        size = float(min(BRUSH_MAX, max(BRUSH_MIN, size)))
        if abs(size - self.brush_size) > 1e-6:
            self.brush_size = size
            self.brushSizeChanged.emit(size)
            self.update()

    def step_brush(self, direction: int) -> None:
        """[ and ]: change the brush size by about 20 % (at least one pixel)."""
        s = self.brush_size
        new = max(s + 1, s * 1.2) if direction > 0 else min(s - 1, s / 1.2)
        self.set_brush_size(round(new))

    def painting_tool(self) -> bool:
        return self.mask_editable and self.tool in (TOOL_BRUSH, TOOL_ERASER) and self.mask_model is not None

    # ---------------------------------------------------------------- view
    def fit(self) -> None:
        self.fit_mode = True
        if not self.has_scene():
            return
        m = 24
        z = min((self.width() - 2 * m) / self.scene_w, (self.height() - 2 * m) / self.scene_h)
        self._set_view(max(MIN_ZOOM, min(MAX_ZOOM, z)), self.scene_w / 2, self.scene_h / 2, fit=True)

    def actual_size(self, density: float | None = None) -> None:
        """100 %: one screen pixel per pixel of the picture shown; `density` is its pixels per
        scene unit (a 4x result: 4), by default the top layer's."""
        if density is None:
            layers = self.compare_layers if (self.compare_layers and not self.layers) else self.layers
            density = layers[-1].density if layers and not self.peek else 1.0
        self._set_view(max(MIN_ZOOM, min(MAX_ZOOM, density)), self.cx, self.cy)

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        if not self.has_scene():
            return
        z = max(MIN_ZOOM, min(MAX_ZOOM, self.zoom * factor))
        if anchor is None:
            anchor = QPointF(self.width() / 2, self.height() / 2)
        sp = self.to_scene(anchor)
        # keep the scene point under the anchor fixed
        cx = sp.x() - (anchor.x() - self.width() / 2) / z
        cy = sp.y() - (anchor.y() - self.height() / 2) / z
        self._set_view(z, cx, cy)

    def set_view(self, zoom: float, cx: float, cy: float) -> None:
        """Used to sync another canvas; does not re-emit."""
        self._syncing = True
        try:
            self._set_view(zoom, cx, cy)
        finally:
            self._syncing = False

    def _set_view(self, zoom: float, cx: float, cy: float, fit: bool = False) -> None:
        self.fit_mode = fit
        if self.has_scene():
            # keep at least part of the photo on screen
            cx = min(max(cx, 0.0), float(self.scene_w))
            cy = min(max(cy, 0.0), float(self.scene_h))
        changed = (zoom, cx, cy) != (self.zoom, self.cx, self.cy)
        self.zoom, self.cx, self.cy = zoom, cx, cy
        self.update()
        if changed and not self._syncing:
            self.viewChanged.emit(zoom, cx, cy)
            self.zoomChanged.emit(zoom)

    def to_scene(self, p: QPointF) -> QPointF:
        return QPointF((p.x() - self.width() / 2) / self.zoom + self.cx,
                       (p.y() - self.height() / 2) / self.zoom + self.cy)

    def to_widget(self, p: QPointF) -> QPointF:
        return QPointF((p.x() - self.cx) * self.zoom + self.width() / 2,
                       (p.y() - self.cy) * self.zoom + self.height() / 2)

    def visible_scene_rect(self) -> QRectF:
        tl = self.to_scene(QPointF(0, 0))
        br = self.to_scene(QPointF(self.width(), self.height()))
        return QRectF(tl, br)

    def split_x(self) -> float:
        return self.split * self.width()

    def resizeEvent(self, e) -> None:
        super().resizeEvent(e)
        if self.fit_mode:
            self.fit()

    # ---------------------------------------------------------------- painting
    def paintEvent(self, e) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(24, 26, 31))
        if not self.has_scene():
            self._paint_placeholder(p)
            p.end()
            return
        visible = self.visible_scene_rect()
        p.save()
        p.translate(self.width() / 2, self.height() / 2)
        p.scale(self.zoom, self.zoom)
        p.translate(-self.cx, -self.cy)
        # drop shadow / frame and a checkerboard for transparent photos
        photo = QRectF(0, 0, self.scene_w, self.scene_h)
        p.fillRect(photo, QBrush(self._checker) if any(l.has_alpha for l in self.original) else QColor(0, 0, 0))
        split = self.compare_layers is not None and not self.peek
        if self.peek:
            self._draw_layers(p, self.original, visible)
        elif split:
            sx = self.to_scene(QPointF(self.split_x(), 0)).x()
            left = QRectF(visible.left(), visible.top(), max(0.0, sx - visible.left()), visible.height())
            right = QRectF(sx, visible.top(), max(0.0, visible.right() - sx), visible.height())
            p.save()
            p.setClipRect(left)
            self._draw_layers(p, self.layers, left)
            p.restore()
            p.save()
            p.setClipRect(right)
            self._draw_layers(p, self.compare_layers, right)
            p.restore()
        else:
            self._draw_layers(p, self.layers, visible)
        if (self.mask_overlay is not None and self.mask_visible and not self.peek and not split):
            self.mask_overlay.draw(p, self.zoom, visible, self.mask_opacity)
        p.restore()
        # frame around the photo
        tl = self.to_widget(QPointF(0, 0))
        br = self.to_widget(QPointF(self.scene_w, self.scene_h))
        p.setPen(QPen(QColor(255, 255, 255, 28), 1))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRect(QRectF(tl, br).adjusted(-1, -1, 0, 0))
        if split:
            self._paint_divider(p)
        badge = "Original (hold Tab)" if self.peek else ("" if split else self.label_a or self.badge)
        if badge:
            self._paint_label(p, badge, QPointF(12, 12), Qt.AlignmentFlag.AlignLeft)
        if self.legend is not None and not self.peek:
            self._paint_legend(p)
        self._paint_brush(p)
        p.end()

    def _paint_legend(self, p: QPainter) -> None:
        """Title, colour bar and its ticks in 8-bit levels (app.model.confidence's scale)."""
        p.save()
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        fm = p.fontMetrics()
        lh = fm.height()
        bar_w = 200
        lines = (conf_view.TITLE, conf_view.CAPTION) + (() if self.legend else (self.legend_note,))
        w = max([bar_w] + [fm.horizontalAdvance(t) for t in lines]) + 20
        h = 8 + lh + 6 + 12 + 4 + 2 * lh + (lh + 2 if not self.legend else 0) + 8
        box = QRectF(self.width() - w - 12, self.height() - h - 12, w, h)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(16, 18, 22, 215))
        p.drawRoundedRect(box, 6, 6)
        x, y = box.left() + 10, box.top() + 8
        p.setPen(QColor(230, 233, 238))
        p.drawText(QRectF(x, y, w - 20, lh), Qt.AlignmentFlag.AlignLeft, conf_view.TITLE)
        y += lh + 6
        if self._ramp is None:
            self._ramp = qimage_from_rgb(conf_view.legend_ramp(bar_w, 12))
        p.drawImage(QRectF(x, y, bar_w, 12), self._ramp)
        y += 12 + 4
        p.setPen(QColor(180, 186, 196))
        for level in conf_view.TICKS:
            tx = x + bar_w * level / conf_view.MAX_LEVELS
            text = conf_view.tick_label(level)
            tw = fm.horizontalAdvance(text)
            p.drawText(QRectF(min(max(x, tx - tw / 2), x + bar_w - tw), y, tw + 2, lh),
                       Qt.AlignmentFlag.AlignLeft, text)
        y += lh
        p.drawText(QRectF(x, y, w - 20, lh), Qt.AlignmentFlag.AlignLeft, conf_view.CAPTION)
        y += lh
        if not self.legend:
            y += 2
            p.setPen(QColor(240, 200, 120))
            p.drawText(QRectF(x, y, w - 20, lh), Qt.AlignmentFlag.AlignLeft, self.legend_note)
        p.restore()

    def _draw_layers(self, p: QPainter, layers, visible: QRectF) -> None:
        for layer in layers:
            layer.draw(p, self.zoom, visible)

    def _paint_placeholder(self, p: QPainter) -> None:
        r = self.rect()
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        box = QRectF(0, 0, min(460, r.width() - 40), 200)
        box.moveCenter(QPointF(r.center()))
        pen = QPen(QColor(90, 96, 108), 1.5, Qt.PenStyle.DashLine)
        p.setPen(pen)
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRoundedRect(box, 14, 14)
        # a small picture glyph
        g = QRectF(0, 0, 46, 36)
        g.moveCenter(QPointF(box.center().x(), box.top() + 52))
        p.setPen(QPen(QColor(120, 128, 142), 2))
        p.drawRoundedRect(g, 5, 5)
        path = QPainterPath()
        path.moveTo(g.left() + 6, g.bottom() - 6)
        path.lineTo(g.left() + 18, g.top() + 16)
        path.lineTo(g.left() + 27, g.bottom() - 12)
        path.lineTo(g.left() + 33, g.top() + 20)
        path.lineTo(g.right() - 6, g.bottom() - 6)
        p.drawPath(path)
        p.drawEllipse(QPointF(g.right() - 11, g.top() + 10), 3.5, 3.5)
        f = QFont(self.font())
        f.setPointSizeF(f.pointSizeF() * 1.35)
        f.setWeight(QFont.Weight.DemiBold)
        p.setFont(f)
        p.setPen(QColor(222, 226, 232))
        p.drawText(QRectF(box.left(), box.top() + 88, box.width(), 30),
                   Qt.AlignmentFlag.AlignCenter, self.placeholder_title)
        p.setFont(self.font())
        p.setPen(QColor(140, 147, 160))
        p.drawText(QRectF(box.left(), box.top() + 122, box.width(), 24),
                   Qt.AlignmentFlag.AlignCenter, self.placeholder_hint)
        p.drawText(QRectF(box.left(), box.top() + 146, box.width(), 24), Qt.AlignmentFlag.AlignCenter,
                   "Denoise · JPEG clean-up · Super-resolution · Inpaint")

    def _paint_label(self, p: QPainter, text: str, at: QPointF, align) -> None:
        p.save()
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        fm = p.fontMetrics()
        w = fm.horizontalAdvance(text) + 16
        h = fm.height() + 8
        x = at.x() if align == Qt.AlignmentFlag.AlignLeft else at.x() - w
        rect = QRectF(x, at.y(), w, h)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(16, 18, 22, 200))
        p.drawRoundedRect(rect, 6, 6)
        p.setPen(QColor(230, 233, 238))
        p.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
        p.restore()

    def _paint_divider(self, p: QPainter) -> None:
        x = self.split_x()
        p.save()
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(QPen(QColor(0, 0, 0, 120), 3))
        p.drawLine(QPointF(x, 0), QPointF(x, self.height()))
        p.setPen(QPen(QColor(255, 255, 255, 230), 1.5))
        p.drawLine(QPointF(x, 0), QPointF(x, self.height()))
        c = QPointF(x, self.height() / 2)
        p.setBrush(QColor(245, 247, 250))
        p.setPen(QPen(QColor(0, 0, 0, 90), 1))
        p.drawEllipse(c, 14, 14)
        p.setPen(QPen(QColor(40, 44, 52), 2))
        for s in (-1, 1):
            path = QPainterPath()
            path.moveTo(c.x() + s * 3, c.y() - 5)
            path.lineTo(c.x() + s * 8, c.y())
            path.lineTo(c.x() + s * 3, c.y() + 5)
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawPath(path)
        p.restore()
        if self.label_a:
            self._paint_label(p, self.label_a, QPointF(min(x - 10, self.width() - 12), 12), Qt.AlignmentFlag.AlignRight)
        if self.label_b:
            self._paint_label(p, self.label_b, QPointF(max(x + 10, 12), 12), Qt.AlignmentFlag.AlignLeft)

    def _paint_brush(self, p: QPainter) -> None:
        if self._mouse is None or not self.painting_tool() or self._panning or self._space:
            return
        r = self.brush_size / 2 * self.zoom
        p.save()
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.setPen(QPen(QColor(0, 0, 0, 160), 3))
        p.drawEllipse(self._mouse, r, r)
        col = QColor(255, 255, 255) if self.tool == TOOL_BRUSH else QColor(140, 200, 255)
        p.setPen(QPen(col, 1.4, Qt.PenStyle.SolidLine if self.tool == TOOL_BRUSH else Qt.PenStyle.DashLine))
        p.drawEllipse(self._mouse, r, r)
        p.setPen(QPen(col, 1.2))
        p.drawPoint(self._mouse)
        p.restore()

    # ---------------------------------------------------------------- input
    def _update_cursor(self) -> None:
        if self._panning:
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
        elif self._space or (not self.painting_tool() and self.has_scene()):
            self.setCursor(Qt.CursorShape.OpenHandCursor)
        elif self.painting_tool():
            self.setCursor(Qt.CursorShape.BlankCursor if self.brush_size * self.zoom > 6 else Qt.CursorShape.CrossCursor)
        else:
            self.setCursor(Qt.CursorShape.ArrowCursor)

    def _near_divider(self, pos: QPointF) -> bool:
        return self.compare_layers is not None and not self.peek and abs(pos.x() - self.split_x()) <= 8

    def mousePressEvent(self, e) -> None:
        pos = e.position()
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        if not self.has_scene():
            if e.button() == Qt.MouseButton.LeftButton:
                self.openRequested.emit()
            return
        if e.button() == Qt.MouseButton.MiddleButton or (e.button() == Qt.MouseButton.LeftButton and (
                self._space or (not self.painting_tool() and not self._near_divider(pos)))):
            self._panning = True
            self._pan_last = pos
            self._update_cursor()
            return
        if e.button() == Qt.MouseButton.LeftButton and self._near_divider(pos):
            self._dragging_split = True
            return
        if e.button() == Qt.MouseButton.LeftButton and self.painting_tool():
            self._stroking = True
            sp = self.to_scene(pos)
            self.mask_model.begin_stroke(self.tool == TOOL_BRUSH)
            self.mask_model.dab(sp.x(), sp.y(), self.brush_size / 2)
            self._stroke_last = sp
            return
        if e.button() == Qt.MouseButton.RightButton and self._stroking:
            self.mask_model.cancel_stroke()
            self._stroking = False

    def mouseMoveEvent(self, e) -> None:
        pos = e.position()
        self._mouse = pos
        sp = self.to_scene(pos)
        if self.has_scene() and 0 <= sp.x() < self.scene_w and 0 <= sp.y() < self.scene_h:
            self.cursorMoved.emit((int(sp.x()), int(sp.y())))
        else:
            self.cursorMoved.emit(None)
        if self._panning:
            d = pos - self._pan_last
            self._pan_last = pos
            self._set_view(self.zoom, self.cx - d.x() / self.zoom, self.cy - d.y() / self.zoom)
            return
        if self._dragging_split:
            self.set_split(pos.x() / max(1, self.width()))
            self.splitMoved.emit(self.split)
            return
        if self._stroking and self._stroke_last is not None:
            self.mask_model.stroke_to(self._stroke_last.x(), self._stroke_last.y(), sp.x(), sp.y(),
                                      self.brush_size / 2)
            self._stroke_last = sp
            return
        if self._near_divider(pos):
            self.setCursor(Qt.CursorShape.SplitHCursor)
        else:
            self._update_cursor()
        self.update()

    def mouseReleaseEvent(self, e) -> None:
        if self._panning and e.button() in (Qt.MouseButton.MiddleButton, Qt.MouseButton.LeftButton):
            self._panning = False
            self._update_cursor()
            return
        if self._dragging_split:
            self._dragging_split = False
            return
        if self._stroking and e.button() == Qt.MouseButton.LeftButton:
            self._stroking = False
            self._stroke_last = None
            if self.mask_model.end_stroke():
                self.maskEdited.emit()

    def leaveEvent(self, e) -> None:
        self._mouse = None
        self.cursorMoved.emit(None)
        self.update()

    def enterEvent(self, e) -> None:
        # take the keyboard (Space to pan, [ ] for the brush) unless the user is typing somewhere
        from PySide6.QtWidgets import QAbstractSpinBox, QApplication, QComboBox, QLineEdit
        fw = QApplication.focusWidget()
        if self.has_scene() and not isinstance(fw, (QLineEdit, QAbstractSpinBox, QComboBox)) \
                and self.window().isActiveWindow():
            self.setFocus(Qt.FocusReason.MouseFocusReason)
        self._update_cursor()

    def wheelEvent(self, e) -> None:
        if not self.has_scene():
            return
        d = e.angleDelta()
        delta = d.y() or d.x()    # Qt turns Alt+wheel into a horizontal wheel
        if e.modifiers() & Qt.KeyboardModifier.AltModifier:
            if delta:
                self.step_brush(1 if delta > 0 else -1)
            e.accept()
            return
        if delta:
            self.zoom_by(math.pow(1.0015, delta), e.position())
        e.accept()

    def keyPressEvent(self, e) -> None:
        k = e.key()
        if k == Qt.Key.Key_Space and not e.isAutoRepeat():
            self._space = True
            self._update_cursor()
            self.update()
            return
        if k == Qt.Key.Key_BracketLeft:
            self.step_brush(-1)
            return
        if k == Qt.Key.Key_BracketRight:
            self.step_brush(1)
            return
        super().keyPressEvent(e)

    def keyReleaseEvent(self, e) -> None:
        if e.key() == Qt.Key.Key_Space and not e.isAutoRepeat():
            self._space = False
            self._panning = False
            self._update_cursor()
            self.update()
            return
        super().keyReleaseEvent(e)

    def focusOutEvent(self, e) -> None:
        self._space = False
        super().focusOutEvent(e)

    # drag and drop of files
    def dragEnterEvent(self, e) -> None:
        if e.mimeData().hasUrls() and any(u.isLocalFile() for u in e.mimeData().urls()):
            e.acceptProposedAction()

    def dropEvent(self, e) -> None:
        for u in e.mimeData().urls():
            if u.isLocalFile():
                self.fileDropped.emit(u.toLocalFile())
                e.acceptProposedAction()
                return
