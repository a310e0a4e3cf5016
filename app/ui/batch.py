"""File > Batch...: restore a whole folder with the current task and settings, in the background.

The engine's batch (dip_engine.batch) does the work in worker processes and keeps the state in
the manifest of the results folder; this window only shows it: the queue with each photo's
thumbnail and state, overall progress, Pause / Resume and Stop. The results folder is remembered,
so after a restart the window shows that batch again and Continue finishes it.
"""
from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QObject, QSize, Qt, QThread, QTimer, Signal
from PySide6.QtGui import QIcon, QImageReader, QPixmap
from PySide6.QtWidgets import (QApplication, QCheckBox, QDialog, QFileDialog, QGridLayout, QHBoxLayout, QLabel,
                               QLineEdit, QProgressBar, QPushButton, QTreeWidget, QTreeWidgetItem, QVBoxLayout)

from app.model.task import TASK_LABELS, preset_label
from dip_engine import batch

THUMB = 40
SETTINGS_KEY = "batch/results"
STATE_TEXT = {"pending": "Waiting", "running": "Waiting", "done": "Done", "failed": "Failed"}


def describe(spec: batch.Spec) -> str:
    """One line: the task and settings every photo gets."""
    parts = [TASK_LABELS.get(spec.task, spec.task), f"{preset_label(spec.preset)} preset"]
    if spec.task == "sr":
        parts.append(f"{spec.scale}x")
    if spec.iters:
        parts.append(f"at most {spec.iters} iterations")
    parts.append(f"seed {spec.seed}")
    if spec.task == "inpaint":
        parts.append(f"masks: {'same names in ' + str(spec.masks) if spec.masks else 'photo.mask.png beside each photo'}")
    return " · ".join(parts)


_LIVE: list = []   # (thread, runner, control) of running batches: they outlive a closed window


def stop_all() -> bool:
    """Stop every running batch and wait for it (the app is quitting); unfinished photos run next
    time. False if one had not ended after 30 s."""
    ended = True
    for thread, _runner, control in list(_LIVE):
        control.abort()
        ended = thread.wait(30000) and ended
    return ended


def _watch_quit() -> None:
    app = QApplication.instance()
    if not app.property("dipBatchQuitHook"):
        app.aboutToQuit.connect(stop_all)
        app.setProperty("dipBatchQuitHook", True)


class _Runner(QObject):
    """Runs one batch in its thread; every engine event arrives in the GUI thread as `event`."""
    event = Signal(object)
    failed = Signal(str)
    finished = Signal()

    def __init__(self, spec: batch.Spec, control: batch.BatchControl):
        super().__init__()
        self.spec, self.control = spec, control

    def run(self) -> None:
        try:
            batch.run(self.spec, control=self.control, on_event=self.event.emit)
        except batch.BatchError as e:
            self.failed.emit(str(e))
        except Exception as e:  # noqa: BLE001 - shown to the user in one line, never a traceback
            self.failed.emit(f"The batch stopped: {type(e).__name__}: {e}")
        finally:
            self.finished.emit()


