"""Project files, autosave and crash recovery for the main window.

`ProjectManager` turns the window's document (photo, mask, task settings, history, result and
the run's newest checkpoint) into a `dip_engine.project.Project` and back. Autosave: mask edits
are saved ~5 s after the last change; while a run fits, it is asked for a checkpoint every
~30 s of fitting, at every pause and at its end, and each one is saved. Autosaves are written
on a QThreadPool thread, atomically, to this session's file in the user data folder; a session
that did not exit cleanly is offered for recovery on the next start (`start_session`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QRunnable, QThreadPool, QTimer, Signal

from app.model.autosave import Session
from app.model.history import Snapshot
from app.model.task import TaskSettings

PROJECT_FILTER = "DIP Studio projects (*.dipproj)"
MASK_DELAY_MS = 5000             # autosave this long after the last mask edit
CHECKPOINT_EVERY_MS = 30000      # ask a running fit for its state this often (pauses excluded)
RESUMABLE = ("running", "paused", "user")   # run states that a checkpoint can continue


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
    autosaved = Signal(str)               # path of a finished autosave
    autosaveFailed = Signal(str)          # one line

    def __init__(self, window):
        super().__init__(window)
        self.w = window
        self.session: Session | None = None
        self.project_path: str | None = None  # the .dipproj the document was opened from / saved to
        self.checkpoint: dict | None = None   # the newest run state of the document
        self.run_state: str | None = None     # "running" | "paused" | a finished run's stopped_by
        self.resume_next = False              # Restore continues the saved run (after opening one)
        self.mask_delay_ms = MASK_DELAY_MS
        self.checkpoint_every_ms = CHECKPOINT_EVERY_MS
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        self._sink = _Saved()
        self._sink.done.connect(self._autosave_done)
        self._in_flight = False
        self._dirty = False
        self._pending = None                  # the checkpoint the run being started continues
        self.note = ""                        # why the saved run is not continued
        self._last_error = ""
        self._closed = False
        self.mask_timer = QTimer(self)
        self.mask_timer.setSingleShot(True)
        self.mask_timer.timeout.connect(self.autosave)
        self.ckpt_timer = QTimer(self)
        self.ckpt_timer.timeout.connect(self._ask_checkpoint)
        r = window.runner
        r.started.connect(self._run_started)
        r.checkpointReady.connect(self._on_checkpoint)
        r.pausedChanged.connect(self._on_paused)
        r.finished.connect(self._run_finished)
        r.failed.connect(self._run_failed)

    # ------------------------------------------------------------------ session and recovery
    def start_session(self, folder=None) -> bool:
        """Start autosaving; offer the newest autosave of a session that did not exit cleanly.
        Returns True when something was restored."""
        self.session = Session(folder)
        try:
            orphans = self.session.start()
        except OSError as e:
            self.session = None
            self.w.notify(f"Autosave is off: cannot use the data folder ({e}).", "error")
            return False
        if not orphans:
            return False
        orphan = orphans[0]
        if not self.w.confirm("Restore unsaved work?",
                              f"DIP Studio did not close properly last time. Restore the work autosaved "
                              f"at {orphan.describe()}?"):
            orphan.discard()
            return False
        from dip_engine import project as projects
        try:
            proj = projects.load_project(orphan.autosave)
        except projects.ProjectError as e:
            self.w.show_error(f"Could not restore the autosave: {e}")
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
            it = self.checkpoint_iteration()
            more = f" Restore continues the run from iteration {it}." if self.resume_next and it else ""
            self.w.notify("Restored the work that was open when DIP Studio stopped." + more, "success")
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
    def checkpoint_iteration(self) -> int | None:
        return None if self.checkpoint is None else int(self.checkpoint.get("iteration", 0))

    def build(self, embed: bool | None = None):
        """The document as a Project (on the GUI thread: arrays are shared, not copied, except
        the mask, which keeps changing)."""
        from dip_engine import project as projects
        from dip_engine import restore
        w = self.w
        ts = w.task_panel.settings()
        job = restore.Job(photo=w.photo, **ts.job_kwargs())
        history = [projects.HistoryItem(s.iteration, s.image, tuple(s.region), s.loss, s.final)
                   for s in w.history if s.image is not None]
        run = None if w.job is None else {k: getattr(w.job, k) for k in projects.JOB_FIELDS}
        result_it = w.result_key.iteration if isinstance(w.result_key, Snapshot) else None
        extra = {"task_settings": ts.to_dict(), "run_settings": run, "run_state": self.run_state,
                 "result_iteration": result_it, "result_saved": bool(w.result_saved)}
        mask = None if w.mask_model is None else w.mask_model.array.copy()
        if embed is None:
            embed = self.embed_photo()
        return projects.Project.from_job(job, mask=mask, history=history, checkpoint=self.checkpoint,
                                         result=w.result, result_meta=dict(w.result_meta or {}),
                                         photo_path=w.photo_path, embed_photo=embed or not w.photo_path,
                                         name=w.display_name, extra=extra)

    def embed_photo(self) -> bool:
        v = self.w.settings.value("project/embed_photo", True)
        return v in (True, "true", "1", 1)

    def apply(self, proj, path: str | None) -> bool:
        """Show a loaded project in the window."""
        from dip_engine import restore
        from app.worker import FitWorker
        w = self.w
        try:
            name = proj.name or (Path(path).stem if path else "Restored")
            w.set_photo(proj.photo, None, name=name)
            if proj.photo_path and Path(proj.photo_path).exists():
                w.photo_path = str(Path(proj.photo_path).resolve())   # still guard the original
            if proj.mask is not None and proj.mask.any():
                w.mask_model.set_mask(proj.mask, "Restore mask")
            ts = TaskSettings.from_dict(proj.extra.get("task_settings") or self._task_settings(proj.settings))
            w.task_panel.set_settings(ts)
            w._task_changed(ts.task)
            run = proj.extra.get("run_settings")
            if run:
                mask = proj.mask if run.get("task") == "inpaint" else None
                w.job = restore.Job(photo=proj.photo, mask=mask, **run)
            out_size = restore.output_size(w.job) if w.job is not None else (proj.photo.width, proj.photo.height)
            helper = FitWorker(None, None, w.converter, None, None, base_thumb=w.base_thumb, out_size=out_size)
            last = None
            for h in proj.history:
                disp = helper._display(h.image)
                snap = Snapshot(h.iteration, h.loss, h.image.astype(np.float16), tuple(h.region), disp,
                                helper._thumb(disp, h.region), final=h.final)
                w._on_snapshot(snap)
                last = snap
            if last is not None:
                w.history.policy.wants(last.iteration)        # new snapshots come after these
                from app.ui.layers import PictureLayer
                w.frame_layer = PictureLayer(last.display, w._region_rect(last.region), build_pyramid=False)
                w.filmstrip.set_current(last.thumb, "Result" if proj.result is not None else "Saved run")
                w.compare_bar.show()
            if proj.result is not None:
                w.result = proj.result
                w.result_meta = dict(proj.result_meta)
                w.result_saved = bool(proj.extra.get("result_saved", True))
                rit = proj.extra.get("result_iteration")
                w.result_key = next((s for s in w.history if s.iteration == rit), None) if rit is not None else None
                from app.ui.filmstrip import CURRENT
                w.result_key = w.result_key or CURRENT
            self.checkpoint = proj.checkpoint
            self.run_state = proj.extra.get("run_state") or ("user" if proj.checkpoint is not None else None)
            self.resume_next = proj.checkpoint is not None and self.run_state in RESUMABLE
            self.project_path = path
            w._refresh_view()
            w._update_actions()
            w._update_hint()
            it = self.checkpoint_iteration()
            if self.resume_next and it:
                w.run_panel.message.setText(f"Saved run at iteration {it}: Restore continues it.")
        except Exception as e:  # noqa: BLE001 - a message, never a traceback dialog
            w.show_error(f"Could not show the project: {type(e).__name__}: {e}")
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
        w = self.w
        try:
            proj = projects.load_project(path)
        except projects.ProjectError as e:
            msg = str(e)
            for prefix in (f"{path}: ", f"{Path(path)}: "):
                msg = msg.replace(prefix, "")
            w.show_error(f"Could not open {Path(path).name}: {msg}")
            return False
        except MemoryError:
            w.show_error(f"Could not open {Path(path).name}: not enough memory.")
            return False
        if not self.apply(proj, str(Path(path).resolve())):
            return False
        w.notify(f"Opened the project {Path(path).name}.", "info")
        self.autosave()
        return True

    def save_project_to(self, path: str, embed: bool | None = None) -> bool:
        """Save the document as a project (atomically: on failure the previous file is intact)."""
        from dip_engine import project as projects
        w = self.w
        if w.photo is None:
            w.notify("Open a photo first: a project keeps a photo, its mask, settings and runs.", "info")
            return False
        if not Path(path).suffix:
            path += projects.SUFFIX
        try:
            proj = self.build(embed)
            projects.save_project(proj, path)
        except projects.ProjectError as e:
            w.show_error(f"Could not save the project {Path(path).name}: {e}")
            return False
        except MemoryError:
            w.show_error(f"Could not save the project {Path(path).name}: out of memory.")
            return False
        except OSError as e:
            w.show_error(f"Could not save the project {Path(path).name}: {e.strerror or e}")
            return False
        self.project_path = str(Path(path).resolve())
        if w.result is not None:
            w.result_saved = True
        w.notify(f"Saved the project to {path}", "success")
        return True

    # ------------------------------------------------------------------ resuming runs
    def resume_for(self, job, force: bool = False):
        """The checkpoint a new run of `job` continues from, or None for a fresh run."""
        from dip_engine import restore
        self._pending, self.note = None, ""
        if self.checkpoint is None or not (self.resume_next or force):
            return None
        try:
            restore.check_resume(job, self.checkpoint)
        except restore.JobError as e:
            self.note = f"Starting a new run: {e}."
            return None
        self._pending = self.checkpoint
        return self.checkpoint

    # ------------------------------------------------------------------ autosave
    def document_changed(self) -> None:
        """A mask edit (or similar): autosave after a quiet spell."""
        if self.session is not None and not self._closed:
            self.mask_timer.start(self.mask_delay_ms)

    def autosave(self) -> None:
        if self.session is None or not self.session.active or self._closed or self.w.photo is None:
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
            self.w.notify(f"Autosave failed: {err}", "error")
        self._last_error = err
        self.autosaveFailed.emit(err)

    # ------------------------------------------------------------------ run hooks
    def _run_started(self) -> None:
        if self._pending is None:
            self.checkpoint = None                     # a fresh run: the old state is history
        self._pending = None
        self.run_state = "running"
        self.resume_next = False
        self.ckpt_timer.start(self.checkpoint_every_ms)

    def _ask_checkpoint(self) -> None:
        r = self.w.runner
        if r.busy and not r.paused:
            r.request_checkpoint()

    def _on_paused(self, paused: bool) -> None:
        self.run_state = "paused" if paused else "running"
        if paused:
            self.ckpt_timer.stop()                     # the pause itself brings a checkpoint
        elif self.w.runner.busy:
            self.ckpt_timer.start(self.checkpoint_every_ms)

    def _on_checkpoint(self, ckpt: dict) -> None:
        self.checkpoint = ckpt
        self.autosave()

    def _run_finished(self, outcome) -> None:
        self.ckpt_timer.stop()
        if outcome.checkpoint is not None:
            self.checkpoint = outcome.checkpoint
        self.run_state = outcome.stopped_by or "finished"
        self.autosave()

    def _run_failed(self, _msg: str) -> None:
        self.ckpt_timer.stop()
        self.run_state = "failed" if self.checkpoint is None else "user"
        self.autosave()
