"""A run's life in the window: start (or continue), pause, stop, live frames, the end and its
sentence, and turning a history snapshot into the result.

`RunController` drives the `FitRunner` and writes what happens into the `Document` (job,
history, result, run state); the compare view shows its live frames.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal

from app.model.history import Snapshot
from app.model.task import TASK_LABELS
from app.ui.canvas import TOOL_PAN
from app.ui.filmstrip import CURRENT, ORIGINAL, RESULT_TIP
from app.ui.resources import icon

# what a run keeps when stopped before it is useful (the engine decides, Step.extra["kept"])
KEPT_LABELS = {"original": "original", "lanczos": "Lanczos upscale", "classical fill": "classical fill"}
FALLBACKS = {"denoise": "the original", "jpeg": "the original", "sr": "the Lanczos upscale",
             "inpaint": "the classical fill"}


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


class RunController(QObject):
    ended = Signal(bool)            # a run ended and the window shows it: True with an outcome, False failed

    def __init__(self, window):
        super().__init__(window)
        self.w = window
        self.doc = window.document
        self.runner = window.runner
        self.frame = None                 # the newest worker Frame of this run
        self.frames_received = 0
        self._was_usable = True
        r = self.runner
        r.progressed.connect(self._on_progress)
        r.lossesAdded.connect(window.run_panel.curve.add)
        r.frameReady.connect(self._on_frame)
        r.snapshotAdded.connect(self.doc.add_snapshot)
        r.notesAdded.connect(self._show_notes)
        r.pausedChanged.connect(self._on_paused)
        r.finished.connect(self._on_finished)
        r.failed.connect(self._on_failed)
        window.task_panel.lr_spin.valueChanged.connect(self._lr_changed)
        self.doc.on("photo", self._forget_frames)

    def _forget_frames(self) -> None:
        self.frame = None

    # ------------------------------------------------------------------ starting
    def build_job(self):
        from dip_engine import restore
        s, doc = self.doc.settings, self.doc
        mask = doc.mask.array.copy() if (s.task == "inpaint" and doc.mask is not None) else None
        return restore.Job(photo=doc.photo, mask=mask, **s.job_kwargs())

    def start(self, resume: bool = False) -> bool:
        """Start a run of the panel's settings; it continues the saved run when one was opened
        (or `resume`: the last run) and the settings still match it."""
        w, doc = self.w, self.doc
        if w.busy:
            w.flash("A restoration is already running: stop it (Esc) before starting another.")
            return False
        if doc.photo is None:
            return False
        from dip_engine import restore
        try:
            job = self.build_job()
            pl = restore.plan(job)            # memory estimate first: refuse before the machine runs out
        except (ValueError, TypeError) as e:
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            w.show_error(msg[:1].upper() + msg[1:])
            return False
        if pl.error:
            w.show_error(f"Not enough memory for this run: {pl.error}.")
            return False
        ckpt = w.projects.resume_for(job, force=resume is True)
        if not w.may_discard_result("Start a new run", "Start a new run and replace it?"):
            return False
        w.banner.hide()
        doc.start_run(job, resume=ckpt is not None)
        self.frame = None
        self.frames_received = 0
        self._was_usable = True
        if ckpt is None:
            w.filmstrip.reset_strip(doc.thumb)
        w.compare.set_current(None)
        w.filmstrip.set_current(doc.thumb, "Live")
        w.compare_bar.show()
        try:
            total = job.settings().iterations
        except Exception:  # noqa: BLE001
            total = 0
        w.run_panel.reset(total)
        w.compare.src_a, w.compare.src_b = ORIGINAL, CURRENT
        if w.canvas.tool != TOOL_PAN:
            w.masks.set_tool(TOOL_PAN)
        self.runner.start(job, doc.converter, doc.history.policy, doc.thumb, doc.out_size, resume=ckpt)
        self._show_pause(False)
        w.compare.refresh()
        w.run_state_changed()
        notes = ([f"Continuing the saved run from iteration {ckpt.get('iteration', 0)}."] if ckpt else
                 [w.projects.note] if w.projects.note else []) + pl.notes
        w.run_panel.message.setText(f"{TASK_LABELS[job.task]} · {w.task_panel.preset_combo.currentText()} "
                                    f"preset. " + " ".join(notes))
        w.run_panel.message.setToolTip("\n".join(notes))
        return True

    def continue_run(self) -> bool:
        """Continue the last run (stopped, paused and saved, or restored) from its checkpoint."""
        return self.start(resume=True)

    # ------------------------------------------------------------------ while it runs
    def toggle_pause(self) -> None:
        if not self.runner.busy:
            return
        if self.runner.paused:
            self.runner.resume()
        else:
            self.runner.pause()

    def stop(self) -> None:
        if self.runner.busy:
            self.runner.stop()
            self.w.run_panel.message.setText("Stopping…")

    def _lr_changed(self, lr: float) -> None:
        if self.runner.busy:
            self.runner.set_lr(lr)
            self.w.flash(f"Learning rate set to {lr:g} for the rest of the run", 4000)

    def _show_pause(self, paused: bool) -> None:
        a = self.w.actions_["pause"]
        a.setText("Resume" if paused else "Pause")
        a.setIcon(icon("play" if paused else "pause"))

    def _on_paused(self, paused: bool) -> None:
        self.doc.set_run_state("paused" if paused else "running")
        self._show_pause(paused)
        self.w.run_panel.message.setText("Paused. Resume to continue from here." if paused else "")
        self.w.flash("Paused: Ctrl+P resumes" if paused else "Resumed", 3000)

    def _on_progress(self, p) -> None:
        w, job = self.w, self.doc.job
        fallback = FALLBACKS.get(getattr(job, "task", ""), "the original")
        w.run_panel.show_progress(p, fallback)
        if p.usable and not self._was_usable and not p.done:
            w.flash(f"From iteration {p.iteration:,} the fit beats {fallback}: stopping now keeps it.", 5000)
        self._was_usable = p.usable
        if p.stop_suggested and job is not None and job.stop == "never" and p.peak_iteration:
            w.run_panel.message.setText(f"Auto-stop would stop here: the quality peaked near iteration "
                                        f"{p.peak_iteration}.")

    def _show_notes(self, notes) -> None:
        self.w.run_panel.message.setText(" ".join(notes))
        self.w.run_panel.message.setToolTip("\n".join(notes))

    def _on_frame(self, frame) -> None:
        self.frame = frame
        self.frames_received += 1
        self.w.compare.set_current(frame, None if frame.final else "Live")
        self.w.compare.refresh_live()

    # ------------------------------------------------------------------ the end
    def _on_finished(self, outcome) -> None:
        w = self.w
        self.doc.finish_run(outcome)
        p = outcome.progress
        msg, kind = finish_message(outcome.stopped_by, p)
        rit = result_iteration(p)
        tip = RESULT_TIP.format(it=rit) if rit is not None else None
        if outcome.final_snapshot is not None:
            w.compare.set_current(outcome.final_snapshot, "Result", tip)
        else:
            w.filmstrip.set_current(None, "Result", tip)
        w.run_panel.message.setText(msg)
        w.run_panel.message.setToolTip(tip or msg)
        w.run_panel.phase.hide()
        if rit is not None:
            w.run_panel.curve.set_peak(rit, "result")
        w.notify(msg + "  Ctrl+S saves the result." if self.doc.result is not None else msg, kind)
        self._show_pause(False)
        w.compare.src_b = CURRENT        # after a run the mask overlay would hide the fill: show the result
        self._ended(True)

    def _on_failed(self, message: str) -> None:
        w = self.w
        self.doc.fail_run()
        w.filmstrip.remove_current()
        if self.doc.result is None:
            w.compare.set_current(None)
        w.show_error(message)
        w.run_panel.message.setText("The run failed; see the message above.")
        w.actions_["pause"].setText("Pause")
        self._ended(False)

    def _ended(self, ok: bool) -> None:
        self.w.compare.refresh()
        self.w.run_state_changed()
        self.ended.emit(ok)

    # ------------------------------------------------------------------ results from history
    def snapshot_photo(self, snap: Snapshot):
        """The full-resolution Photo of a history snapshot, or None (with a message) when it was
        kept for viewing only or cannot be built."""
        from dip_engine import restore
        if not snap.restorable:
            self.w.notify(f"Iteration {snap.iteration} was kept for viewing only (to save memory on a big photo): "
                          "pick a later snapshot.", "info")
            return None
        try:
            return restore.compose(self.doc.job, snap.float_image(), snap.region)
        except Exception as e:  # noqa: BLE001 - a message, never a traceback dialog
            self.w.show_error(f"Could not build the snapshot of iteration {snap.iteration}: {e}")
            return None

    def make_result(self, snap: Snapshot) -> bool:
        """Turn a history snapshot into the result (full resolution, via restore.compose)."""
        if self.doc.job is None or self.runner.busy:
            return False
        photo = self.snapshot_photo(snap)
        if photo is None:
            return False
        self.doc.make_result(snap, photo)
        self.w.filmstrip.set_current(snap.thumb, "Result")
        self.w.compare.src_b = CURRENT
        self.w.compare.refresh()
        self.w.notify(f"Iteration {snap.iteration} is now the result. Ctrl+S saves it.", "info")
        return True

    def make_shown_result(self) -> bool:
        snap = self.w.compare.shown_snapshot()
        return self.make_result(snap) if snap is not None else False

    def use_result_as_photo(self) -> None:
        doc = self.doc
        if doc.result is None or self.runner.busy:
            return
        doc.load(doc.result, doc.path, name=f"{Path(doc.name).stem} (restored)")   # the original stays guarded
        self.w.notify("The result is now the photo: paint a new mask or pick another task.", "info")
