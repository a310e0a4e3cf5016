"""The mask tools: brush, eraser and hand, the brush size, whole-mask edits, loading and saving
a mask. Edits go to the document's `MaskModel`; the canvas paints it."""
from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QFileDialog

from app.ui.canvas import TOOL_BRUSH, TOOL_ERASER, TOOL_PAN
from app.ui.filmstrip import CURRENT, ORIGINAL

BRUSH_FRACTION = 0.02        # a new photo's brush: this share of its shorter side (at least 3 px)
TOOL_KEYS = {TOOL_BRUSH: "brush", TOOL_ERASER: "eraser", TOOL_PAN: "pan"}


class MaskTools(QObject):
    def __init__(self, window):
        super().__init__(window)
        self.w = window
        self.doc = window.document
        self._sizing_brush = False
        self._holes_timer = QTimer(self, singleShot=True, interval=250)
        self._holes_timer.timeout.connect(self._measure_holes)
        c = window.canvas
        c.brushSizeChanged.connect(self._brush_size_changed)
        c.maskEdited.connect(window.update_actions)
        window.mask_panel.sizeChanged.connect(c.set_brush_size)
        window.mask_panel.opacityChanged.connect(c.set_mask_opacity)
        self.doc.on("photo", self._new_mask)
        self.doc.on("mask", lambda _bbox: self._show_info())

    def _new_mask(self) -> None:
        self.w.canvas.set_mask(self.doc.mask)
        self.brush_from_fraction()
        self._show_info()

    def _show_info(self) -> None:
        self._holes_timer.start()  # measure the marks' thickness once painting pauses
        mask = self.doc.mask
        self.w.mask_panel.set_info(mask.count(), mask.width * mask.height)

    def _measure_holes(self) -> None:
        from dip_engine import regions
        self.w.task_panel.set_holes(self.doc.mask is not None and regions.large_holes(self.doc.mask.array))

    # ------------------------------------------------------------------ tools and display
    def set_tool(self, tool: str) -> None:
        w, view = self.w, self.w.compare
        w.canvas.set_tool(tool)
        if tool in (TOOL_BRUSH, TOOL_ERASER):
            if w.task_panel.task() != "inpaint":
                w.task_panel.task_buttons["inpaint"].click()
            if not w.actions_["show_mask"].isChecked():
                w.actions_["show_mask"].setChecked(True)
            if view.mode != "single" or view.src_b != ORIGINAL and view.src_b != CURRENT:
                view.set_view_mode("single")
            if view.src_b != ORIGINAL and (view.current_layer is not None or self.doc.result is not None):
                view.set_sources(view.src_a, ORIGINAL)
        action = w.actions_[TOOL_KEYS[tool]]
        if not action.isChecked():
            action.setChecked(True)
        w.update_hint()

    def update_display(self, _on: bool | None = None) -> None:
        """The mask shows, and takes strokes, on the photo being inpainted, not on results."""
        w = self.w
        inpaint = w.task_panel.task() == "inpaint"
        on_photo = w.compare.on_photo()
        w.canvas.set_mask_visible(w.actions_["show_mask"].isChecked() and inpaint and on_photo)
        w.canvas.mask_editable = inpaint and not w.busy and on_photo
        w.canvas.update()

    def _brush_size_changed(self, size: float) -> None:
        w, photo = self.w, self.doc.photo
        w.mask_panel.set_size(size)
        w.settings.setValue("brush/size", size)
        if photo is not None and not self._sizing_brush:
            w.settings.setValue("brush/fraction", size / min(photo.width, photo.height))

    def brush_from_fraction(self) -> None:
        """The brush keeps its share of the photo's shorter side from photo to photo."""
        w, photo = self.w, self.doc.photo
        try:
            frac = float(w.settings.value("brush/fraction", BRUSH_FRACTION))
        except (TypeError, ValueError):
            frac = BRUSH_FRACTION
        if not 0 < frac <= 1:
            frac = BRUSH_FRACTION
        self._sizing_brush = True
        try:
            w.canvas.set_brush_size(max(3, round(frac * min(photo.width, photo.height))))
        finally:
            self._sizing_brush = False
        w.mask_panel.set_size(w.canvas.brush_size)

    # ------------------------------------------------------------------ whole-mask edits
    def _edit(self, name: str, *args) -> None:
        mask = self.doc.mask
        if mask is None or self.w.runner.busy:
            return
        getattr(mask, name)(*args)
        self.w.update_actions()

    def undo(self) -> None:
        self._edit("undo")

    def redo(self) -> None:
        self._edit("redo")

    def clear(self) -> None:
        self._edit("clear")

    def invert(self) -> None:
        self._edit("invert")

    def grow(self) -> None:
        self._edit("grow", self.w.mask_panel.grow_spin.value())

    def shrink(self) -> None:
        self._edit("shrink", self.w.mask_panel.grow_spin.value())

    # ------------------------------------------------------------------ mask files
    def load_dialog(self) -> None:
        if self.doc.photo is None:
            return
        from app.ui.files import IMAGE_FILTER
        path, _ = QFileDialog.getOpenFileName(self.w, "Load mask (white = fill)", self.w.files.last_folder(),
                                              IMAGE_FILTER)
        if path:
            self.load(path)

    def load(self, path: str) -> bool:
        from dip_engine import imageio
        w, photo = self.w, self.doc.photo
        try:
            mask = imageio.load_mask(path, size=(photo.width, photo.height))
        except Exception as e:  # noqa: BLE001
            w.show_error(f"Could not load the mask {Path(path).name}: {e}")
            return False
        self._edit("set_mask", mask, "Load mask")
        if w.task_panel.task() != "inpaint":
            w.task_panel.task_buttons["inpaint"].click()
        w.notify(f"Mask loaded from {Path(path).name}.", "info")
        return True

    def save_dialog(self) -> None:
        if self.doc.mask is None:
            return
        stem = Path(self.doc.name).stem or "photo"
        start = str(Path(self.w.files.last_folder()) / f"{stem}_mask.png")
        path, _ = QFileDialog.getSaveFileName(self.w, "Save mask (white = fill)", start, "PNG (*.png)")
        if path:
            if not Path(path).suffix:
                path += ".png"
            self.save(path, overwrite=os.path.exists(path))

    def save(self, path: str, overwrite: bool = False) -> bool:
        from dip_engine import imageio
        try:
            imageio.save_mask(self.doc.mask.array.copy(), path, overwrite=overwrite)
        except Exception as e:  # noqa: BLE001
            self.w.show_error(f"Could not save the mask: {e}")
            return False
        self.w.notify(f"Mask saved to {Path(path).name}.", "success")
        return True
