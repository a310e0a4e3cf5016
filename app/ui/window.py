"""The main window: builds the widgets and wires the document, the controllers and the runner.

The rooms live in their own modules: `actions` (the action, menu and toolbar tables), `files`
(open, paste, recent files, projects, saving), `compare` (what the canvases show), `masks` (the
mask tools) and `run` (a run's life). The document (`app.model.document`) holds the state; the
window shows it and keeps the panels, hints and action states in step with it.
"""
from __future__ import annotations

import json

from PySide6.QtCore import QByteArray, QEvent, QObject, QSettings, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (QApplication, QLabel, QAbstractSpinBox, QComboBox, QLineEdit, QMainWindow,
                               QMessageBox, QScrollArea, QSplitter, QToolBar, QVBoxLayout, QWidget, QFrame,
                               QSizePolicy)

from app.model.document import Document
from app.model.task import TaskSettings
from app.ui.actions import Facts, build_actions, build_menus, connect_actions, fill_toolbar, update_enabled
from app.ui.canvas import TOOL_BRUSH, TOOL_ERASER, TOOL_PAN, Canvas
from app.ui.compare import CompareView
from app.ui.files import Files
from app.ui.filmstrip import CompareBar, Filmstrip
from app.ui.masks import MaskTools
from app.ui.panels import Banner, MaskPanel, RunPanel, TaskPanel
from app.ui.projects import ProjectManager
from app.ui.run import RunController
from app.ui.variations import VariationsRoom
from app.worker import FitRunner

TOOL_HINTS = {
    TOOL_BRUSH: "Brush: paint what should be filled  ·  [ ] or Alt+wheel size  ·  E eraser  ·  "
                "Space+drag pan  ·  Ctrl+Z undo",
    TOOL_ERASER: "Eraser: remove mask  ·  [ ] or Alt+wheel size  ·  P brush  ·  Space+drag pan  ·  Ctrl+Z undo",
    TOOL_PAN: "Drag or middle mouse to pan  ·  wheel zoom  ·  Ctrl+0 fit  ·  Ctrl+1 100 %  ·  hold Tab for the original",
}


