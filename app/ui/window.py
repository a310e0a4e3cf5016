"""The main window: wires the canvas, panels, filmstrip and the fit runner together."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from PySide6.QtCore import QByteArray, QEvent, QObject, QSettings, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QGuiApplication, QImage, QKeySequence
from PySide6.QtWidgets import (QApplication, QFileDialog, QInputDialog, QLabel,
                               QAbstractSpinBox, QComboBox, QLineEdit, QMainWindow, QMenu,
                               QMessageBox, QScrollArea, QSplitter, QToolBar, QVBoxLayout,
                               QWidget, QFrame, QSizePolicy)

from app.model.document import Document
from app.model.history import Snapshot
from app.model.task import TASK_LABELS, TaskSettings
from app.ui.canvas import TOOL_BRUSH, TOOL_ERASER, TOOL_PAN, Canvas
from app.ui.filmstrip import CURRENT, ORIGINAL, RESULT_TIP, CompareBar, Filmstrip, key_label
from app.ui.layers import PictureLayer
from app.ui.panels import Banner, MaskPanel, RunPanel, TaskPanel
from app.ui.projects import PROJECT_FILTER, ProjectManager
from app.ui.resources import icon
from app.worker import FitRunner

# what dip_engine.imageio reads (imageio/formats.py), in both cases: camera files are often upper case
PICTURE_TYPES = "png jpg jpeg tif tiff webp bmp heic heif hif avif".split()
RAW_TYPES = "dng cr2 cr3 crw nef nrw arw srf sr2 raf orf rw2 pef srw x3f 3fr iiq erf kdc mef mos mrw raw rwl".split()
_GLOBS = {name: " ".join(f"*.{e} *.{e.upper()}" for e in types)
          for name, types in (("photos", PICTURE_TYPES + RAW_TYPES), ("raw", RAW_TYPES))}
IMAGE_FILTER = f"Photos ({_GLOBS['photos']});;Camera RAW ({_GLOBS['raw']});;All files (*)"
SAVE_FILTERS = {"PNG (lossless) (*.png)": ".png", "TIFF (lossless) (*.tif *.tiff)": ".tif",
                "JPEG (*.jpg *.jpeg)": ".jpg", "WebP (*.webp)": ".webp"}
MAX_RECENT = 10
BRUSH_FRACTION = 0.02        # a new photo's brush: this share of its shorter side (at least 3 px)
# what a run keeps when stopped before it is useful (the engine decides, Step.extra["kept"])
KEPT_LABELS = {"original": "original", "lanczos": "Lanczos upscale", "classical fill": "classical fill"}
FALLBACKS = {"denoise": "the original", "jpeg": "the original", "sr": "the Lanczos upscale",
             "inpaint": "the classical fill"}
TOOL_HINTS = {
    TOOL_BRUSH: "Brush: paint what should be filled  ·  [ ] or Alt+wheel size  ·  E eraser  ·  "
                "Space+drag pan  ·  Ctrl+Z undo",
    TOOL_ERASER: "Eraser: remove mask  ·  [ ] or Alt+wheel size  ·  P brush  ·  Space+drag pan  ·  Ctrl+Z undo",
    TOOL_PAN: "Drag or middle mouse to pan  ·  wheel zoom  ·  Ctrl+0 fit  ·  Ctrl+1 100 %  ·  hold Tab for the original",
}


def _is_text_input(w) -> bool:
    return isinstance(w, (QLineEdit, QAbstractSpinBox, QComboBox))


def result_iteration(p) -> int | None:
    """The iteration whose output is the result (the engine's number; older engines: the last)."""
    if p is None or p.kept:      # a kept fallback is no iteration's output
        return None
    return p.result_iteration if p.result_iteration is not None else p.iteration


def parts_phrase(indices: list[int], parts: int | None) -> str:
    """0-based part indices as words: 'Part 3 of 4', 'Parts 2–4 of 4', 'Parts 1, 3 and 5 of 6'."""
    ns = sorted({i + 1 for i in indices})
    of = f" of {parts}" if parts else ""
    if len(ns) == 1:
        return f"Part {ns[0]}{of}"
    if ns == list(range(ns[0], ns[-1] + 1)):
        return f"Parts {ns[0]}–{ns[-1]}{of}"
    return f"Parts {', '.join(map(str, ns[:-1]))} and {ns[-1]}{of}"


def finish_message(stopped_by: str | None, p) -> tuple[str, str]:
    """The sentence that ends a run and the banner's kind, in the run's one numbering."""
    it = p.iteration if p else 0
    rit = result_iteration(p)
    kind = "success"
    if p is not None and p.kept:
        kept = KEPT_LABELS.get(p.kept, p.kept)
        msg = p.kept_message or f"Stopped at iteration {it}: too early to be useful; the {kept} is kept."
        kind = "info"
    elif stopped_by == "auto":
        msg = f"Stopped at the quality peak: the result is iteration {rit}" + \
              (f" (the run went on to {it} to make sure)." if rit != it else ".")
    elif stopped_by == "user":
        msg = f"Stopped at iteration {it}; " + \
              (f"the result is iteration {rit}, the best so far." if rit != it else "the result so far is kept.")
    elif stopped_by == "iterations":
        msg = f"Finished all {it} iterations" + (f"; the result is iteration {rit}, the quality peak." if rit != it
                                                 else ".")
    else:
        msg = f"Finished at iteration {it}."
    if p is not None and p.unfinished_parts and "part" not in msg.lower():
        n = len(p.unfinished_parts)
        msg += f" {parts_phrase(p.unfinished_parts, p.parts)} kept the input: the run stopped before " + \
               ("it." if n == 1 else "them.")
        kind = "info"
    return msg, kind


class MainWindow(QMainWindow):
    photoLoaded = Signal(str)
    resultReady = Signal()

    def __init__(self, settings: QSettings | None = None, parent=None):
        super().__init__(parent)
        self.setWindowTitle("DIP Studio")
        self.setObjectName("MainWindow")
        self.settings = settings or QSettings()
        self.confirm = self._confirm_dialog          # tests may replace (title, text) -> bool
        self.document = Document()
        self.base_layer: PictureLayer | None = None
        self.frame = None                             # newest worker Frame
        self.frame_layer: PictureLayer | None = None
        self.frames_received = 0
        self.view_mode = "single"
        self.src_a = ORIGINAL
        self.src_b = CURRENT
        self._closing = False
        self._peek_keys: set[int] = set()
        self._sizing_brush = False
        self._was_usable = True
        self.recent: list[str] = []
        self.runner = FitRunner(self)
        self._build_actions()
        self._build_ui()
        self._build_menus()
        self._connect()
        self.projects = ProjectManager(self.document, self.runner, self)   # after _connect: it sees a
        # finished run's result in the document
        self.actions_["embed_photo"].setChecked(self.projects.embed_photo())
        self._restore_settings()
        self._update_actions()
        self.setAcceptDrops(True)
        QApplication.instance().installEventFilter(self)

    # ================================================================ construction
    def _act(self, key, text, shortcut=None, icon_name=None, tip=None, checkable=False, slot=None):
        a = QAction(text, self)
        if shortcut:
            if isinstance(shortcut, (list, tuple)):
                a.setShortcuts([QKeySequence(s) for s in shortcut])
            else:
                a.setShortcut(QKeySequence(shortcut))
        if icon_name:
            a.setIcon(icon(icon_name))
        tip = tip or text.replace("&", "").rstrip(".…")
        if shortcut:
            sc = shortcut[0] if isinstance(shortcut, (list, tuple)) else shortcut
            tip += f"  ({QKeySequence(sc).toString(QKeySequence.SequenceFormat.NativeText)})"
        a.setToolTip(tip)
        a.setStatusTip(tip)
        a.setCheckable(checkable)
        if slot is not None:
            self._slots.append(((a.toggled if checkable else a.triggered), slot))
        self.addAction(a)
        self.actions_[key] = a
        return a

    def _build_actions(self) -> None:
        self.actions_: dict[str, QAction] = {}
        self._slots = []          # connected once the widgets exist
        A = self._act
        A("open", "&Open Photo…", QKeySequence.StandardKey.Open, "open", slot=self.open_dialog)
        A("paste", "&Paste Photo", QKeySequence.StandardKey.Paste, slot=self.paste)
        A("save", "&Save Result…", QKeySequence.StandardKey.Save, "save", slot=self.save_result_dialog)
        A("save_snapshot", "Save Shown &Snapshot…", None, "save", slot=self.save_snapshot_dialog)
        A("save_compare", "Save &Comparison Image…", None, slot=self.save_comparison_dialog)
        A("batch", "&Batch…", None, tip="Restore a whole folder of photos with the current task and settings",
          slot=self.open_batch)
        A("open_project", "Open Pro&ject…", "Ctrl+Shift+O", "open",
          "Open a project: photo, mask, settings, history and the saved run", slot=self.open_project_dialog)
        A("save_project", "Save Pro&ject", "Ctrl+Alt+S", "save",
          "Save photo, mask, settings, history and the run's state in one file", slot=self.save_project)
        A("save_project_as", "Save Project &As…", "Ctrl+Shift+S", slot=self.save_project_as_dialog)
        A("embed_photo", "Keep a Copy of the Photo in Projects", None,
          "On: projects hold the photo. Off: they refer to the photo file by path and checksum",
          checkable=True, slot=self._set_embed_photo)
        A("load_mask", "Load…", None, "mask-load", "Load a mask PNG (white = fill)", slot=self.load_mask_dialog)
        A("save_mask", "Save…", None, "mask-save", "Save the mask as a lossless PNG (white = fill)",
          slot=self.save_mask_dialog)
        A("quit", "&Quit", QKeySequence.StandardKey.Quit, slot=self.close)
        A("undo", "&Undo", QKeySequence.StandardKey.Undo, "undo", slot=self.undo)
        A("redo", "&Redo", ["Ctrl+Shift+Z", "Ctrl+Y"], "redo", slot=self.redo)
        A("clear_mask", "Clear", None, "clear", "Clear the whole mask", slot=self.clear_mask)
        A("invert_mask", "Invert", None, "invert", "Invert the mask", slot=self.invert_mask)
        A("grow_mask", "Grow", None, "grow", "Grow the mask outwards", slot=self.grow_mask)
        A("shrink_mask", "Shrink", None, "shrink", "Shrink the mask inwards", slot=self.shrink_mask)
        A("make_result", "Make Shown Snapshot the Result", None, "check",
          "Use the snapshot being looked at as the result (saved with Ctrl+S)", slot=self.make_shown_result)
        A("use_result", "Use Result as Photo", None, tip="Continue working on the result: it becomes the photo",
          slot=self.use_result_as_photo)
        A("fit", "Fit to Window", "Ctrl+0", "fit", slot=self.fit_view)
        A("actual", "Actual Size (100 %)", "Ctrl+1", "zoom100", slot=self.actual_size)
        A("zoom_in", "Zoom In", QKeySequence.StandardKey.ZoomIn, slot=lambda: self._zoom(1.25))
        A("zoom_out", "Zoom Out", QKeySequence.StandardKey.ZoomOut, slot=lambda: self._zoom(0.8))
        A("show_mask", "Show Mask", "M", "eye", "Show or hide the mask overlay", checkable=True,
          slot=self.set_mask_visible)
        self.actions_["show_mask"].setChecked(True)
        A("view_single", "Single View", None, "single", "Show one picture", checkable=True,
          slot=lambda on: on and self.set_view_mode("single"))
        A("view_split", "Split Compare", None, "split", "Compare two pictures with a draggable divider",
          checkable=True, slot=lambda on: on and self.set_view_mode("split"))
        A("view_side", "Side by Side", None, "sidebyside", "Compare two pictures side by side (zoom and pan stay in sync)",
          checkable=True, slot=lambda on: on and self.set_view_mode("side"))
        g = QActionGroup(self)
        for k in ("view_single", "view_split", "view_side"):
            g.addAction(self.actions_[k])
        self.actions_["view_single"].setChecked(True)
        A("brush", "Brush", "P", "brush", "Paint the mask", checkable=True,
          slot=lambda on: on and self.set_tool(TOOL_BRUSH))
        A("eraser", "Eraser", "E", "eraser", "Erase the mask", checkable=True,
          slot=lambda on: on and self.set_tool(TOOL_ERASER))
        A("pan", "Hand", "H", "pan", "Pan the view", checkable=True, slot=lambda on: on and self.set_tool(TOOL_PAN))
        tg = QActionGroup(self)
        for k in ("brush", "eraser", "pan"):
            tg.addAction(self.actions_[k])
        self.actions_["pan"].setChecked(True)
        A("brush_smaller", "Smaller Brush", "[", slot=lambda: self.canvas.step_brush(-1))
        A("brush_larger", "Larger Brush", "]", slot=lambda: self.canvas.step_brush(1))
        A("run", "&Restore", ["Ctrl+Return", "Ctrl+R"], "play", "Start restoring with the chosen task",
          slot=self.start_run)
        A("pause", "Pause", "Ctrl+P", "pause", "Pause or resume the run", slot=self.toggle_pause)
        A("stop", "Stop", "Esc", "stop", "Stop and keep the best result so far (or the starting picture, if it is too early)", slot=self.stop_run)
        A("continue", "&Continue Run", "Ctrl+Shift+Return", "play",
          "Continue the last run from where it stopped (same settings)", slot=self.continue_run)
        A("reset_settings", "Reset Settings…", None, slot=self.reset_settings)
        A("shortcuts", "Keyboard Shortcuts", "F1", slot=self.show_shortcuts)
        A("about", "About DIP Studio", None, slot=self.show_about)

    def _build_ui(self) -> None:
        central = QWidget()
        central.setObjectName("Central")
        v = QVBoxLayout(central)
        v.setContentsMargins(0, 0, 0, 0)
        v.setSpacing(0)
        self.banner = Banner(central)      # floats over the canvas: messages never move the photo
        self.canvas = Canvas()
        self.canvas2 = Canvas()          # right-hand view for side by side
        self.canvas2.hide()
        self.canvas_split = QSplitter(Qt.Orientation.Horizontal)
        self.canvas_split.setObjectName("CanvasSplit")
        self.canvas_split.setChildrenCollapsible(False)
        self.canvas_split.addWidget(self.canvas)
        self.canvas_split.addWidget(self.canvas2)
        v.addWidget(self.canvas_split, 1)
        self.banner.float_over(self.canvas_split)
        self.compare_bar = CompareBar(self.actions_)
        self.compare_bar.hide()           # shown with a photo, so the canvas keeps its size when a run starts
        v.addWidget(self.compare_bar)
        self.filmstrip = Filmstrip()
        v.addWidget(self.filmstrip)

        # side panel: settings scroll, the run controls stay pinned at the bottom
        side = QWidget()
        side.setObjectName("SidePanel")
        sv = QVBoxLayout(side)
        sv.setContentsMargins(16, 14, 16, 12)
        sv.setSpacing(12)
        self.task_panel = TaskPanel()
        self._holes_timer = QTimer(self, singleShot=True, interval=250)
        self._holes_timer.timeout.connect(self._measure_holes)
        sv.addWidget(self.task_panel)
        self.mask_sep = self._separator()
        sv.addWidget(self.mask_sep)
        self.mask_panel = MaskPanel(self.actions_)
        sv.addWidget(self.mask_panel)
        sv.addStretch(1)
        scroll = QScrollArea()
        scroll.setObjectName("SideScroll")
        scroll.setWidget(side)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.side_scroll = scroll
        run_box = QWidget()
        run_box.setObjectName("RunBox")
        rv = QVBoxLayout(run_box)
        rv.setContentsMargins(16, 10, 16, 14)
        self.run_panel = RunPanel(self.actions_)
        rv.addWidget(self.run_panel)
        dock = QWidget()
        dock.setObjectName("SideDock")
        dv = QVBoxLayout(dock)
        dv.setContentsMargins(0, 0, 0, 0)
        dv.setSpacing(0)
        dv.addWidget(scroll, 1)
        dv.addWidget(self._separator())
        dv.addWidget(run_box)
        dock.setMinimumWidth(340)
        dock.setMaximumWidth(460)
        self.side_dock = dock

        self.main_split = QSplitter(Qt.Orientation.Horizontal)
        self.main_split.setObjectName("MainSplit")
        self.main_split.addWidget(central)
        self.main_split.addWidget(dock)
        self.main_split.setStretchFactor(0, 1)
        self.main_split.setStretchFactor(1, 0)
        self.main_split.setCollapsible(0, False)
        self.main_split.setSizes([1000, 350])
        self.setCentralWidget(self.main_split)

        tb = QToolBar("Main")
        tb.setObjectName("MainToolbar")
        tb.setMovable(False)
        tb.setIconSize(QSize(20, 20))
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        for k in ("open", "save", None, "undo", "redo", None, "brush", "eraser", "pan", None, "fit", "actual",
                  None, "view_single", "view_split", "view_side"):
            if k is None:
                tb.addSeparator()
            else:
                tb.addAction(self.actions_[k])
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        tb.addWidget(spacer)
        self.title_label = QLabel("")
        self.title_label.setObjectName("DocTitle")
        tb.addWidget(self.title_label)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, tb)
        self.toolbar = tb

        sb = self.statusBar()
        sb.setSizeGripEnabled(False)
        self.hint_label = QLabel("")
        self.hint_label.setObjectName("StatusHint")
        sb.addWidget(self.hint_label, 1)
        self.pos_label = QLabel("")
        self.zoom_label = QLabel("")
        self.info_label = QLabel("")
        for w in (self.pos_label, self.info_label, self.zoom_label):
            w.setObjectName("StatusInfo")
            sb.addPermanentWidget(w)

    def _separator(self) -> QFrame:
        f = QFrame()
        f.setObjectName("Separator")
        f.setFrameShape(QFrame.Shape.HLine)
        f.setFixedHeight(1)
        return f

    def _build_menus(self) -> None:
        a = self.actions_
        mb = self.menuBar()
        m = mb.addMenu("&File")
        m.addAction(a["open"])
        self.recent_menu = m.addMenu("Open &Recent")
        m.addAction(a["paste"])
        m.addAction(a["open_project"])
        m.addAction(a["batch"])
        m.addSeparator()
        m.addAction(a["save"])
        m.addAction(a["save_snapshot"])
        m.addAction(a["save_compare"])
        m.addSeparator()
        m.addAction(a["save_project"])
        m.addAction(a["save_project_as"])
        m.addAction(a["embed_photo"])
        m.addSeparator()
        mm = m.addMenu("Mask")
        mm.addAction(a["load_mask"])
        mm.addAction(a["save_mask"])
        m.addSeparator()
        m.addAction(a["quit"])
        m = mb.addMenu("&Edit")
        for k in ("undo", "redo", None, "clear_mask", "invert_mask", "grow_mask", "shrink_mask", None, "make_result",
                  "use_result"):
            m.addSeparator() if k is None else m.addAction(a[k])
        m = mb.addMenu("&View")
        for k in ("fit", "actual", "zoom_in", "zoom_out", None, "show_mask", None, "view_single", "view_split",
                  "view_side"):
            m.addSeparator() if k is None else m.addAction(a[k])
        m = mb.addMenu("&Tools")
        for k in ("brush", "eraser", "pan", None, "brush_smaller", "brush_larger"):
            m.addSeparator() if k is None else m.addAction(a[k])
        m = mb.addMenu("&Run")
        for k in ("run", "continue", "pause", "stop"):
            m.addAction(a[k])
        m = mb.addMenu("&Settings")
        m.addAction(a["reset_settings"])
        m = mb.addMenu("&Help")
        m.addAction(a["shortcuts"])
        m.addAction(a["about"])
        self._rebuild_recent()

    def _connect(self) -> None:
        for signal, slot in self._slots:
            signal.connect(slot)
        c = self.canvas
        c.zoomChanged.connect(self._show_zoom)
        c.cursorMoved.connect(self._show_pos)
        c.brushSizeChanged.connect(self._brush_size_changed)
        c.maskEdited.connect(self._mask_edited)
        c.fileDropped.connect(self.open_path)
        c.openRequested.connect(self.open_dialog)
        c.viewChanged.connect(lambda z, x, y: self.view_mode == "side" and self.canvas2.set_view(z, x, y))
        self.canvas2.viewChanged.connect(lambda z, x, y: self.view_mode == "side" and self.canvas.set_view(z, x, y))
        self.canvas2.zoomChanged.connect(lambda z: self.view_mode == "side" and self._show_zoom(z))
        self.canvas2.fileDropped.connect(self.open_path)
        self.mask_panel.sizeChanged.connect(lambda s: self.canvas.set_brush_size(s))
        self.mask_panel.opacityChanged.connect(self.canvas.set_mask_opacity)
        self.task_panel.taskChanged.connect(self._task_changed)
        self.task_panel.changed.connect(self._settings_edited)
        d = self.document
        d.on("settings", self._show_settings)
        d.on("photo", self._show_document)
        d.on("mask", lambda _bbox: self._mask_changed())
        d.on("history", self._show_snapshot)
        d.on("result", self._update_actions)
        d.on("run", self._update_actions)
        self.task_panel.lr_spin.valueChanged.connect(self._lr_changed)
        self.filmstrip.activatedKey.connect(self._filmstrip_activated)
        self.filmstrip.menuRequested.connect(self._filmstrip_menu)
        self.compare_bar.sourcesChanged.connect(self._sources_picked)
        r = self.runner
        r.progressed.connect(self._on_progress)
        r.lossesAdded.connect(self.run_panel.curve.add)
        r.frameReady.connect(self._on_frame)
        r.snapshotAdded.connect(self.document.add_snapshot)
        r.notesAdded.connect(self._on_notes)
        r.pausedChanged.connect(self._on_paused)
        r.finished.connect(self._on_finished)
        r.failed.connect(self._on_failed)

    # ================================================================ settings
    def _restore_settings(self) -> None:
        s = self.settings
        geo = s.value("window/geometry")
        if isinstance(geo, QByteArray) and not geo.isEmpty():
            self.restoreGeometry(geo)
        else:
            scr = QGuiApplication.primaryScreen()
            if scr is not None:
                av = scr.availableGeometry()
                self.resize(min(1360, av.width()), min(860, av.height()))
                self.move(av.topLeft())
        state = s.value("window/state")
        if isinstance(state, QByteArray) and not state.isEmpty():
            self.restoreState(state)
        split = s.value("window/split")
        if isinstance(split, QByteArray) and not split.isEmpty():
            self.main_split.restoreState(split)
        recent = s.value("recent", [])
        if isinstance(recent, str):
            recent = [recent]
        self.recent = [p for p in (recent or []) if isinstance(p, str)][:MAX_RECENT]
        self._rebuild_recent()
        try:
            size = float(s.value("brush/size", 40))
        except (TypeError, ValueError):
            size = 40.0
        self.canvas.set_brush_size(size)
        self.mask_panel.set_size(self.canvas.brush_size)
        try:
            opacity = float(s.value("mask/opacity", 0.55))
        except (TypeError, ValueError):
            opacity = 0.55
        self.mask_panel.set_opacity(opacity)
        self.canvas.set_mask_opacity(opacity)
        raw = s.value("task/settings", "")
        try:
            ts = TaskSettings.from_dict(json.loads(raw) if raw else None)
        except (TypeError, ValueError):
            ts = TaskSettings()
        self.task_panel.set_settings(ts)
        self.document.set_settings(self.task_panel.settings())
        adv = s.value("task/advanced_open", False)
        self.task_panel.advanced.set_expanded(adv in (True, "true"))
        self._task_changed(ts.task)

    def _settings_edited(self) -> None:
        self.document.set_settings(self.task_panel.settings())
        self._save_task_settings()

    def _save_task_settings(self) -> None:
        self.settings.setValue("task/settings", json.dumps(self.document.settings.to_dict()))

    def _show_settings(self) -> None:
        """Settings that did not come from the panel (a project, a reset) show in it."""
        if self.task_panel.settings() != self.document.settings:
            self.task_panel.set_settings(self.document.settings)
            self._task_changed(self.document.settings.task)
            self.document.set_settings(self.task_panel.settings())

    def save_settings(self) -> None:
        s = self.settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.setValue("window/split", self.main_split.saveState())
        s.setValue("recent", self.recent)
        s.setValue("brush/size", self.canvas.brush_size)
        s.setValue("mask/opacity", self.canvas.mask_opacity)
        s.setValue("task/advanced_open", self.task_panel.advanced.is_expanded())
        self._save_task_settings()
        s.sync()

    def last_folder(self) -> str:
        f = self.settings.value("lastFolder", "")
        return f if isinstance(f, str) and f and os.path.isdir(f) else str(Path.home())

    def _set_last_folder(self, path: str) -> None:
        self.settings.setValue("lastFolder", str(Path(path).parent))

    def reset_settings(self) -> None:
        if not self.confirm("Reset settings",
                            "Reset all settings (window layout, recent files, brush, task and presets) to their defaults?"):
            return
        self.settings.clear()
        self.settings.sync()
        self.recent = []
        self._rebuild_recent()
        self.task_panel.set_settings(TaskSettings())
        self.document.set_settings(self.task_panel.settings())
        self.task_panel.advanced.set_expanded(False)
        self._task_changed(TaskSettings().task)
        if self.document.photo is not None:
            self._brush_from_fraction()
        else:
            self.canvas.set_brush_size(40)
            self.mask_panel.set_size(40)
        self.mask_panel.set_opacity(0.55)
        self.main_split.setSizes([max(400, self.width() - 350), 350])
        self.notify("Settings were reset to their defaults.", "info")

    # ---------------------------------------------------------------- recent files
    def _add_recent(self, path: str) -> None:
        path = str(Path(path).resolve())
        self.recent = [path] + [p for p in self.recent if p != path]
        self.recent = self.recent[:MAX_RECENT]
        self.settings.setValue("recent", self.recent)
        self._rebuild_recent()

    def _rebuild_recent(self) -> None:
        if not hasattr(self, "recent_menu"):
            return
        m = self.recent_menu
        m.clear()
        for i, p in enumerate(self.recent):
            act = m.addAction(f"&{i + 1}  {Path(p).name}" if i < 9 else Path(p).name)
            act.setToolTip(p)
            act.setStatusTip(p)
            act.triggered.connect(lambda _=False, path=p: self.open_path(path))
        if self.recent:
            m.addSeparator()
            m.addAction("Clear Recent Files", self._clear_recent)
        m.setEnabled(bool(self.recent))

    def _clear_recent(self) -> None:
        self.recent = []
        self.settings.setValue("recent", [])
        self._rebuild_recent()

    # ================================================================ messages
    def notify(self, text: str, kind: str = "info") -> None:
        """A message in the window: errors stay until dismissed, notices fade after a while."""
        self.banner.show_message(text, kind)
        self.flash(text)
        if kind != "error":
            QTimer.singleShot(10000, self.banner, lambda t=text: self.banner.text.text() == t and self.banner.kind != "error"
                              and self.banner.hide())

    def flash(self, text: str, ms: int = 6000) -> None:
        """A short message in the status bar's hint area; the tool hint comes back afterwards."""
        self.hint_label.setText(text)
        QTimer.singleShot(ms, self.hint_label, lambda t=text: self.hint_label.text() == t and self._update_hint())

    def show_error(self, text: str) -> None:
        self.notify(text, "error")

    def may_discard_result(self, title: str, doing: str) -> bool:
        """True when nothing unsaved would be lost, or the user agrees to lose it. Every path
        that replaces the result (open, drop, paste, recent file, project, new run, quit) asks here."""
        if not self.document.unsaved_result:
            return True
        return self.confirm(title, f"The current result is not saved. {doing}")

    def _confirm_dialog(self, title: str, text: str) -> bool:
        r = QMessageBox.question(self, title, text, QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                 QMessageBox.StandardButton.No)
        return r == QMessageBox.StandardButton.Yes

    # ================================================================ opening
    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open photo", self.last_folder(), IMAGE_FILTER)
        if path:
            self.open_path(path)

    def open_path(self, path: str) -> bool:
        if self.runner.busy:
            self.show_error("A restoration is running: stop it before opening another photo.")
            return False
        if str(path).lower().endswith(".dipproj"):
            return self.open_project(path)
        if not self.may_discard_result("Open another photo",
                                       f"Open {Path(path).name} and discard the result?"):
            return False
        from dip_engine import imageio
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            photo = imageio.load_image(path)
        except imageio.ImageError as e:
            msg = str(e).strip().splitlines()[0] if str(e).strip() else "unreadable file"
            for prefix in (f"{path}: ", f"{Path(path)}: ", f"{Path(path).resolve()}: "):
                msg = msg.replace(prefix, "")
            self.show_error(f"Could not open {Path(path).name}: {msg}")
            return False
        except MemoryError:
            self.show_error(f"Could not open {Path(path).name}: not enough memory for a photo this large.")
            return False
        except Exception as e:  # noqa: BLE001 - a message, never a traceback dialog
            self.show_error(f"Could not open {Path(path).name}: {type(e).__name__}: {e}")
            return False
        finally:
            QApplication.restoreOverrideCursor()
        try:
            self.set_photo(photo, path)
        except MemoryError:
            self.show_error(f"Could not show {Path(path).name}: not enough memory for a photo this large.")
            return False
        self._set_last_folder(path)
        self._add_recent(path)
        if getattr(photo, "developed", None):   # a camera RAW file: say how it was turned into a photo
            self.notify(photo.developed, "info")
        self.photoLoaded.emit(path)
        return True

    def paste(self) -> None:
        md = QApplication.clipboard().mimeData()
        if md is None:
            return
        if md.hasUrls():
            for u in md.urls():
                if u.isLocalFile() and os.path.isfile(u.toLocalFile()):
                    self.open_path(u.toLocalFile())
                    return
        if md.hasText() and os.path.isfile(md.text().strip()):
            self.open_path(md.text().strip())
            return
        if md.hasImage():
            img = QApplication.clipboard().image()
            if img.isNull():
                self.show_error("The clipboard holds no picture.")
                return
            if not self.may_discard_result("Paste a photo", "Paste the picture and discard the result?"):
                return
            fd, tmp = tempfile.mkstemp(suffix=".png", prefix="dip-paste-")
            os.close(fd)
            try:
                if not img.save(tmp, "PNG"):
                    self.show_error("Could not read the picture on the clipboard.")
                    return
                from dip_engine import imageio
                try:
                    photo = imageio.load_image(tmp)
                except Exception as e:  # noqa: BLE001
                    self.show_error(f"Could not read the picture on the clipboard: {e}")
                    return
                self.set_photo(photo, None, name="Pasted image")
            finally:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
            return
        self.show_error("The clipboard holds no picture or photo file to paste.")

    def set_photo(self, photo, path: str | None, name: str | None = None) -> None:
        self.document.load(photo, path, name)

    def _show_document(self) -> None:
        """A new photo or project in the document: show it from scratch."""
        doc = self.document
        photo = doc.photo
        self.base_layer = PictureLayer(doc.display, self._scene_rect())
        self.canvas.set_scene(photo.width, photo.height, [self.base_layer])
        self.canvas2.set_scene(photo.width, photo.height, [self.base_layer])
        self.canvas.set_mask(doc.mask)
        self._brush_from_fraction()
        self.frame = None
        self.frame_layer = None
        self.filmstrip.reset_strip(doc.thumb)
        for snap in doc.history:
            self.filmstrip.add_snapshot(snap)
        if len(doc.history):         # a saved run: its last picture is the current one
            last = doc.history[-1]
            self.frame_layer = PictureLayer(last.display, self._region_rect(last.region), build_pyramid=False)
            self.filmstrip.set_current(last.thumb, "Result" if doc.result is not None else "Saved run")
        self.compare_bar.show()
        self.src_a, self.src_b = ORIGINAL, CURRENT
        self.run_panel.reset(active=False)
        self.banner.hide()
        self.set_view_mode("single")
        self.title_label.setText(doc.name)
        self.setWindowTitle(f"{doc.name} — DIP Studio")
        self._mask_changed()
        self._task_changed(doc.settings.task)
        it = doc.checkpoint_iteration
        if doc.resume_next and it:
            self.run_panel.message.setText(f"Saved run at iteration {it}: Restore continues it.")

    def _scene_rect(self):
        from PySide6.QtCore import QRectF
        return QRectF(0, 0, self.document.photo.width, self.document.photo.height)

    # ================================================================ view
    def fit_view(self) -> None:
        self.canvas.fit()

    def actual_size(self) -> None:
        """100 %: one screen pixel per pixel of the picture shown (an SR result's own pixels)."""
        self.canvas.actual_size(self.shown_scale())

    def shown_scale(self) -> float:
        """Pixels of the shown picture per photo pixel: the SR factor for a result or snapshot."""
        key = self.src_b
        if key == ORIGINAL or self.document.job is None:
            return 1.0
        if key == CURRENT and self.frame_layer is None and self.document.result is None:
            return 1.0
        return float(self.document.out_scale)

    def _zoom(self, f: float) -> None:
        self.canvas.zoom_by(f)

    def _show_zoom(self, z: float | None = None) -> None:
        z = self.canvas.zoom if z is None else z
        self.zoom_label.setText(f"{z / self.shown_scale() * 100:.0f} %")

    def _show_info(self) -> None:
        """The status bar's size: the shown picture's (an SR result is larger than the photo)."""
        photo = self.document.photo
        if photo is None:
            self.info_label.setText("")
            return
        bits = getattr(photo, "bit_depth", 8)
        ch = photo.data.shape[2] if photo.data.ndim == 3 else 1
        kind = {1: "gray", 2: "gray + alpha", 3: "RGB", 4: "RGBA"}.get(ch, f"{ch} ch")
        icc = " · ICC" if self.document.converter.manages_colour else ""
        scale = self.shown_scale()
        if scale != 1.0:
            w, h = round(photo.width * scale), round(photo.height * scale)
            size = f"{w} × {h} ({scale:g}× of {photo.width} × {photo.height})"
        else:
            size = f"{photo.width} × {photo.height}"
        self.info_label.setText(f"{size} · {bits}-bit {kind}{icc}")

    def _show_pos(self, pos) -> None:
        self.pos_label.setText("" if pos is None else f"x {pos[0]}  y {pos[1]}")

    def set_view_mode(self, mode: str) -> None:
        self.view_mode = mode
        key = {"single": "view_single", "split": "view_split", "side": "view_side"}[mode]
        if not self.actions_[key].isChecked():
            self.actions_[key].setChecked(True)
        self.canvas2.setVisible(mode == "side")
        if mode != "single" and self.document.photo is not None:
            self.compare_bar.show()
        if mode == "side":
            self.canvas_split.setSizes([1, 1])
            self.canvas2.set_view(self.canvas.zoom, self.canvas.cx, self.canvas.cy)
        self.compare_bar.set_mode(mode)
        self._refresh_view()
        if mode == "side":
            QTimer.singleShot(0, self.canvas.fit)

    def set_sources(self, a, b) -> None:
        """Pick what is compared: ORIGINAL, CURRENT or a Snapshot (A = left, B = right/shown)."""
        self.src_a, self.src_b = a, b
        self._refresh_view()

    def _sources_picked(self, a, b) -> None:
        if a is not None and b is not None:
            self.src_a, self.src_b = a, b
            self._refresh_view(update_bar=False)

    def _current_label(self) -> str:
        if self.runner.busy:
            if self.frame is not None and self.frame.iteration == 0 and self.document.job is not None:
                return f"Starting point: {FALLBACKS.get(self.document.job.task, 'the original')}"
            return "Live"
        if self.document.result is not None:
            if self.document.result_snapshot is not None:
                return f"Result (iteration {self.document.result_iteration})"
            p = self.document.outcome.progress if self.document.outcome else None
            if p is not None and p.kept:
                where = f" in {parts_phrase(p.unfinished_parts, p.parts).lower()}" \
                    if p.unfinished_parts and p.parts and len(p.unfinished_parts) < p.parts else ""
                return f"Result ({KEPT_LABELS.get(p.kept, p.kept)} kept{where})"
            it = result_iteration(p)
            return f"Result (iteration {it})" if it is not None else "Result"
        return "Current"

    def label_for(self, key) -> str:
        return key_label(key, self._current_label())

    def layers_for(self, key) -> list:
        if self.base_layer is None:
            return []
        if key == ORIGINAL:
            return [self.base_layer]
        if key == CURRENT:
            if self.document.result_snapshot is not None and not self.runner.busy:
                return self.layers_for(self.document.result_snapshot)
            return [self.base_layer] + ([self.frame_layer] if self.frame_layer is not None else [])
        if isinstance(key, Snapshot):
            layer = key.cache.get("layer")
            if layer is None:
                layer = PictureLayer(key.display, self._region_rect(key.region), build_pyramid=True)
                key.cache["layer"] = layer
            return [self.base_layer, layer]
        return [self.base_layer]

    def _region_rect(self, region):
        from PySide6.QtCore import QRectF
        t, l, b, r = region
        s = self.document.out_scale
        return QRectF(l / s, t / s, (r - l) / s, (b - t) / s)

    def _refresh_view(self, update_bar: bool = True) -> None:
        if self.base_layer is None:
            return
        if self.src_b not in (ORIGINAL, CURRENT) and self.document.history.index_of(self.src_b) < 0 \
                and self.src_b is not self.document.result_snapshot:
            self.src_b = CURRENT
        if self.src_a not in (ORIGINAL, CURRENT) and self.document.history.index_of(self.src_a) < 0 \
                and self.src_a is not self.document.result_snapshot:
            self.src_a = ORIGINAL
        mode = self.view_mode
        la, lb = self.label_for(self.src_a), self.label_for(self.src_b)
        if mode == "single":
            self.canvas.set_layers(self.layers_for(self.src_b), "" if self.src_b == CURRENT and self.frame_layer is None else lb)
            self.canvas.set_compare(None)
        elif mode == "split":
            self.canvas.set_layers(self.layers_for(self.src_a), la)
            self.canvas.set_compare(self.layers_for(self.src_b), lb)
        else:
            self.canvas.set_layers(self.layers_for(self.src_a), la)
            self.canvas.set_compare(None)
            self.canvas2.set_layers(self.layers_for(self.src_b), lb)
        # the mask overlay shows on the photo being edited, not on results
        self._update_mask_display()
        if update_bar:
            keys = self.filmstrip.keys()
            if CURRENT not in keys:
                keys = keys + [CURRENT]
            self.compare_bar.set_keys(keys, self.src_a, self.src_b, self._current_label())
        self.filmstrip.select_key(self.src_b)
        if hasattr(self, "actions_") and "make_result" in self.actions_:
            self._update_actions()
        self.run_panel.curve.set_marker(self.src_b.iteration if isinstance(self.src_b, Snapshot) else None)
        self._show_info()
        self._show_zoom()

    def _filmstrip_activated(self, key) -> None:
        self.src_b = key
        if self.view_mode != "single" and self.src_a is key:
            self.src_a = ORIGINAL
        self._refresh_view()

    def _filmstrip_menu(self, key, pos) -> None:
        m = QMenu(self)
        m.addAction("Show", lambda: self._filmstrip_activated(key))
        m.addAction("Compare with Original", lambda: (self.set_sources(ORIGINAL, key), self.set_view_mode("split")))
        if isinstance(key, Snapshot):
            m.addSeparator()
            m.addAction("Save Snapshot…", lambda: self.save_snapshot_dialog(key))
            m.addAction("Make This the Result", lambda: self.make_result(key))
        m.exec(pos)

    # ---------------------------------------------------------------- peek at the original
    def eventFilter(self, obj: QObject, ev: QEvent) -> bool:
        t = ev.type()
        if t in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease) and self.isActiveWindow() \
                or t in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease) and obj in (self.canvas, self.canvas2):
            key = ev.key()
            if key in (Qt.Key.Key_Tab, Qt.Key.Key_Backslash) and not ev.modifiers() & (
                    Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier) \
                    and self.base_layer is not None and not _is_text_input(QApplication.focusWidget()):
                if t == QEvent.Type.KeyPress:
                    self.set_peek(True)
                elif not ev.isAutoRepeat():
                    self.set_peek(False)
                return True
        if t == QEvent.Type.ApplicationDeactivate:
            self.set_peek(False)
        return False

    def set_peek(self, on: bool) -> None:
        self.canvas.set_peek(on)
        self.canvas2.set_peek(on)

    # ================================================================ mask
    def set_tool(self, tool: str) -> None:
        self.canvas.set_tool(tool)
        if tool in (TOOL_BRUSH, TOOL_ERASER):
            if self.task_panel.task() != "inpaint":
                self.task_panel.task_buttons["inpaint"].click()
            if not self.actions_["show_mask"].isChecked():
                self.actions_["show_mask"].setChecked(True)
            if self.view_mode != "single" or self.src_b != ORIGINAL and self.src_b != CURRENT:
                self.set_view_mode("single")
            if self.src_b != ORIGINAL and (self.frame_layer is not None or self.document.result is not None):
                self.set_sources(self.src_a, ORIGINAL)
        key = {TOOL_BRUSH: "brush", TOOL_ERASER: "eraser", TOOL_PAN: "pan"}[tool]
        if not self.actions_[key].isChecked():
            self.actions_[key].setChecked(True)
        self._update_hint()

    def set_mask_visible(self, on: bool) -> None:
        self._update_mask_display()

    def _update_mask_display(self) -> None:
        inpaint = self.task_panel.task() == "inpaint"
        on_photo = self.view_mode == "single" and (self.src_b == ORIGINAL or (self.src_b == CURRENT and self.frame_layer is None
                                                                               and self.document.result is None))
        self.canvas.set_mask_visible(self.actions_["show_mask"].isChecked() and inpaint and on_photo)
        self.canvas.mask_editable = inpaint and not self.runner.busy and on_photo
        self.canvas.update()

    def _brush_size_changed(self, size: float) -> None:
        self.mask_panel.set_size(size)
        self.settings.setValue("brush/size", size)
        if self.document.photo is not None and not self._sizing_brush:
            self.settings.setValue("brush/fraction", size / min(self.document.photo.width, self.document.photo.height))

    def _brush_from_fraction(self) -> None:
        """The brush keeps its share of the photo's shorter side from photo to photo."""
        try:
            frac = float(self.settings.value("brush/fraction", BRUSH_FRACTION))
        except (TypeError, ValueError):
            frac = BRUSH_FRACTION
        if not 0 < frac <= 1:
            frac = BRUSH_FRACTION
        self._sizing_brush = True
        try:
            self.canvas.set_brush_size(max(3, round(frac * min(self.document.photo.width, self.document.photo.height))))
        finally:
            self._sizing_brush = False
        self.mask_panel.set_size(self.canvas.brush_size)

    def _mask_edited(self) -> None:
        self._update_actions()

    def _mask_changed(self) -> None:
        self._holes_timer.start()  # measure the marks' thickness once painting pauses
        mask = self.document.mask
        if mask is not None:
            self.mask_panel.set_info(mask.count(), mask.width * mask.height)
        self._update_actions()

    def _measure_holes(self) -> None:
        from dip_engine import regions
        self.task_panel.set_holes(self.document.mask is not None and regions.large_holes(self.document.mask.array))

    def _mask_op(self, fn) -> None:
        if self.document.mask is None or self.runner.busy:
            return
        fn()
        self._update_actions()

    def undo(self) -> None:
        self._mask_op(self.document.mask.undo if self.document.mask else lambda: None)

    def redo(self) -> None:
        self._mask_op(self.document.mask.redo if self.document.mask else lambda: None)

    def clear_mask(self) -> None:
        self._mask_op(lambda: self.document.mask.clear())

    def invert_mask(self) -> None:
        self._mask_op(lambda: self.document.mask.invert())

    def grow_mask(self) -> None:
        self._mask_op(lambda: self.document.mask.grow(self.mask_panel.grow_spin.value()))

    def shrink_mask(self) -> None:
        self._mask_op(lambda: self.document.mask.shrink(self.mask_panel.grow_spin.value()))

    def load_mask_dialog(self) -> None:
        if self.document.photo is None:
            return
        path, _ = QFileDialog.getOpenFileName(self, "Load mask (white = fill)", self.last_folder(), IMAGE_FILTER)
        if path:
            self.load_mask(path)

    def load_mask(self, path: str) -> bool:
        from dip_engine import imageio
        try:
            mask = imageio.load_mask(path, size=(self.document.photo.width, self.document.photo.height))
        except Exception as e:  # noqa: BLE001
            self.show_error(f"Could not load the mask {Path(path).name}: {e}")
            return False
        self._mask_op(lambda: self.document.mask.set_mask(mask, "Load mask"))
        if self.task_panel.task() != "inpaint":
            self.task_panel.task_buttons["inpaint"].click()
        self.notify(f"Mask loaded from {Path(path).name}.", "info")
        return True

    def save_mask_dialog(self) -> None:
        if self.document.mask is None:
            return
        stem = Path(self.document.name).stem or "photo"
        start = str(Path(self.last_folder()) / f"{stem}_mask.png")
        path, _ = QFileDialog.getSaveFileName(self, "Save mask (white = fill)", start, "PNG (*.png)")
        if path:
            if not Path(path).suffix:
                path += ".png"
            self.save_mask(path, overwrite=os.path.exists(path))

    def save_mask(self, path: str, overwrite: bool = False) -> bool:
        from dip_engine import imageio
        try:
            imageio.save_mask(self.document.mask.array.copy(), path, overwrite=overwrite)
        except Exception as e:  # noqa: BLE001
            self.show_error(f"Could not save the mask: {e}")
            return False
        self.notify(f"Mask saved to {Path(path).name}.", "success")
        return True

    # ================================================================ task
    def _task_changed(self, task: str) -> None:
        inpaint = task == "inpaint"
        self.mask_panel.setVisible(inpaint and self.document.photo is not None)
        self.mask_sep.setVisible(inpaint and self.document.photo is not None)
        if not inpaint and self.canvas.tool != TOOL_PAN:
            self.set_tool(TOOL_PAN)
        elif inpaint and self.document.photo is not None and not self.runner.busy and self.canvas.tool == TOOL_PAN:
            self.set_tool(TOOL_BRUSH)           # choosing Inpaint means painting comes next
        self._update_mask_display()
        self._update_actions()
        self._update_hint()

    def _update_hint(self) -> None:
        if self.document.photo is None:
            self.hint_label.setText("Open a photo: Ctrl+O, drag and drop, or Ctrl+V to paste")
        elif self.runner.busy:
            self.hint_label.setText("Restoring…  Ctrl+P pause  ·  Esc stop (keeps the best so far)  ·  "
                                    "hold Tab for the original")
        else:
            self.hint_label.setText(TOOL_HINTS[self.canvas.tool])

    def _update_actions(self) -> None:
        a = self.actions_
        has = self.document.photo is not None
        busy = self.runner.busy
        inpaint = self.task_panel.task() == "inpaint"
        mm = self.document.mask
        a["save"].setEnabled(self.document.result is not None)
        a["save_snapshot"].setEnabled(has and (len(self.document.history) > 0 or self.document.result is not None))
        a["save_compare"].setEnabled(has)
        a["use_result"].setEnabled(self.document.result is not None and not busy)
        shown = self._shown_snapshot()
        a["make_result"].setEnabled(shown is not None and shown.restorable and not busy
                                    and shown is not self.document.result_snapshot)
        a["save_snapshot"].setEnabled(shown is not None or self.document.result is not None)
        for k in ("load_mask", "save_mask", "clear_mask", "invert_mask", "grow_mask", "shrink_mask"):
            a[k].setEnabled(has and not busy and inpaint)
        a["undo"].setEnabled(bool(mm and mm.can_undo() and not busy))
        a["redo"].setEnabled(bool(mm and mm.can_redo() and not busy))
        a["undo"].setText(f"&Undo {mm.undo_label()}" if mm and mm.can_undo() else "&Undo")
        a["redo"].setText(f"&Redo {mm.redo_label()}" if mm and mm.can_redo() else "&Redo")
        for k in ("brush", "eraser"):
            a[k].setEnabled(has and not busy)       # P / E on another task switch to Inpaint
        for k in ("fit", "actual", "zoom_in", "zoom_out", "view_single", "view_split", "view_side"):
            a[k].setEnabled(has)
        a["run"].setEnabled(has and not busy)
        a["continue"].setEnabled(has and not busy and self.document.checkpoint is not None)
        a["open_project"].setEnabled(not busy)
        a["save_project"].setEnabled(has)
        a["save_project_as"].setEnabled(has)
        a["pause"].setEnabled(busy)
        a["stop"].setEnabled(busy)
        a["open"].setEnabled(not busy)
        a["paste"].setEnabled(not busy)
        self.task_panel.set_running(busy)
        self.mask_panel.setEnabled(not busy)
        self.run_panel.run_button.setEnabled(has and not busy)

    # ================================================================ running
    def build_job(self):
        from dip_engine import restore
        s = self.document.settings
        mask = self.document.mask.array.copy() if (s.task == "inpaint" and self.document.mask is not None) else None
        return restore.Job(photo=self.document.photo, mask=mask, **s.job_kwargs())

    def start_run(self, resume: bool = False) -> bool:
        """Start a run of the panel's settings; it continues the saved run when one was opened
        (or `resume`: the last run) and the settings still match it."""
        if self.runner.busy:
            self.flash("A restoration is already running: stop it (Esc) before starting another.")
            return False
        if self.document.photo is None:
            return False
        from dip_engine import restore
        try:
            job = self.build_job()
            pl = restore.plan(job)            # memory estimate first: refuse before the machine runs out
        except (ValueError, TypeError) as e:
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            self.show_error(msg[:1].upper() + msg[1:])
            return False
        if pl.error:
            self.show_error(f"Not enough memory for this run: {pl.error}.")
            return False
        ckpt = self.projects.resume_for(job, force=resume is True)
        if not self.may_discard_result("Start a new run", "Start a new run and replace it?"):
            return False
        self.banner.hide()
        self.document.start_run(job, resume=ckpt is not None)
        self.frame = None
        self.frame_layer = None
        self.frames_received = 0
        self._was_usable = True
        if ckpt is None:
            self.filmstrip.reset_strip(self.document.thumb)
        self.filmstrip.set_current(self.document.thumb, "Live")
        self.compare_bar.show()
        try:
            total = job.settings().iterations
        except Exception:  # noqa: BLE001
            total = 0
        self.run_panel.reset(total)
        self.src_a, self.src_b = ORIGINAL, CURRENT
        if self.canvas.tool != TOOL_PAN:
            self.set_tool(TOOL_PAN)
        doc = self.document
        self.runner.start(job, doc.converter, doc.history.policy, doc.thumb, doc.out_size, resume=ckpt)
        self.actions_["pause"].setText("Pause")
        self.actions_["pause"].setIcon(icon("pause"))
        self._refresh_view()
        self._update_actions()
        self._update_hint()
        notes = ([f"Continuing the saved run from iteration {ckpt.get('iteration', 0)}."] if ckpt else
                 [self.projects.note] if self.projects.note else []) + pl.notes
        self.run_panel.message.setText(f"{TASK_LABELS[job.task]} · {self.task_panel.preset_combo.currentText()} "
                                       f"preset. " + " ".join(notes))
        self.run_panel.message.setToolTip("\n".join(notes))
        return True

    def continue_run(self) -> bool:
        """Continue the last run (stopped, paused and saved, or restored) from its checkpoint."""
        return self.start_run(resume=True)

    # ================================================================ projects
    def start_session(self, folder=None) -> bool:
        """Autosave from now on; offer to restore a session that did not exit cleanly."""
        return self.projects.start_session(folder)

    def open_batch(self):
        from app.ui.batch import open_batch
        return open_batch(self)

    def open_project_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open project", self.last_folder(), PROJECT_FILTER)
        if path:
            self.open_path(path)

    def open_project(self, path: str) -> bool:
        if self.runner.busy:
            self.show_error("A restoration is running: stop it before opening a project.")
            return False
        if not self.may_discard_result("Open a project", "Open the project anyway?"):
            return False
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            ok = self.projects.open_project(path)
        finally:
            QApplication.restoreOverrideCursor()
        if ok:
            self._set_last_folder(path)
            self._add_recent(path)
            self.photoLoaded.emit(path)
        return ok

    def save_project(self) -> bool:
        if self.projects.project_path:
            return self.save_project_to(self.projects.project_path)
        return self.save_project_as_dialog()

    def save_project_as_dialog(self) -> bool:
        if self.document.photo is None:
            return False
        start = self.projects.project_path or self._default_save_path("project", ".dipproj")
        path, _ = QFileDialog.getSaveFileName(self, "Save project", start, PROJECT_FILTER)
        return bool(path) and self.save_project_to(path)

    def save_project_to(self, path: str, embed: bool | None = None) -> bool:
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            ok = self.projects.save_project_to(path, embed)
        finally:
            QApplication.restoreOverrideCursor()
        if ok:
            self._set_last_folder(path)
            self._add_recent(path)
            self._update_actions()
        return ok

    def _set_embed_photo(self, on: bool) -> None:
        self.settings.setValue("project/embed_photo", bool(on))

    def toggle_pause(self) -> None:
        if not self.runner.busy:
            return
        if self.runner.paused:
            self.runner.resume()
        else:
            self.runner.pause()

    def stop_run(self) -> None:
        if self.runner.busy:
            self.runner.stop()
            self.run_panel.message.setText("Stopping…")

    def _lr_changed(self, lr: float) -> None:
        if self.runner.busy:
            self.runner.set_lr(lr)
            self.flash(f"Learning rate set to {lr:g} for the rest of the run", 4000)

    def _on_paused(self, paused: bool) -> None:
        self.document.set_run_state("paused" if paused else "running")
        a = self.actions_["pause"]
        a.setText("Resume" if paused else "Pause")
        a.setIcon(icon("play" if paused else "pause"))
        self.run_panel.message.setText("Paused. Resume to continue from here." if paused else "")
        self.flash("Paused: Ctrl+P resumes" if paused else "Resumed", 3000)

    def _on_progress(self, p) -> None:
        task = getattr(self.document.job, "task", "")
        self.run_panel.show_progress(p, FALLBACKS.get(task, "the original"))
        if p.usable and not self._was_usable and not p.done:
            self.flash(f"From iteration {p.iteration:,} the fit beats {FALLBACKS.get(task, 'the original')}: "
                       "stopping now keeps it.", 5000)
        self._was_usable = p.usable
        if p.stop_suggested and self.document.job is not None and self.document.job.stop == "never" and p.peak_iteration:
            self.run_panel.message.setText(f"Auto-stop would stop here: the quality peaked near iteration "
                                           f"{p.peak_iteration}.")

    def _on_notes(self, notes) -> None:
        self.run_panel.message.setText(" ".join(notes))
        self.run_panel.message.setToolTip("\n".join(notes))

    def _on_frame(self, frame) -> None:
        self.frame = frame
        self.frames_received += 1
        self.frame_layer = PictureLayer(frame.display, self._region_rect(frame.region), build_pyramid=False)
        if not frame.final:
            self.filmstrip.set_current(frame.thumb, "Live")
        if self.src_a == CURRENT or self.src_b == CURRENT:
            self._refresh_view(update_bar=False)

    def _show_snapshot(self, snap: Snapshot, dropped: Snapshot | None) -> None:
        if dropped is not None:
            self.filmstrip.remove_snapshot(dropped)
        self.filmstrip.add_snapshot(snap)
        keys = self.filmstrip.keys()
        self.compare_bar.set_keys(keys, self.src_a, self.src_b, self._current_label())

    def _on_finished(self, outcome) -> None:
        self.document.finish_run(outcome)
        p = outcome.progress
        msg, kind = finish_message(outcome.stopped_by, p)
        rit = result_iteration(p)
        tip = RESULT_TIP.format(it=rit) if rit is not None else None
        if outcome.final_snapshot is not None:
            self.frame_layer = PictureLayer(outcome.final_snapshot.display,
                                            self._region_rect(outcome.final_snapshot.region), build_pyramid=False)
            self.filmstrip.set_current(outcome.final_snapshot.thumb, "Result", tip)
        else:
            self.filmstrip.set_current(None, "Result", tip)
        self.run_panel.message.setText(msg)
        self.run_panel.message.setToolTip(tip or msg)
        self.run_panel.phase.hide()
        if rit is not None:
            self.run_panel.curve.set_peak(rit, "result")
        self.notify(msg + "  Ctrl+S saves the result." if self.document.result is not None else msg, kind)
        self.actions_["pause"].setText("Pause")
        self.actions_["pause"].setIcon(icon("pause"))
        # after a run the mask overlay would hide the fill: show the result clean
        self.src_b = CURRENT
        self._refresh_view()
        self._update_actions()
        self._update_hint()
        self.resultReady.emit()
        if self._closing:
            QTimer.singleShot(0, self.close)

    def _on_failed(self, message: str) -> None:
        self.document.fail_run()
        self.filmstrip.remove_current()
        self.frame_layer = None if self.document.result is None else self.frame_layer
        self.show_error(message)
        self.run_panel.message.setText("The run failed; see the message above.")
        self.actions_["pause"].setText("Pause")
        self._refresh_view()
        self._update_actions()
        self._update_hint()
        if self._closing:
            QTimer.singleShot(0, self.close)

    def _snapshot_photo(self, snap: Snapshot):
        """The full-resolution Photo of a history snapshot, or None (with a message) when it was
        kept for viewing only or cannot be built."""
        from dip_engine import restore
        if not snap.restorable:
            self.notify(f"Iteration {snap.iteration} was kept for viewing only (to save memory on a big photo): "
                        "pick a later snapshot.", "info")
            return None
        try:
            return restore.compose(self.document.job, snap.float_image(), snap.region)
        except Exception as e:  # noqa: BLE001 - a message, never a traceback dialog
            self.show_error(f"Could not build the snapshot of iteration {snap.iteration}: {e}")
            return None

    def make_result(self, snap: Snapshot) -> bool:
        """Turn a history snapshot into the result (full resolution, via restore.compose)."""
        if self.document.job is None or self.runner.busy:
            return False
        photo = self._snapshot_photo(snap)
        if photo is None:
            return False
        self.document.make_result(snap, photo)
        self.filmstrip.set_current(snap.thumb, "Result")
        self.src_b = CURRENT
        self._refresh_view()
        self._update_actions()
        self.notify(f"Iteration {snap.iteration} is now the result. Ctrl+S saves it.", "info")
        return True

    def make_shown_result(self) -> bool:
        snap = self._shown_snapshot()
        return self.make_result(snap) if snap is not None else False

    def use_result_as_photo(self) -> None:
        if self.document.result is None or self.runner.busy:
            return
        doc = self.document          # the original file stays guarded against overwriting
        doc.load(doc.result, doc.path, name=f"{Path(doc.name).stem} (restored)")
        self.notify("The result is now the photo: paint a new mask or pick another task.", "info")

    # ================================================================ saving
    def _default_save_path(self, suffix: str, ext: str = ".png") -> str:
        stem = Path(self.document.name).stem or "photo"
        folder = Path(self.document.path).parent if self.document.path else Path(self.last_folder())
        return str(folder / f"{stem}_{suffix}{ext}")

    def _ask_save_path(self, title: str, start: str) -> tuple[str | None, int | None]:
        path, flt = QFileDialog.getSaveFileName(self, title, start, ";;".join(SAVE_FILTERS))
        if not path:
            return None, None
        if not Path(path).suffix:
            path += SAVE_FILTERS.get(flt, ".png")
        quality = None
        if Path(path).suffix.lower() in (".jpg", ".jpeg", ".webp"):
            q, ok = QInputDialog.getInt(self, "JPEG quality" if "jp" in Path(path).suffix.lower() else "WebP quality",
                                        "Quality (1–100; higher keeps more detail, larger file):",
                                        int(self.settings.value("save/quality", 95)), 1, 100, 1)
            if not ok:
                return None, None
            quality = q
            self.settings.setValue("save/quality", q)
        return path, quality

    def save_result_dialog(self) -> None:
        if self.document.result is None:
            self.notify("There is no result to save yet: run a restoration first.", "info")
            return
        path, quality = self._ask_save_path("Save result", self._default_save_path("restored"))
        if path:
            # the file dialog already asked before replacing an existing file
            self.save_result_to(path, quality=quality, overwrite=os.path.exists(path), confirmed=False)

    def _guard_original(self, path: str, confirmed: bool) -> bool:
        if self.document.path and Path(path).resolve() == Path(self.document.path):
            if confirmed:
                return True
            return self.confirm("Replace the original photo?",
                                f"{Path(path).name} is the original photo. Replace it with the result? "
                                "This cannot be undone.")
        return True

    def save_photo_to(self, photo, path: str, quality: int | None = None, overwrite: bool = False,
                      confirmed: bool = False, metadata: dict | None = None) -> bool:
        from dip_engine import imageio
        if not self._guard_original(path, confirmed):
            return False
        is_original = bool(self.document.path and Path(path).resolve() == Path(self.document.path))
        kw = {"overwrite": overwrite or is_original}
        if quality is not None:
            kw["quality"] = int(quality)
        if metadata:
            kw["metadata"] = metadata
        try:
            imageio.save_image(photo, path, **kw)
        except FileExistsError:
            if not self.confirm("Replace file?", f"{Path(path).name} already exists. Replace it?"):
                return False
            kw["overwrite"] = True
            try:
                imageio.save_image(photo, path, **kw)
            except Exception as e:  # noqa: BLE001
                self.show_error(f"Could not save {Path(path).name}: {e}")
                return False
        except MemoryError:
            self.show_error(f"Could not save {Path(path).name}: out of memory.")
            return False
        except Exception as e:  # noqa: BLE001
            self.show_error(f"Could not save {Path(path).name}: {e}")
            return False
        self._set_last_folder(path)
        return True

    def save_result_to(self, path: str, quality: int | None = None, overwrite: bool = False,
                       confirmed: bool = False) -> bool:
        if self.document.result is None:
            return False
        ok = self.save_photo_to(self.document.result, path, quality, overwrite, confirmed, self.document.result_meta or None)
        if ok:
            self.document.mark_saved()
            self.notify(f"Saved the result to {path}", "success")
        return ok

    def _shown_snapshot(self):
        for k in (self.src_b, self.src_a):
            if isinstance(k, Snapshot):
                return k
        return None

    def save_snapshot_dialog(self, snap: Snapshot | None = None) -> None:
        snap = snap if isinstance(snap, Snapshot) else self._shown_snapshot()
        if snap is None:
            if self.document.result is not None:
                return self.save_result_dialog()
            self.notify("Pick a snapshot in the history strip first.", "info")
            return
        path, quality = self._ask_save_path(f"Save iteration {snap.iteration}",
                                            self._default_save_path(f"it{snap.iteration}"))
        if path:
            self.save_snapshot_to(snap, path, quality, overwrite=os.path.exists(path))

    def save_snapshot_to(self, snap: Snapshot, path: str, quality: int | None = None,
                         overwrite: bool = False, confirmed: bool = False) -> bool:
        photo = self._snapshot_photo(snap)
        if photo is None:
            return False
        meta = dict(self.document.result_meta or {})
        if meta:
            meta["dip:iterations"] = str(snap.iteration)
        ok = self.save_photo_to(photo, path, quality, overwrite, confirmed, meta or None)
        if ok:
            self.notify(f"Saved iteration {snap.iteration} to {path}", "success")
        return ok

    def render_comparison(self) -> QImage:
        """The compare view as the user sees it (one canvas, or both side by side)."""
        if self.view_mode == "side":
            return self.canvas_split.grab().toImage()
        return self.canvas.grab().toImage()

    def save_comparison_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save comparison image", self._default_save_path("compare"),
                                              "PNG (*.png);;JPEG (*.jpg *.jpeg)")
        if path:
            if not Path(path).suffix:
                path += ".png"
            self.save_comparison_to(path)

    def save_comparison_to(self, path: str) -> bool:
        if self.document.path and Path(path).resolve() == Path(self.document.path):
            self.show_error("That is the original photo: choose another name for the comparison image.")
            return False
        img = self.render_comparison()
        folder = Path(path).parent
        fd, tmp = tempfile.mkstemp(suffix=Path(path).suffix or ".png", dir=str(folder) if folder.is_dir() else None)
        os.close(fd)
        try:
            if not img.save(tmp, None, 95):
                raise OSError("unsupported format or unwritable folder")
            os.replace(tmp, path)
        except Exception as e:  # noqa: BLE001
            try:
                os.unlink(tmp)
            except OSError:
                pass
            self.show_error(f"Could not save the comparison: {e}")
            return False
        self.notify(f"Saved the comparison to {path}", "success")
        return True

    # ================================================================ help
    def show_shortcuts(self) -> None:
        rows = [("Open / save / paste", "Ctrl+O / Ctrl+S / Ctrl+V, or drop a file"),
                ("Brush / eraser / hand", "P / E / H"), ("Brush size", "[ and ], or Alt+wheel"),
                ("Undo / redo", "Ctrl+Z / Ctrl+Shift+Z"), ("Zoom", "wheel, Ctrl+0 fit, Ctrl+1 100 %"),
                ("Pan", "Space+drag or middle mouse"), ("Show the original", "hold Tab or \\"),
                ("Show / hide mask", "M"), ("Restore / pause / stop", "Ctrl+Enter / Ctrl+P / Esc")]
        html = "<table cellspacing=6>" + "".join(f"<tr><td><b>{a}</b></td><td>{b}</td></tr>" for a, b in rows) + "</table>"
        QMessageBox.information(self, "Keyboard shortcuts", html)

    def show_about(self) -> None:
        QMessageBox.about(self, "About DIP Studio",
                          "<b>DIP Studio</b><br>Photo restoration with Deep Image Prior: a randomly "
                          "initialised network is fitted to your one photo; no training data, fully offline.")

    # ================================================================ drag and drop, closing
    def dragEnterEvent(self, e) -> None:
        if e.mimeData().hasUrls() and any(u.isLocalFile() for u in e.mimeData().urls()):
            e.acceptProposedAction()

    def dropEvent(self, e) -> None:
        for u in e.mimeData().urls():
            if u.isLocalFile():
                self.open_path(u.toLocalFile())
                e.acceptProposedAction()
                return

    def closeEvent(self, e) -> None:
        if self.runner.busy:
            if self._closing:
                e.ignore()
                return
            if not self.confirm("Stop the restoration?",
                                "A restoration is still running. Stop it and close DIP Studio?"):
                e.ignore()
                return
            self._closing = True
            self.runner.stop()
            self.notify("Stopping the run, then closing…", "info")
            e.ignore()
            return
        if not self._closing and not self.may_discard_result("Close without saving?", "Close anyway?"):
            e.ignore()
            return
        self.save_settings()
        QApplication.instance().removeEventFilter(self)
        self.projects.shutdown()                      # clean exit: no recovery offered next time
        e.accept()

    def shutdown(self) -> None:
        """Last-resort clean-up at application exit: stop and join the worker and autosave threads."""
        self.runner.shutdown()
        self.projects.shutdown()
