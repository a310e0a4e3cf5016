"""Variations: the document's job run with several seeds, shown side by side with the original,
one of them picked as the result.

`VariationsRoom` (Run > Variations…) opens `VariationsDialog`: a spin box for how many (3 by
default), Run and Stop, a progress bar, then a tile per variation beside the original, each
with "Use This". The runs go through `worker.VariationsRunner` (`dip_engine.variations.run` on
a QThread); the finished variations go into the `Document`, which keeps them (and the one
picked) for the project file and the compare view's pickers.
"""
from __future__ import annotations

import cv2
import numpy as np
from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QProgressBar, QPushButton,
                               QScrollArea, QSpinBox, QVBoxLayout, QWidget)

from app.model.display import fit_within
from app.ui.filmstrip import CURRENT
from app.ui.layers import pixmap_from_rgb
from app.worker import VariationsRunner

DEFAULT_COUNT = 3
TILE = 260                        # the longest side of a tile's picture, in screen pixels


class VariationsRoom(QObject):
    """Runs variations of the document's job and makes the one picked the result."""

    def __init__(self, window):
        super().__init__(window)
        self.w = window
        self.doc = window.document
        self.runner = VariationsRunner(self)
        self.dialog: VariationsDialog | None = None
        self._done: list = []
        self.runner.progressed.connect(self._on_progress)
        self.runner.variationDone.connect(self._on_variation)
        self.runner.finished.connect(self._on_finished)
        self.runner.failed.connect(self._on_failed)
        self.doc.on("photo", self._close_dialog)

    def open_dialog(self) -> VariationsDialog | None:
        if self.doc.photo is None:
            return None
        if self.dialog is None:
            self.dialog = VariationsDialog(self, self.w)
        self.dialog.show_tiles(self.doc.variations)
        self.dialog.show()
        self.dialog.raise_()
        return self.dialog

    def _close_dialog(self) -> None:
        if self.dialog is not None and not self.runner.busy:
            self.dialog.close()

    # ------------------------------------------------------------------ running
    def start(self, n: int) -> bool:
        """Run the panel's job with n seeds (its seed, +1, ...), replacing the variations."""
        w = self.w
        if w.busy or self.doc.photo is None:
            return False
        from dip_engine import restore
        try:
            job = w.run.build_job()
            if job.task not in ("inpaint", "sr"):
                raise ValueError("variations are for inpainting and super-resolution")
            pl = restore.plan(job)
        except (ValueError, TypeError) as e:
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            self._say(msg[:1].upper() + msg[1:], error=True)
            return False
        if pl.error:
            self._say(f"Not enough memory for these variations: {pl.error}.", error=True)
            return False
        self._done = []
        self.runner.start(job, n, self.doc.converter)
        if self.dialog is not None:
            self.dialog.running(job.seed, n)
        w.update_actions()
        w.update_hint()
        return True

    def stop(self) -> None:
        self.runner.stop()

    def _on_progress(self, k: int, iteration: int, total: int) -> None:
        if self.dialog is not None:
            self.dialog.progress(k, iteration, total)

    def _on_variation(self, v) -> None:
        var = self.doc.variation(v.index, v.seed, v.result, v.metadata, v.confidence, v.kept, v.display)
        self._done.append(var)
        if self.dialog is not None:
            self.dialog.add_tile(var, enabled=False)

    def _on_finished(self, stopped: bool) -> None:
        done = sorted(self._done, key=lambda v: v.seed)
        self._done = []
        if done:
            self.doc.set_variations(done)
        n = len(done)
        msg = (f"Stopped: {n} variation{'s' if n != 1 else ''} finished." if stopped else
               f"{n} variations finished: pick one with Use This, or compare them in the main window.")
        self._ended(msg)

    def _on_failed(self, message: str) -> None:
        self._done = []
        self._ended(message, error=True)

    def _ended(self, msg: str, error: bool = False) -> None:
        if self.dialog is not None:
            self.dialog.show_tiles(self.doc.variations)
        self._say(msg, error)
        self.w.update_actions()
        self.w.update_hint()

    def _say(self, msg: str, error: bool = False) -> None:
        if self.dialog is not None and self.dialog.isVisible():
            self.dialog.say(msg, error)
        elif error:
            self.w.show_error(msg)
        else:
            self.w.notify(msg, "info")

    # ------------------------------------------------------------------ choosing
    def choose(self, index: int) -> bool:
        """Variation `index` becomes the result; the main window shows it."""
        w, doc = self.w, self.doc
        if w.busy or not 0 <= index < len(doc.variations):
            return False
        if not w.may_discard_result("Use this variation", "Use this variation and replace it?"):
            return False
        doc.choose_variation(index)
        v = doc.variations[index]
        w.compare.set_current(v, "Result")
        w.compare.src_b = CURRENT
        w.compare.refresh()
        if self.dialog is not None:
            self.dialog.close()
        w.notify(f"{v.label} is now the result. Ctrl+S saves it.", "info")
        return True