def _is_text_input(w) -> bool:
    return isinstance(w, (QLineEdit, QAbstractSpinBox, QComboBox))


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
        self.runner = FitRunner(self)
        self._closing = False
        self.actions_ = build_actions(self)
        self._build_ui()
        recent_menu = build_menus(self.menuBar(), self.actions_)
        # the controllers, one room each; each observes the document (masks before compare: the
        # canvas gets a new photo's mask before the view is drawn)
        self.masks = MaskTools(self)
        self.compare = CompareView(self)
        self.run = RunController(self)
        self.files = Files(self, recent_menu)
        self.variations = VariationsRoom(self)
        connect_actions(self, self.actions_)
        self._connect()
        # after the run controller: a finished run is in the document before it is autosaved
        self.projects = ProjectManager(self.document, self.runner, self)
        self.actions_["embed_photo"].setChecked(self.projects.embed_photo())
        self._restore_settings()
        self.update_actions()
        self.setAcceptDrops(True)
        QApplication.instance().installEventFilter(self)

    # ================================================================ construction
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
        fill_toolbar(tb, self.actions_)
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

    def _connect(self) -> None:
        c = self.canvas
        c.cursorMoved.connect(lambda pos: self.pos_label.setText("" if pos is None else f"x {pos[0]}  y {pos[1]}"))
        c.fileDropped.connect(self.files.open_soon)
        c.openRequested.connect(self.files.open_dialog)
        self.canvas2.fileDropped.connect(self.files.open_soon)
        self.task_panel.taskChanged.connect(self._task_changed)
        self.task_panel.changed.connect(self._settings_edited)
        self.compare.shownChanged.connect(self.update_actions)
        self.run.ended.connect(self._run_ended)
        d = self.document
        d.on("settings", self._show_settings)
        d.on("photo", self._show_document)
        for event in ("mask", "history", "result", "run"):
            d.on(event, lambda *_: self.update_actions())

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
        self.files.set_recent(recent or [])
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
        s.setValue("recent", self.files.recent)
        s.setValue("brush/size", self.canvas.brush_size)
        s.setValue("mask/opacity", self.canvas.mask_opacity)
        s.setValue("task/advanced_open", self.task_panel.advanced.is_expanded())
        self._save_task_settings()
        s.sync()

    def reset_settings(self) -> None:
        if not self.confirm("Reset settings",
                            "Reset all settings (window layout, recent files, brush, task and presets) to their defaults?"):
            return
        self.settings.clear()
        self.settings.sync()
        self.files.set_recent([])
        self.task_panel.set_settings(TaskSettings())
        self.document.set_settings(self.task_panel.settings())
        self.task_panel.advanced.set_expanded(False)
        self._task_changed(TaskSettings().task)
        if self.document.photo is not None:
            self.masks.brush_from_fraction()
        else:
            self.canvas.set_brush_size(40)
            self.mask_panel.set_size(40)
        self.mask_panel.set_opacity(0.55)
        self.main_split.setSizes([max(400, self.width() - 350), 350])
        self.notify("Settings were reset to their defaults.", "info")

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
        QTimer.singleShot(ms, self.hint_label, lambda t=text: self.hint_label.text() == t and self.update_hint())

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

    # ================================================================ the document
    def _show_document(self) -> None:
        """A new photo or project: the panels, title and hints (the controllers show the rest)."""
        doc = self.document
        self.run_panel.reset(active=False)
        self.banner.hide()
        self.title_label.setText(doc.name)
        self.setWindowTitle(f"{doc.name} — DIP Studio")
        self._task_changed(doc.settings.task)
        it = doc.checkpoint_iteration
        if doc.resume_next and it:
            self.run_panel.message.setText(f"Saved run at iteration {it}: Restore continues it.")

    # ---------------------------------------------------------------- peek at the original
    def eventFilter(self, obj: QObject, ev: QEvent) -> bool:
        t = ev.type()
        if t in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease) and self.isActiveWindow() \
                or t in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease) and obj in (self.canvas, self.canvas2):
            key = ev.key()
            if key in (Qt.Key.Key_Tab, Qt.Key.Key_Backslash) and not ev.modifiers() & (
                    Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier) \
                    and self.document.photo is not None and not _is_text_input(QApplication.focusWidget()):
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

    # ================================================================ task
    def _task_changed(self, task: str) -> None:
        inpaint = task == "inpaint"
        self.mask_panel.setVisible(inpaint and self.document.photo is not None)
        self.mask_sep.setVisible(inpaint and self.document.photo is not None)
        if not inpaint and self.canvas.tool != TOOL_PAN:
            self.masks.set_tool(TOOL_PAN)
        elif inpaint and self.document.photo is not None and not self.runner.busy and self.canvas.tool == TOOL_PAN:
            self.masks.set_tool(TOOL_BRUSH)           # choosing Inpaint means painting comes next
        self.masks.update_display()
        self.update_actions()
        self.update_hint()

    def update_hint(self) -> None:
        if self.document.photo is None:
            self.hint_label.setText("Open a photo: Ctrl+O, drag and drop, or Ctrl+V to paste")
        elif self.busy:
            self.hint_label.setText("Restoring…  Ctrl+P pause  ·  Esc stop (keeps the best so far)  ·  "
                                    "hold Tab for the original")
        else:
            self.hint_label.setText(TOOL_HINTS[self.canvas.tool])

    def update_actions(self) -> None:
        """Action states from the document and the run: on their changes, not on live frames."""
        doc, busy, mm = self.document, self.busy, self.document.mask
        has = doc.photo is not None
        undo, redo = bool(mm and mm.can_undo()), bool(mm and mm.can_redo())
        update_enabled(self.actions_, Facts(
            photo=has, busy=busy, inpaint=self.task_panel.task() == "inpaint", result=doc.result is not None,
            checkpoint=doc.checkpoint is not None, can_undo=undo, can_redo=redo,
            shown=self.compare.shown_snapshot(), result_snapshot=doc.result_snapshot, task=self.task_panel.task()))
        self.actions_["undo"].setText(f"&Undo {mm.undo_label()}" if undo else "&Undo")
        self.actions_["redo"].setText(f"&Redo {mm.redo_label()}" if redo else "&Redo")
        self.task_panel.set_running(busy)
        self.mask_panel.setEnabled(not busy)
        self.run_panel.run_button.setEnabled(has and not busy)

    @property
    def busy(self) -> bool:
        """A run or a set of variations is going: the settings and the photo stay as they are."""
        room = getattr(self, "variations", None)          # built after the other rooms
        return self.runner.busy or (room is not None and room.runner.busy)

    def run_state_changed(self) -> None:
        """A run started or ended."""
        self.update_actions()
        self.update_hint()

    def _run_ended(self, ok: bool) -> None:
        if ok:
            self.resultReady.emit()
        if self._closing:
            QTimer.singleShot(0, self.close)

    # ================================================================ projects and batch
    def start_session(self, folder=None) -> bool:
        """Autosave from now on; offer to restore a session that did not exit cleanly."""
        return self.projects.start_session(folder)

    def open_batch(self):
        from app.ui.batch import open_batch
        return open_batch(self)

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
                self.files.open_soon(u.toLocalFile())
                e.acceptProposedAction()
                return

    def closeEvent(self, e) -> None:
        if self.variations.runner.busy:
            self.variations.runner.shutdown()
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
        self.variations.runner.shutdown()
        self.projects.shutdown()