class BatchDialog(QDialog):
    """The batch window (not modal: the main window stays usable while a batch runs)."""
    batchFinished = Signal(dict)

    def __init__(self, window):
        super().__init__(window)
        self.window_ = window
        self.setWindowTitle("Batch")
        self.setObjectName("BatchDialog")
        self.setModal(False)
        self.resize(720, 560)
        self.spec: batch.Spec | None = None
        self.control: batch.BatchControl | None = None
        self.thread_: QThread | None = None
        self.runner: _Runner | None = None
        self.rows: dict[str, QTreeWidgetItem] = {}
        self.states: dict[str, str] = {}          # key -> pending | running | done | failed
        self._started = 0.0
        self._finished_now = 0
        self._thumbs: list[tuple[QTreeWidgetItem, str]] = []
        self._build()
        _watch_quit()
        last = window.settings.value(SETTINGS_KEY, "")
        if isinstance(last, str) and last and (Path(last) / batch.MANIFEST_NAME).is_file():
            self.results_edit.setText(last)
            self.show_folder(Path(last))
        else:
            self._update()

    # ------------------------------------------------------------------ widgets
    def _build(self) -> None:
        grid = QGridLayout()
        self.photos_edit = QLineEdit()
        self.photos_edit.setPlaceholderText("Folder of photos to restore")
        self.photos_edit.setObjectName("batchPhotos")
        self.photos_button = QPushButton("Choose…")
        self.subfolders = QCheckBox("Include subfolders")
        self.results_edit = QLineEdit()
        self.results_edit.setPlaceholderText("Folder for the results (default: 'restored' inside the photos folder)")
        self.results_button = QPushButton("Choose…")
        grid.addWidget(QLabel("Photos:"), 0, 0)
        grid.addWidget(self.photos_edit, 0, 1)
        grid.addWidget(self.photos_button, 0, 2)
        grid.addWidget(self.subfolders, 1, 1)
        grid.addWidget(QLabel("Results:"), 2, 0)
        grid.addWidget(self.results_edit, 2, 1)
        grid.addWidget(self.results_button, 2, 2)
        self.settings_label = QLabel()
        self.settings_label.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.status = QLabel("Choose a folder of photos.")
        self.status.setObjectName("batchStatus")
        self.status.setWordWrap(True)
        self.queue = QTreeWidget()
        self.queue.setHeaderLabels(["Photo", "State"])
        self.queue.setIconSize(QSize(THUMB, THUMB))
        self.queue.setRootIsDecorated(False)
        self.queue.setColumnWidth(0, 300)
        self.queue.setUniformRowHeights(True)
        self.start_button = QPushButton("Start")
        self.start_button.setDefault(True)
        self.pause_button = QPushButton("Pause")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop now: running photos are started again when the batch continues")
        close = QPushButton("Close")
        close.setToolTip("Hide this window; a running batch goes on")
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.pause_button)
        buttons.addWidget(self.stop_button)
        buttons.addStretch(1)
        buttons.addWidget(close)
        lay = QVBoxLayout(self)
        lay.addLayout(grid)
        lay.addWidget(self.settings_label)
        lay.addWidget(self.progress)
        lay.addWidget(self.status)
        lay.addWidget(self.queue, 1)
        lay.addLayout(buttons)
        self.photos_button.clicked.connect(self._choose_photos)
        self.results_button.clicked.connect(self._choose_results)
        self.photos_edit.textChanged.connect(lambda _: self._update())
        self.results_edit.textChanged.connect(lambda _: self._results_changed())
        self.start_button.clicked.connect(self.start)
        self.pause_button.clicked.connect(self.toggle_pause)
        self.stop_button.clicked.connect(self.stop)
        close.clicked.connect(self.hide)
        self._thumb_timer = QTimer(self, interval=0)
        self._thumb_timer.timeout.connect(self._load_thumbs)

    def _choose_photos(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder of photos", self.photos_edit.text()
                                                or self.window_.last_folder())
        if path:
            self.photos_edit.setText(path)

    def _choose_results(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder for the results", self.results_edit.text()
                                                or self.photos_edit.text() or self.window_.last_folder())
        if path:
            self.results_edit.setText(path)

    # ------------------------------------------------------------------ state
    @property
    def running(self) -> bool:
        return self.thread_ is not None

    def results_folder(self) -> Path | None:
        text = self.results_edit.text().strip()
        if text:
            return Path(text).expanduser()
        photos = self.photos_edit.text().strip()
        return Path(photos).expanduser() / "restored" if photos else None

    def _existing(self) -> batch.Spec | None:
        """The batch recorded in the results folder, if there is one."""
        out = self.results_folder()
        if out is None or not (out / batch.MANIFEST_NAME).is_file():
            return None
        try:
            return batch.Spec.from_manifest(out)
        except (batch.BatchError, KeyError, TypeError, ValueError):
            return None

    def _new_spec(self) -> batch.Spec | None:
        photos = self.photos_edit.text().strip()
        if not photos:
            return None
        kw = self.window_.document.settings.job_kwargs()
        return batch.Spec(kw["task"], [photos], self.results_folder(), recursive=self.subfolders.isChecked(),
                          scale=kw["scale"], preset=kw["preset"], iters=kw["iters"], seed=kw["seed"], stop=kw["stop"],
                          lr=kw["lr"], channels=kw["channels"])

    def _results_changed(self) -> None:
        if not self.running:
            out = self.results_folder()
            if out is not None and (out / batch.MANIFEST_NAME).is_file():
                self.show_folder(out)
            self._update()

    def show_folder(self, outdir: Path) -> None:
        """Show the batch recorded in `outdir` (after a restart: what is done, what is left)."""
        spec = self._existing()
        if spec is None:
            return
        if not self.photos_edit.text() and spec.inputs:
            self.photos_edit.blockSignals(True)
            self.photos_edit.setText(spec.inputs[0])
            self.photos_edit.blockSignals(False)
        try:
            items = batch.discover(spec.inputs, outdir, spec.task, spec.name, spec.recursive, spec.masks)
        except batch.InputError as e:
            self.status.setText(f"The photos of this batch are not there any more: {e}")
            items = []
        states = {k: s.state for k, s in batch.read(outdir)[1].items()}
        self._fill(items, states)
        left = sum(states.get(i.key) != "done" for i in items)
        self.status.setText(f"This folder holds a batch: {self.counts['done']} of {len(items)} done"
                            + (f", {left} to go. Continue finishes it." if left else "."))
        self._update()

    def _fill(self, items: list[batch.Item], states: dict[str, str]) -> None:
        self.queue.clear()
        self.rows.clear()
        self._thumbs.clear()
        for it in items:
            state = states.get(it.key, "pending")
            state = "pending" if state == "running" else state
            row = QTreeWidgetItem([it.input.name, STATE_TEXT[state]])
            row.setToolTip(0, str(it.input))
            self.queue.addTopLevelItem(row)
            self.rows[it.key] = row
            self._thumbs.append((row, str(it.input)))
        self.states = {it.key: "pending" if states.get(it.key, "pending") == "running" else states.get(it.key, "pending")
                       for it in items}
        self._thumb_timer.start()
        self._show_counts()

    def _load_thumbs(self) -> None:
        """A few thumbnails per tick, so a large folder never blocks the window."""
        for _ in range(8):
            if not self._thumbs:
                self._thumb_timer.stop()
                return
            row, path = self._thumbs.pop(0)
            reader = QImageReader(path)
            reader.setAutoTransform(True)
            size = reader.size()
            if size.isValid():
                reader.setScaledSize(size.scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio))
            img = reader.read()
            if not img.isNull():
                row.setIcon(0, QIcon(QPixmap.fromImage(img)))

    def _update(self) -> None:
        if self.running:
            spec, existing = self.spec, None
        else:
            existing = self._existing()
            spec = existing or self._new_spec()
        self.settings_label.setText(("Settings: " + describe(spec)) if spec is not None else
                                    "Each photo gets the task and settings chosen in the main window.")
        self.start_button.setText("Continue" if existing is not None else "Start")
        self.start_button.setEnabled(not self.running and spec is not None)
        self.pause_button.setEnabled(self.running)
        self.stop_button.setEnabled(self.running)
        for w in (self.photos_edit, self.photos_button, self.results_edit, self.results_button, self.subfolders):
            w.setEnabled(not self.running)

    @property
    def counts(self) -> dict[str, int]:
        c = {k: 0 for k in ("pending", "running", "done", "failed")}
        for v in self.states.values():
            c[v] += 1
        c["total"] = len(self.states)
        return c

    def _show_counts(self) -> None:
        c = self.counts
        total = max(c["total"], 1)
        self.progress.setMaximum(total)
        self.progress.setValue(c["done"] + c["failed"])
        self.progress.setFormat(f"{c['done'] + c['failed']} / {c['total']}")

    def _summary_text(self) -> str:
        c = self.counts
        text = f"{c['done']} done · {c['failed']} failed · {c['running']} running"
        left = c["total"] - c["done"] - c["failed"]
        if self._finished_now and left > 0 and self.running:
            per = (time.monotonic() - self._started) / self._finished_now
            text += f" · about {_duration(per * left)} left"
        if self.control is not None and self.control.paused:
            text = "Paused · " + text
        return text

    # ------------------------------------------------------------------ actions
    def start(self) -> bool:
        """Start (or continue) the batch in the background; False with a message when it cannot."""
        if self.running:
            return False
        spec = self._existing() or self._new_spec()
        if spec is None:
            self.status.setText("Choose a folder of photos first.")
            return False
        photos = spec.inputs[0] if spec.inputs else ""
        if not Path(photos).is_dir():
            self.status.setText(f"{photos}: no such folder: choose the folder of photos.")
            return False
        self.spec = spec
        self.window_.settings.setValue(SETTINGS_KEY, str(spec.outdir))
        self.control = batch.BatchControl()
        self._started, self._finished_now = time.monotonic(), 0
        # no parent: a batch keeps running (and is waited for at quit) even if this window goes
        self.thread_ = thread = QThread()
        self.runner = runner = _Runner(spec, self.control)
        entry = (thread, runner, self.control)
        _LIVE.append(entry)
        runner.moveToThread(thread)
        thread.started.connect(runner.run)
        # Direct: QThread.quit is thread-safe, and queued it would wait for the GUI thread, which
        # blocks in shutdown()/wait() at quit: the thread then ran on until wait's timeout.
        runner.finished.connect(thread.quit, Qt.ConnectionType.DirectConnection)
        thread.finished.connect(lambda: _LIVE.remove(entry) if entry in _LIVE else None)
        runner.event.connect(self._on_event)
        runner.failed.connect(self._on_failed)
        thread.finished.connect(self._on_finished)
        self.status.setText("Starting the workers…")
        self.thread_.start()
        self._update()
        return True

    def toggle_pause(self) -> None:
        if self.control is None or not self.running:
            return
        if self.control.paused:
            self.control.resume()
            self.pause_button.setText("Pause")
        else:
            self.control.pause()
            self.pause_button.setText("Resume")
        self.status.setText(self._summary_text())

    def stop(self) -> None:
        if self.control is not None and self.running:
            self.control.abort()
            self.status.setText("Stopping… (running photos start again when the batch continues)")

    def shutdown(self) -> None:
        """Stop the batch and wait for it."""
        if self.running:
            self.control.abort()
            self.thread_.wait(30000)
            self._on_finished()

    # ------------------------------------------------------------------ engine events
    def _on_event(self, ev) -> None:
        if ev.kind == "plan":
            self._fill(ev.items, ev.states)
        elif ev.kind == "note":
            self.status.setText(ev.message)
            return
        row = self.rows.get(ev.key) if ev.key else None
        if ev.kind == "start" and row is not None:
            self.states[ev.key] = "running"
            row.setText(1, "Running")
        elif ev.kind == "progress" and row is not None:
            p = ev.progress
            row.setText(1, f"Running · {p['iteration']} / {p['total']}")
        elif ev.kind in ("done", "failed") and row is not None:
            if self.states.get(ev.key) == "running":
                self._finished_now += 1
            self.states[ev.key] = ev.kind
            row.setText(1, "Done" if ev.kind == "done" else f"Failed: {ev.message}")
            row.setToolTip(1, ev.message)
            self._show_counts()
        elif ev.kind == "finish":
            self.batchFinished.emit(ev.summary)
            s = ev.summary
            text = f"{s['done']} of {s['total']} photos done, {s['failed']} failed"
            if s["left"]:
                text += f", {s['left']} not finished: Continue finishes them"
            self.status.setText(f"{text}. Results in {s['outdir']}.")
            return
        self.status.setText(self._summary_text())

    def _on_failed(self, message: str) -> None:
        self.status.setText(message)

    def _on_finished(self) -> None:
        if self.thread_ is None:
            return
        self.thread_.wait()
        self.thread_, self.runner = None, None
        self.pause_button.setText("Pause")
        for key, row in self.rows.items():
            if self.states.get(key) == "running":
                self.states[key] = "pending"
                row.setText(1, "Waiting")
        self._update()


def _duration(s: float) -> str:
    if s < 90:
        return f"{max(1, round(s))} s"
    if s < 90 * 60:
        return f"{round(s / 60)} min"
    return f"{s / 3600:.1f} h"


def open_batch(window) -> BatchDialog:
    """Show the window's batch dialog (made once, so a running batch keeps its window)."""
    dlg = getattr(window, "_batch_dialog", None)
    if dlg is None:
        dlg = window._batch_dialog = BatchDialog(window)
    dlg.show()
    dlg.raise_()
    dlg.activateWindow()
    return dlg