class VariationsDialog(QDialog):
    """How many variations, their progress, and the pictures side by side with the original."""

    def __init__(self, room: VariationsRoom, parent=None):
        super().__init__(parent)
        self.room = room
        self.setWindowTitle("Variations")
        self.setObjectName("VariationsDialog")
        v = QVBoxLayout(self)
        top = QHBoxLayout()
        top.addWidget(QLabel("Variations (seeds):"))
        self.count = QSpinBox()
        self.count.setRange(2, 8)
        self.count.setValue(DEFAULT_COUNT)
        self.count.setToolTip("How many times to run the job, each with the next seed")
        top.addWidget(self.count)
        self.run_button = QPushButton("Run")
        self.run_button.clicked.connect(lambda: room.start(self.count.value()))
        self.stop_button = QPushButton("Stop")
        self.stop_button.clicked.connect(room.stop)
        self.stop_button.setEnabled(False)
        top.addWidget(self.run_button)
        top.addWidget(self.stop_button)
        top.addStretch(1)
        v.addLayout(top)
        self.bar = QProgressBar()
        self.bar.setTextVisible(True)
        self.bar.hide()
        v.addWidget(self.bar)
        self.message = QLabel("Each variation is the same job with another seed: another plausible "
                              "fill or detail. Its seed reproduces it (dip-engine --seed).")
        self.message.setWordWrap(True)
        self.message.setObjectName("Hint")
        v.addWidget(self.message)
        self.tiles_box = QWidget()
        self.tiles = QHBoxLayout(self.tiles_box)
        self.tiles.setContentsMargins(0, 0, 0, 0)
        self.tiles.setSpacing(12)
        scroll = QScrollArea()
        scroll.setWidget(self.tiles_box)
        scroll.setWidgetResizable(True)
        scroll.setMinimumHeight(TILE + 90)
        v.addWidget(scroll, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        v.addWidget(buttons)
        self.use_buttons: list[QPushButton] = []
        self.resize(min(4, DEFAULT_COUNT + 1) * (TILE + 12) + 40, TILE + 240)

    # ------------------------------------------------------------------ tiles
    def _crop(self, rgb):
        """For inpainting, the part of a picture around the mask (where variations differ)."""
        doc = self.room.doc
        if doc.mask is None or not doc.mask.array.any() or doc.settings.task != "inpaint":
            return rgb
        ys, xs = np.nonzero(doc.mask.array)
        H, W = doc.mask.array.shape
        m = max(16, int(np.ptp(ys) + np.ptp(xs)) // 4)
        t, b = max(0, ys.min() - m), min(H, ys.max() + 1 + m)
        l, r = max(0, xs.min() - m), min(W, xs.max() + 1 + m)
        sy, sx = rgb.shape[0] / H, rgb.shape[1] / W      # the screen image may be downscaled
        return np.ascontiguousarray(rgb[int(t * sy):max(int(t * sy) + 1, round(b * sy)),
                                        int(l * sx):max(int(l * sx) + 1, round(r * sx))])

    def _tile(self, rgb, caption: str, tip: str = "") -> tuple[QWidget, QVBoxLayout]:
        box = QWidget()
        box.setObjectName("VariationTile")
        lay = QVBoxLayout(box)
        lay.setContentsMargins(0, 0, 0, 0)
        rgb = self._crop(rgb)
        pic = QLabel()
        pic.setAlignment(Qt.AlignmentFlag.AlignCenter)
        pic.setPixmap(pixmap_from_rgb(fit_within(rgb, TILE, TILE) if max(rgb.shape[:2]) > TILE
                                      else _enlarged(rgb)))
        pic.setFixedSize(TILE, TILE)
        pic.setToolTip(tip)
        lay.addWidget(pic)
        text = QLabel(caption)
        text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lay.addWidget(text)
        self.tiles.addWidget(box)
        return box, lay

    def show_tiles(self, variations) -> None:
        """The original and `variations`, each with Use This (while nothing runs)."""
        while self.tiles.count():
            item = self.tiles.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self.use_buttons = []
        doc = self.room.doc
        self._tile(doc.display, "Original")[1].addStretch(1)
        for var in variations:
            self.add_tile(var, enabled=not self.room.runner.busy)
        self.tiles.addStretch(1)
        busy = self.room.runner.busy
        self.run_button.setEnabled(not busy)
        self.stop_button.setEnabled(busy)
        self.count.setEnabled(not busy)
        if not busy:
            self.bar.hide()

    def add_tile(self, var, enabled: bool = True) -> None:
        chosen = self.room.doc.chosen == var.index and any(var is v for v in self.room.doc.variations)
        caption = f"Variation {var.index + 1} · seed {var.seed}" + (" · the result" if chosen else "")
        if var.kept:
            caption += f"\n({var.kept} kept: too few iterations)"
        box, lay = self._tile(var.display, caption, f"dip-engine … --seed {var.seed} reproduces it")
        use = QPushButton("Use This")
        use.setEnabled(enabled)
        use.clicked.connect(lambda _=False, i=var.index: self.room.choose(i))
        lay.addWidget(use)
        lay.addStretch(1)                 # captions line up with the original's
        self.use_buttons.append(use)
        # while running, tiles arrive one by one: keep them before the stretch
        if self.tiles.count() >= 2 and self.tiles.itemAt(self.tiles.count() - 2).spacerItem() is not None:
            self.tiles.removeWidget(box)
            self.tiles.insertWidget(self.tiles.count() - 1, box)

    # ------------------------------------------------------------------ progress
    def running(self, seed: int, n: int) -> None:
        self.show_tiles([])
        self.n = n
        self.bar.setRange(0, 1000)
        self.bar.setValue(0)
        self.bar.show()
        self.say(f"Running {n} variations, seeds {seed} to {seed + n - 1}…")

    def progress(self, k: int, iteration: int, total: int) -> None:
        n = max(1, getattr(self, "n", 1))
        frac = (k + (iteration / total if total else 0)) / n
        self.bar.setValue(int(1000 * min(1.0, frac)))
        self.bar.setFormat(f"Variation {k + 1} of {n}: iteration {iteration} of {total}")

    def say(self, text: str, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setObjectName("Error" if error else "Hint")
        self.message.setStyleSheet("color: #f07070;" if error else "")

    def closeEvent(self, e) -> None:
        self.room.stop()       # closing while it runs stops the runs (finished ones are kept)
        super().closeEvent(e)


def _enlarged(rgb):
    """A small picture scaled up to the tile with whole pixels (nearest), so it is not a blur."""
    h, w = rgb.shape[:2]
    k = max(1, TILE // max(h, w))
    out = cv2.resize(np.ascontiguousarray(rgb), (w * k, h * k), interpolation=cv2.INTER_NEAREST)
    return np.ascontiguousarray(out if out.ndim == 3 else out[:, :, None])
