"""Project files, autosave and crash recovery.

`ProjectManager` turns the `Document` (photo, mask, task settings, history, result with its
confidence map, variations and the chosen one, and the run's newest checkpoint) into a `dip_engine.project.Project` and back. Autosave: mask edits
are saved ~5 s after the last change; while a run fits, it is asked for a checkpoint every
~30 s of fitting, at every pause and at its end, and each one is saved. Autosaves are written
on a QThreadPool thread, atomically, to this session's file in the user data folder; a session
that did not exit cleanly is offered for recovery on the next start (`start_session`).
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QRunnable, QThreadPool, QTimer, Signal

from app.model.autosave import Session
from app.model.document import Document
from app.model.task import TaskSettings

PROJECT_FILTER = "DIP Studio projects (*.dipproj)"
MASK_DELAY_MS = 5000             # autosave this long after the last mask edit
CHECKPOINT_EVERY_MS = 30000      # ask a running fit for its state this often (pauses excluded)


class _Saved(QObject):
    done = Signal(object, str)   # (path, error or "")


class _SaveTask(QRunnable):
    def __init__(self, project, path, sink: _Saved):
        super().__init__()
        self.project, self.path, self.sink = project, path, sink

    def run(self) -> None:
        from dip_engine import project as projects
        err = ""
        try:
            projects.save_project(self.project, self.path)
        except projects.ProjectError as e:
            err = str(e)
        except Exception as e:  # noqa: BLE001 - the GUI thread turns it into a message
            err = f"{type(e).__name__}: {e}"
        self.sink.done.emit(self.path, err)


class ProjectManager(QObject):
    """Opens and saves projects into and out of the document; autosaves it while it changes.
    `ui` says things to the user (notify, show_error, confirm) and holds the QSettings."""
    autosaved = Signal(str)               # path of a finished autosave
    autosaveFailed = Signal(str)          # one line

    def __init__(self, document: Document, runner, ui):
        super().__init__(ui)
        self.doc = document
        self.runner = runner
        self.ui = ui
        self.session: Session | None = None
        self.mask_delay_ms = MASK_DELAY_MS
        self.checkpoint_every_ms = CHECKPOINT_EVERY_MS
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        self._sink = _Saved()
        self._sink.done.connect(self._autosave_done)
        self._in_flight = False
        self._dirty = False
        self.note = ""                        # why the saved run is not continued
        self._last_error = ""
        self._closed = False
        self.mask_timer = QTimer(self)
        self.mask_timer.setSingleShot(True)
        self.mask_timer.timeout.connect(self.autosave)
        self.ckpt_timer = QTimer(self)
        self.ckpt_timer.timeout.connect(self._ask_checkpoint)
        document.on("photo", self.document_changed)
        document.on("mask", lambda _bbox: self.document_changed())
        runner.started.connect(self._run_started)
        runner.checkpointReady.connect(self._on_checkpoint)
        runner.pausedChanged.connect(self._on_paused)
        runner.finished.connect(self._run_ended)
        runner.failed.connect(self._run_ended)

    # ------------------------------------------------------------------ session and recovery
    def start_session(self, folder=None) -> bool:
        """Start autosaving; offer the newest autosave of a session that did not exit cleanly.
        Returns True when something was restored."""
        self.session = Session(folder)
        try:
            orphans = self.session.start()
        except OSError as e:
            self.session = None
            self.ui.notify(f"Autosave is off: cannot use the data folder ({e}).", "error")
            return False
        if not orphans:
            return False
        orphan = orphans[0]
        if not self.ui.confirm("Restore unsaved work?",
                               f"DIP Studio did not close properly last time. Restore the work autosaved "
                               f"at {orphan.describe()}?"):
            orphan.discard()
            return False
        from dip_engine import project as projects
        try:
            proj = projects.load_project(orphan.autosave)
        except projects.ProjectError as e:
            self.ui.show_error(f"Could not restore the autosave: {e}")
            try:
                orphan.autosave.rename(orphan.autosave.with_suffix(".broken"))
            except OSError:
                pass
            orphan.discard()
            return False
        ok = self.apply(proj, None)
        if ok:
            try:     # adopt it: it is this session's autosave now, until the next one replaces it
                orphan.autosave.replace(self.session.autosave_path)
            except OSError:
                pass
            orphan.discard()
            it = self.doc.checkpoint_iteration
            more = f" Restore continues the run from iteration {it}." if self.doc.resume_next and it else ""
            self.ui.notify("Restored the work that was open when DIP Studio stopped." + more, "success")
        return ok

    def shutdown(self) -> None:
        """Clean exit: wait for a write in progress, then remove the autosave and its lock."""
        if self._closed:
            return
        self._closed = True
        self.mask_timer.stop()
        self.ckpt_timer.stop()
        self.pool.waitForDone(-1)
        if self.session is not None:
            self.session.end()

    # ------------------------------------------------------------------ document <-> project
    def build(self, embed: bool | None = None):
        """The document as a Project (on the GUI thread: arrays are shared, not copied, except
        the mask, which keeps changing)."""
        from dip_engine import project as projects
        from dip_engine import restore
        d = self.doc
        ts = d.settings
        job = restore.Job(photo=d.photo, **ts.job_kwargs())
        history = [projects.HistoryItem(s.iteration, s.image, tuple(s.region), s.loss, s.final, s.confidence)
                   for s in d.history if s.image is not None]
        run = None if d.job is None else {k: getattr(d.job, k) for k in projects.JOB_FIELDS}
        extra = {"task_settings": ts.to_dict(), "run_settings": run, "run_state": d.run_state,
                 "result_iteration": d.result_iteration, "result_saved": bool(d.result_saved)}
        mask = None if d.mask is None else d.mask.array.copy()
        if embed is None:
            embed = self.embed_photo()
        variations = [projects.Variation(v.seed, v.result, dict(v.metadata), v.confidence) for v in d.variations]
        return projects.Project.from_job(job, mask=mask, history=history, checkpoint=d.checkpoint,
                                         result=d.result, result_meta=dict(d.result_meta or {}),
                                         photo_path=d.path, embed_photo=embed or not d.path,
                                         name=d.name, extra=extra, confidence=d.confidence,
                                         variations=variations, chosen=d.chosen)

    def embed_photo(self) -> bool:
        v = self.ui.settings.value("project/embed_photo", True)
        return v in (True, "true", "1", 1)

    def apply(self, proj, path: str | None) -> bool:
        """Load a project into the document."""
        from dip_engine import restore
        try:
            ts = TaskSettings.from_dict(proj.extra.get("task_settings") or self._task_settings(proj.settings))
            run = proj.extra.get("run_settings")
            job = None
            if run:
                job = restore.Job(photo=proj.photo, mask=proj.mask if run.get("task") == "inpaint" else None, **run)
            original = proj.photo_path if proj.photo_path and Path(proj.photo_path).exists() else None
            self.doc.load(proj.photo, original, proj.name or (Path(path).stem if path else "Restored"),
                          settings=ts, mask=proj.mask, job=job,
                          history=[(h.iteration, h.loss, h.image, h.region, h.final, h.confidence) for h in proj.history],
                          result=proj.result, result_meta=proj.result_meta,
                          result_iteration=proj.extra.get("result_iteration"),
                          result_saved=proj.extra.get("result_saved", True), checkpoint=proj.checkpoint,
                          run_state=proj.extra.get("run_state"), project_path=path,
                          confidence=proj.confidence, chosen=proj.chosen,
                          variations=[(v.seed, v.result, v.metadata, v.confidence) for v in proj.variations])
        except Exception as e:  # noqa: BLE001 - a message, never a traceback dialog
            self.ui.show_error(f"Could not show the project: {type(e).__name__}: {e}")
            return False
        return True

    @staticmethod
    def _task_settings(settings: dict) -> dict:
        d = {k: settings.get(k) for k in ("task", "preset", "iters", "lr", "channels", "seed")}
        d["scale"] = settings.get("scale") if settings.get("task") == "sr" else 2
        d["auto_stop"] = settings.get("stop", "auto") == "auto"
        return {k: v for k, v in d.items() if v is not None}

    # ------------------------------------------------------------------ open / save
    def open_project(self, path: str) -> bool:
        from dip_engine import project as projects
        try:
            proj = projects.load_project(path)
        except projects.ProjectError as e:
            msg = str(e)
            for prefix in (f"{path}: ", f"{Path(path)}: "):
                msg = msg.replace(prefix, "")
            self.ui.show_error(f"Could not open {Path(path).name}: {msg}")
            return False
        except MemoryError:
            self.ui.show_error(f"Could not open {Path(path).name}: not enough memory.")
            return False
        if not self.apply(proj, str(Path(path).resolve())):
            return False
        self.ui.notify(f"Opened the project {Path(path).name}.", "info")
        self.autosave()
        return True

    def save_project_to(self, path: str, embed: bool | None = None) -> bool:
        """Save the document as a project (atomically: on failure the previous file is intact)."""
        from dip_engine import project as projects
        if self.doc.photo is None:
            self.ui.notify("Open a photo first: a project keeps a photo, its mask, settings and runs.", "info")
            return False
        if not Path(path).suffix:
            path += projects.SUFFIX
        try:
            proj = self.build(embed)
            projects.save_project(proj, path)
        except projects.ProjectError as e:
            self.ui.show_error(f"Could not save the project {Path(path).name}: {e}")
            return False
        except MemoryError:
            self.ui.show_error(f"Could not save the project {Path(path).name}: out of memory.")
            return False
        except OSError as e:
            self.ui.show_error(f"Could not save the project {Path(path).name}: {e.strerror or e}")
            return False
        self.doc.saved_as_project(path)
        self.ui.notify(f"Saved the project to {path}", "success")
        return True

    # ------------------------------------------------------------------ resuming runs
    def resume_for(self, job, force: bool = False):
        """The checkpoint a new run of `job` continues from, or None for a fresh run."""
        from dip_engine import restore
        self.note = ""
        ckpt = self.doc.checkpoint
        if ckpt is None or not (self.doc.resume_next or force):
            return None
        try:
            restore.check_resume(job, ckpt)
        except restore.JobError as e:
            self.note = f"Starting a new run: {e}."
            return None
        return ckpt

    # ------------------------------------------------------------------ autosave
    def document_changed(self) -> None:
        """A new photo or a mask edit: autosave after a quiet spell."""
        if self.session is not None and not self._closed:
            self.mask_timer.start(self.mask_delay_ms)

    def autosave(self) -> None:
        if self.session is None or not self.session.active or self._closed or self.doc.photo is None:
            return
        if self._in_flight:
            self._dirty = True
            return
        try:
            proj = self.build(embed=True)
        except Exception as e:  # noqa: BLE001
            self._report(f"{type(e).__name__}: {e}")
            return
        self._in_flight, self._dirty = True, False
        self.pool.start(_SaveTask(proj, self.session.autosave_path, self._sink))

    def _autosave_done(self, path, err: str) -> None:
        self._in_flight = False
        if err:
            self._report(err)
        else:
            self._last_error = ""
            self.autosaved.emit(str(path))
        if self._dirty and not self._closed:
            self.autosave()

    def _report(self, err: str) -> None:
        if err != self._last_error:       # say it once, not every 30 s
            self.ui.notify(f"Autosave failed: {err}", "error")
        self._last_error = err
        self.autosaveFailed.emit(err)

    # ------------------------------------------------------------------ run hooks
    def _run_started(self) -> None:
        self.ckpt_timer.start(self.checkpoint_every_ms)

    def _ask_checkpoint(self) -> None:
        r = self.runner
        if r.busy and not r.paused:
            r.request_checkpoint()

    def _on_paused(self, paused: bool) -> None:
        if paused:
            self.ckpt_timer.stop()                     # the pause itself brings a checkpoint
        elif self.runner.busy:
            self.ckpt_timer.start(self.checkpoint_every_ms)

    def _on_checkpoint(self, ckpt: dict) -> None:
        self.doc.set_run_state(checkpoint=ckpt)
        self.autosave()

    def _run_ended(self, _outcome_or_message) -> None:
        """After the window has put the run's end into the document (it connected first)."""
        self.ckpt_timer.stop()
        self.autosave()
