"""`--demo-state=...`: put the real window into a state for screenshots, through its own code paths.

mask     choose Inpaint and paint two strokes through the canvas's mouse handlers
running  as `mask`, then start a run (Restore) with the 'fast' preset
compare  as `running` with a short iteration budget; when it ends, show a split compare
error    try to open a corrupt file (the real open path shows the error banner)
confidence  a denoising run with the confidence overlay (View menu) on its live frames
variations  as `mask` with one stroke, then Run > Variations… with three seeds
scratches  choose Inpaint, paint four thin strokes across the photo and start 'fast' (in tiles)
"""
from __future__ import annotations

import os
import tempfile

from PySide6.QtCore import QEvent, QPointF, Qt, QTimer
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication


def _mouse(canvas, kind, pos: QPointF, button=Qt.MouseButton.LeftButton) -> None:
    buttons = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseButtonRelease else button
    ev = QMouseEvent(kind, pos, canvas.mapToGlobal(pos), button, buttons, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(canvas, ev)


def paint_stroke(window, points_photo: list[tuple[float, float]]) -> None:
    """Drive a brush stroke through the canvas's real mouse handlers (points in photo pixels)."""
    c = window.canvas
    pts = [c.to_widget(QPointF(x, y)) for x, y in points_photo]
    _mouse(c, QEvent.Type.MouseButtonPress, pts[0])
    for p in pts[1:]:
        _mouse(c, QEvent.Type.MouseMove, p)
    _mouse(c, QEvent.Type.MouseButtonRelease, pts[-1])
    _mouse(c, QEvent.Type.MouseMove, pts[-1] + QPointF(40, 30))   # leave the brush outline visible


def _paint_demo_mask(window, strokes: int = 2) -> None:
    window.task_panel.task_buttons["inpaint"].click()
    window.masks.set_tool("brush")
    w, h = window.document.photo.width, window.document.photo.height
    window.canvas.set_brush_size(max(8, round(min(w, h) * 0.05)))
    paint_stroke(window, [(w * 0.62, h * 0.20 + i * h * 0.03) for i in range(8)])
    if strokes > 1:
        paint_stroke(window, [(w * 0.18 + i * w * 0.02, h * 0.78 + (i % 3) * 2) for i in range(12)])


def drive(window, state: str) -> None:
    if state == "error":
        fd, path = tempfile.mkstemp(suffix=".jpg", prefix="holiday-")
        with os.fdopen(fd, "wb") as f:
            f.write(b"\xff\xd8\xff\xe0 this is not really a JPEG")
        window.files.open_path(path)
        os.unlink(path)
        return
    if window.document.photo is None:
        QTimer.singleShot(200, lambda: drive(window, state))
        return
    if state == "confidence":                 # a denoising run, the overlay on its live frames
        window.task_panel.task_buttons["denoise"].click()
        window.task_panel.select_preset("fast")
        window.task_panel.iters_spin.setValue(3000)
        window.actions_["show_confidence"].setChecked(True)
        window.run.start()
        return
    if state == "scratches":                  # thin marks spread wide: filled in tiles
        window.task_panel.task_buttons["inpaint"].click()
        window.masks.set_tool("brush")
        w, h = window.document.photo.width, window.document.photo.height
        window.canvas.set_brush_size(8)
        for k in range(4):
            y = h * (0.15 + 0.22 * k)
            paint_stroke(window, [(w * (0.08 + 0.06 * i), y + (i % 2) * 4) for i in range(14)])
        window.task_panel.select_preset("fast")
        window.run.start()
        return
    _paint_demo_mask(window, 2 if state == "mask" else 1)
    if state == "mask":
        return
    window.task_panel.select_preset("fast")
    if state == "variations":
        window.task_panel.iters_spin.setValue(400)
        window.task_panel.channels_spin.setValue(16)
        dlg = window.variations.open_dialog()
        dlg.move(window.geometry().center() - dlg.rect().center())
        dlg.run_button.click()
        return
    if state == "compare":
        window.task_panel.iters_spin.setValue(450)   # past the point where the fill beats Telea's
        window.task_panel.channels_spin.setValue(16)

        def done():
            window.compare.set_sources("original", "current")
            window.compare.set_view_mode("split")
        window.resultReady.connect(done)
    window.run.start()
