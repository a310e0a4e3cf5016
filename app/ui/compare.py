"""What the canvases show: one picture, a split compare or two side by side.

The compared pictures are keys: ORIGINAL, CURRENT (the live frame, the run's end or the saved
run), a history Snapshot or a Variation (the job with another seed). `CompareView` turns keys
into canvas layers and labels (with the confidence map's colour layer and legend when that is
shown), keeps the filmstrip, the compare bar and the status bar's size and zoom in step, and
says through `shownChanged` when the pictures looked at change (not on every live frame).
"""
from __future__ import annotations

from PySide6.QtCore import QObject, QRectF, QTimer, Signal
from PySide6.QtWidgets import QMenu

from app.model import confidence as conf_view
from app.model.history import Snapshot
from app.model.variations import Variation
from app.ui.filmstrip import CURRENT, ORIGINAL, key_label
from app.ui.layers import PictureLayer
from app.ui.run import FALLBACKS, KEPT_LABELS, parts_phrase, result_iteration

MODES = {"single": "view_single", "split": "view_split", "side": "view_side"}


class CompareView(QObject):
    shownChanged = Signal()

    def __init__(self, window):
        super().__init__(window)
        self.w = window
        self.doc = window.document
        self.mode = "single"
        self.src_a, self.src_b = ORIGINAL, CURRENT
        self.base_layer: PictureLayer | None = None      # the photo
        self.current_layer: PictureLayer | None = None   # what CURRENT adds on top of the photo
        self.current_picture = None                      # the Frame or Snapshot CURRENT shows
        self.show_confidence = False                     # the confidence overlay (View menu)
        self._conf_layers: dict = {}                     # id(map) -> (map, layer) of CURRENT's maps
        self._shown = (None, None)
        w = window
        w.canvas.zoomChanged.connect(self.show_zoom)
        w.canvas.viewChanged.connect(lambda z, x, y: self.mode == "side" and w.canvas2.set_view(z, x, y))
        w.canvas2.viewChanged.connect(lambda z, x, y: self.mode == "side" and w.canvas.set_view(z, x, y))
        w.canvas2.zoomChanged.connect(lambda z: self.mode == "side" and self.show_zoom(z))
        w.filmstrip.activatedKey.connect(self.show_key)
        w.filmstrip.menuRequested.connect(self._filmstrip_menu)
        w.compare_bar.sourcesChanged.connect(self._sources_picked)
        self.doc.on("photo", self._show_document)
        self.doc.on("history", self._show_snapshot)
        self.doc.on("variations", lambda: self.refresh())

    # ------------------------------------------------------------------ the document
    def _show_document(self) -> None:
        """A new photo or project: the photo, its history, and a saved run's last picture."""
        doc, w = self.doc, self.w
        photo = doc.photo
        self.base_layer = PictureLayer(doc.display, QRectF(0, 0, photo.width, photo.height))
        w.canvas.set_scene(photo.width, photo.height, [self.base_layer])
        w.canvas2.set_scene(photo.width, photo.height, [self.base_layer])
        self.current_layer, self.current_picture, self._conf_layers = None, None, {}
        w.filmstrip.reset_strip(doc.thumb)
        for snap in doc.history:
            w.filmstrip.add_snapshot(snap)
        if doc.chosen is not None:
            self.set_current(doc.variations[doc.chosen], "Result")
        elif len(doc.history):
            last = doc.history[-1]
            self.set_current(last, "Result" if doc.result is not None else "Saved run")
        w.compare_bar.show()
        self.src_a, self.src_b = ORIGINAL, CURRENT
        self.set_view_mode("single")

    def _show_snapshot(self, snap: Snapshot, dropped: Snapshot | None) -> None:
        if dropped is not None:
            self.w.filmstrip.remove_snapshot(dropped)
        self.w.filmstrip.add_snapshot(snap)
        self.w.compare_bar.set_keys(self.keys(), self.src_a, self.src_b, self.current_label())

    def set_current(self, picture, label: str | None = None, tip: str | None = None) -> None:
        """CURRENT shows `picture` (a Frame or Snapshot: display, region, thumb) over the photo;
        with `label` the filmstrip's current entry says so."""
        self.current_picture = picture
        self.current_layer = None if picture is None else \
            PictureLayer(picture.display, self.region_rect(picture.region), build_pyramid=False)
        if label is not None:
            self.w.filmstrip.set_current(None if picture is None else picture.thumb, label, tip)

    # ------------------------------------------------------------------ keys -> pictures
    def region_rect(self, region) -> QRectF:
        """Output pixels (top, left, bottom, right) in photo coordinates."""
        t, l, b, r = region
        s = self.doc.out_scale
        return QRectF(l / s, t / s, (r - l) / s, (b - t) / s)

    def keys(self) -> list:
        """Everything the pickers offer: original, snapshots, current, then the variations."""
        keys = self.w.filmstrip.keys()
        if CURRENT not in keys:
            keys = keys + [CURRENT]
        return keys + list(self.doc.variations)

    def _settled(self, key):
        """CURRENT when no run is going: the snapshot or variation that is the result, else CURRENT."""
        doc = self.doc
        if key == CURRENT and not self.w.runner.busy:
            if doc.result_snapshot is not None:
                return doc.result_snapshot
            if doc.chosen is not None:
                return doc.variations[doc.chosen]
        return key

    def layers_for(self, key) -> list:
        if self.base_layer is None:
            return []
        key = self._settled(key)
        if key == CURRENT:
            layers = [self.base_layer] + ([self.current_layer] if self.current_layer is not None else [])
        elif isinstance(key, (Snapshot, Variation)):
            layer = key.cache.get("layer")
            if layer is None:
                layer = PictureLayer(key.display, self.region_rect(key.region), build_pyramid=True)
                key.cache["layer"] = layer
            layers = [self.base_layer, layer]
        else:
            layers = [self.base_layer]
        overlay = self.confidence_layer(key) if self.show_confidence else None
        return layers + ([overlay] if overlay is not None else [])

    # ------------------------------------------------------------------ the confidence map
    def confidence_of(self, key):
        """(map, region) of the picture `key` shows, or None: the photo, or a kept classical answer."""
        doc, key = self.doc, self._settled(key)
        if isinstance(key, (Snapshot, Variation)):
            return None if key.confidence is None else (key.confidence, key.region)
        if key != CURRENT:
            return None
        if self.w.runner.busy or doc.result is None:
            pic = self.current_picture
            m = getattr(pic, "confidence", None)
            return None if m is None else (m, pic.region)
        if doc.confidence is None:
            return None
        return doc.confidence, (0, 0, doc.result.height, doc.result.width)

    def confidence_layer(self, key) -> PictureLayer | None:
        found = self.confidence_of(key)
        if found is None:
            return None
        m, region = found
        settled = self._settled(key)
        cache = settled.cache if isinstance(settled, (Snapshot, Variation)) else None
        if cache is not None and cache.get("confidence") is not None:
            return cache["confidence"]
        hit = self._conf_layers.get(id(m))
        if hit is not None and hit[0] is m:
            return hit[1]
        layer = PictureLayer(conf_view.overlay_rgba(m), self.region_rect(region), build_pyramid=cache is not None)
        if cache is not None:
            cache["confidence"] = layer
        else:          # CURRENT's pictures change with every frame: keep only the newest
            self._conf_layers = {id(m): (m, layer)}
        return layer

    def set_confidence_visible(self, on: bool) -> None:
        """Show or hide the confidence overlay and its legend."""
        self.show_confidence = bool(on)
        action = self.w.actions_["show_confidence"]
        if action.isChecked() != self.show_confidence:
            action.setChecked(self.show_confidence)
        self.refresh(update_bar=False)

    def _legends(self, a, b) -> None:
        """The legend on each visible canvas: whether a picture there has a map."""
        w = self.w
        if not self.show_confidence:
            w.canvas.set_legend(None)
            w.canvas2.set_legend(None)
            return
        task = self.doc.job.task if self.doc.job is not None else self.doc.settings.task
        note = conf_view.NO_MAP_INPAINT if task == "inpaint" else conf_view.NO_MAP
        first = [b] if self.mode == "single" else [a, b] if self.mode == "split" else [a]
        w.canvas.set_legend(any(self.confidence_of(k) is not None for k in first), note)
        if self.mode == "side":
            w.canvas2.set_legend(self.confidence_of(b) is not None, note)
        else:
            w.canvas2.set_legend(None)

    def current_label(self) -> str:
        doc = self.doc
        if doc.result is not None and doc.chosen is not None and not self.w.runner.busy:
            return f"Result ({doc.variations[doc.chosen].label.lower()})"
        if self.w.runner.busy:
            frame = self.w.run.frame
            if frame is not None and frame.iteration == 0 and doc.job is not None:
                return f"Starting point: {FALLBACKS.get(doc.job.task, 'the original')}"
            return "Live"
        if doc.result is not None:
            if doc.result_snapshot is not None:
                return f"Result (iteration {doc.result_iteration})"
            p = doc.outcome.progress if doc.outcome else None
            if p is not None and p.kept:
                where = f" in {parts_phrase(p.unfinished_parts, p.parts).lower()}" \
                    if p.unfinished_parts and p.parts and len(p.unfinished_parts) < p.parts else ""
                return f"Result ({KEPT_LABELS.get(p.kept, p.kept)} kept{where})"
            it = result_iteration(p)
            return f"Result (iteration {it})" if it is not None else "Result"
        return "Current"

    def label_for(self, key) -> str:
        return key_label(key, self.current_label())

    def shown_snapshot(self) -> Snapshot | None:
        for k in (self.src_b, self.src_a):
            if isinstance(k, Snapshot):
                return k
        return None

    def on_photo(self) -> bool:
        """True when the photo itself (not a run's picture) is what the single view shows."""
        return self.mode == "single" and (self.src_b == ORIGINAL or (
            self.src_b == CURRENT and self.current_layer is None and self.doc.result is None))

    # ------------------------------------------------------------------ choosing
    def set_view_mode(self, mode: str) -> None:
        w = self.w
        self.mode = mode
        action = w.actions_[MODES[mode]]
        if not action.isChecked():
            action.setChecked(True)
        w.canvas2.setVisible(mode == "side")
        if mode != "single" and self.doc.photo is not None:
            w.compare_bar.show()
        if mode == "side":
            w.canvas_split.setSizes([1, 1])
            w.canvas2.set_view(w.canvas.zoom, w.canvas.cx, w.canvas.cy)
        w.compare_bar.set_mode(mode)
        self.refresh()
        if mode == "side":
            QTimer.singleShot(0, w.canvas.fit)

    def set_sources(self, a, b) -> None:
        """Pick what is compared: ORIGINAL, CURRENT or a Snapshot (A = left, B = right/shown)."""
        self.src_a, self.src_b = a, b
        self.refresh()

    def show_key(self, key) -> None:
        """Look at `key` (the filmstrip's choice)."""
        self.src_b = key
        if self.mode != "single" and self.src_a is key:
            self.src_a = ORIGINAL
        self.refresh()

    def _sources_picked(self, a, b) -> None:
        if a is not None and b is not None:
            self.src_a, self.src_b = a, b
            self.refresh(update_bar=False)

    def _filmstrip_menu(self, key, pos) -> None:
        m = QMenu(self.w)
        m.addAction("Show", lambda: self.show_key(key))
        m.addAction("Compare with Original", lambda: (self.set_sources(ORIGINAL, key), self.set_view_mode("split")))
        if isinstance(key, Snapshot):
            m.addSeparator()
            m.addAction("Save Snapshot…", lambda: self.w.files.save_snapshot_dialog(key))
            m.addAction("Make This the Result", lambda: self.w.run.make_result(key))
        m.exec(pos)

    # ------------------------------------------------------------------ drawing
    def refresh(self, update_bar: bool = True) -> None:
        """Show the chosen pictures; `shownChanged` when they are other pictures than before."""
        w, doc = self.w, self.doc
        if self.base_layer is None:
            return
        for side, fallback in (("src_b", CURRENT), ("src_a", ORIGINAL)):
            key = getattr(self, side)
            if key not in (ORIGINAL, CURRENT) and doc.history.index_of(key) < 0 and key is not doc.result_snapshot \
                    and not any(key is v for v in doc.variations):
                setattr(self, side, fallback)
        a, b = self.src_a, self.src_b
        la, lb = self.label_for(a), self.label_for(b)
        if self.mode == "single":
            w.canvas.set_layers(self.layers_for(b), "" if b == CURRENT and self.current_layer is None else lb)
            w.canvas.set_compare(None)
        elif self.mode == "split":
            w.canvas.set_layers(self.layers_for(a), la)
            w.canvas.set_compare(self.layers_for(b), lb)
        else:
            w.canvas.set_layers(self.layers_for(a), la)
            w.canvas.set_compare(None)
            w.canvas2.set_layers(self.layers_for(b), lb)
        self._legends(a, b)
        w.masks.update_display()          # the mask shows on the photo being edited, not on results
        if update_bar:
            w.compare_bar.set_keys(self.keys(), a, b, self.current_label())
        w.filmstrip.select_key(b)
        w.run_panel.curve.set_marker(b.iteration if isinstance(b, Snapshot) else None)
        self.show_info()
        self.show_zoom()
        if (a, b) != self._shown:
            self._shown = (a, b)
            self.shownChanged.emit()

    def refresh_live(self) -> None:
        """A new live frame: redraw only when CURRENT is on screen."""
        if CURRENT in (self.src_a, self.src_b):
            self.refresh(update_bar=False)

    # ------------------------------------------------------------------ zoom and size
    def shown_scale(self) -> float:
        """Pixels of the shown picture per photo pixel: the SR factor for a result or snapshot."""
        key = self.src_b
        if key == ORIGINAL or self.doc.job is None:
            return 1.0
        if key == CURRENT and self.current_layer is None and self.doc.result is None:
            return 1.0
        return float(self.doc.out_scale)

    def actual_size(self) -> None:
        """100 %: one screen pixel per pixel of the picture shown (an SR result's own pixels)."""
        self.w.canvas.actual_size(self.shown_scale())

    def show_zoom(self, z: float | None = None) -> None:
        z = self.w.canvas.zoom if z is None else z
        self.w.zoom_label.setText(f"{z / self.shown_scale() * 100:.0f} %")

    def show_info(self) -> None:
        """The status bar's size: the shown picture's (an SR result is larger than the photo)."""
        photo = self.doc.photo
        if photo is None:
            self.w.info_label.setText("")
            return
        bits = getattr(photo, "bit_depth", 8)
        ch = photo.data.shape[2] if photo.data.ndim == 3 else 1
        kind = {1: "gray", 2: "gray + alpha", 3: "RGB", 4: "RGBA"}.get(ch, f"{ch} ch")
        icc = " · ICC" if self.doc.converter.manages_colour else ""
        scale = self.shown_scale()
        if scale != 1.0:
            w, h = round(photo.width * scale), round(photo.height * scale)
            size = f"{w} × {h} ({scale:g}× of {photo.width} × {photo.height})"
        else:
            size = f"{photo.width} × {photo.height}"
        self.w.info_label.setText(f"{size} · {bits}-bit {kind}{icc}")

    def render(self):
        """The compare view as the user sees it (one canvas, or both side by side), a QImage."""
        w = self.w
        return (w.canvas_split if self.mode == "side" else w.canvas).grab().toImage()
