"""Runs the engine's fitting stream on a QThread and hands results to the GUI, throttled.

The worker (a QObject moved to its own QThread) iterates `restore.run(job, control)`. Every
step lands in a lock-protected mailbox that keeps only the newest frame, all new loss points
and any new history snapshots; the worker pokes the GUI with a queued signal at most once per
drain, and the GUI drains at most ~15 times a second. Display arrays (8-bit sRGB) are made on
the worker; QPixmaps only ever on the GUI thread. Stop and pause go through the engine's
thread-safe `Control`; the thread is never terminated.
"""
from __future__ import annotations

import math
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import QObject, Qt, QThread, QTimer, Signal, Slot

from app.model.confidence import at_size
from app.model.display import DisplayConverter, region_thumbnail, screen_image
from app.model.history import Snapshot, SnapshotPolicy

FRAME_INTERVAL_MS = 66          # ~15 Hz


@dataclass
class Progress:
    iteration: int
    total: int
    loss: float
    elapsed_s: float
    s_per_iter: float
    eta_s: float | None
    variance: float | None = None
    peak_iteration: int | None = None
    stop_suggested: bool = False
    done: bool = False
    stopped_by: str | None = None
    part: int | None = None                  # several parts (tiles, separate crops): 0-based index
    parts: int | None = None
    notes: list | None = None                # the engine's plan, one line each (first step only)
    progress: float | None = None            # fraction of the whole run done, 0..1 (engine Step.progress)
    eta_range: tuple[float, float] | None = None   # (low, high) seconds left
    usable: bool = True                      # False while the image is not yet better than the fallback
    result_iteration: int | None = None      # final step: the iteration whose output is the result
    kept: str | None = None                  # final step: "original" | "lanczos" | "classical fill" | None
    kept_message: str | None = None          # final step: the engine's sentence about what was kept
    unfinished_parts: list | None = None     # final step: 0-based parts that kept the input
    parts_done: int | None = None            # several parts: how many have ended (they run shuffled)


def progress_of(step) -> Progress:
    """A Progress from an engine Step; fields a Step lacks get their defaults (older engines)."""
    extra = getattr(step, "extra", None) or {}
    notes = extra.get("notes")
    loss = getattr(step, "loss", None)
    eta_range = getattr(step, "eta_range", None)
    frac = getattr(step, "progress", None)
    unfinished = extra.get("unfinished_parts")
    return Progress(step.iteration, step.total, float("nan") if loss is None else float(loss), step.elapsed_s,
                    step.s_per_iter, step.eta_s, step.variance, step.peak_iteration,
                    bool(step.stop_suggested), bool(step.done), step.stopped_by,
                    extra.get("part"), extra.get("parts"),
                    [str(n) for n in notes] if notes else None,
                    None if frac is None else min(1.0, max(0.0, float(frac))),
                    None if eta_range is None else (float(eta_range[0]), float(eta_range[1])),
                    bool(getattr(step, "usable", True)),
                    getattr(step, "result_iteration", None),
                    extra.get("kept"), extra.get("kept_message"),
                    None if unfinished is None else [int(i) for i in unfinished],
                    extra.get("parts_done"))


@dataclass
class Frame:
    iteration: int
    display: np.ndarray                      # uint8 RGB for the screen (maybe downscaled)
    region: tuple[int, int, int, int]        # output pixels covered by `display`
    final: bool = False
    thumb: np.ndarray | None = None          # the whole picture, small, for the filmstrip
    confidence: np.ndarray | None = None     # float32 map over `region` (engine Step.confidence)


@dataclass
class Outcome:
    job: object
    result: object | None                    # imageio.Photo (full resolution) or None
    progress: Progress | None
    stopped_by: str | None
    final_snapshot: Snapshot | None
    error: str | None = None
    metadata: dict = field(default_factory=dict)
    checkpoint: dict | None = None           # the run's state at its end (engine Step.checkpoint)
    confidence: np.ndarray | None = None     # the result's confidence map at the result's size


def user_message(exc: BaseException) -> str:
    """One line for the user; never a traceback."""
    name = type(exc).__name__
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if name == "RunError" and text:          # the engine's own line already says what to do
        return text[:1].upper() + text[1:]
    if isinstance(exc, MemoryError) or "out of memory" in text.lower() or name == "OutOfMemoryError":
        return ("Out of memory: try the 'fast' preset, a smaller mask or photo, "
                "or close other programs" + (f" ({text})" if text else "") + ".")
    if name in ("JobError", "RunError", "ImageError"):
        return text[:1].upper() + text[1:] if text else name
    return f"The restoration failed ({name}: {text})" if text else f"The restoration failed ({name})."


class _Mailbox:
    def __init__(self):
        self.lock = threading.Lock()
        self.progress: Progress | None = None
        self.frame: Frame | None = None
        self.losses: list[tuple[int, float]] = []
        self.snapshots: list[Snapshot] = []
        self.outcome: Outcome | None = None
        self.poke_pending = False
        self.paused = False
        self.notes: list[str] = []
        self.checkpoint: dict | None = None   # newest run state asked for (Control.request_checkpoint)

    def take(self):
        with self.lock:
            out = (self.progress, self.frame, self.losses, self.snapshots, self.outcome, self.notes)
            self.progress, self.frame, self.losses, self.snapshots, self.notes = None, None, [], [], []
            self.poke_pending = False
            return out

    def take_checkpoint(self) -> dict | None:
        with self.lock:
            c, self.checkpoint = self.checkpoint, None
            return c


class FitWorker(QObject):
    """Lives on the worker thread; `run` iterates the engine stream."""
    poke = Signal()
    done = Signal()

    def __init__(self, job, control, converter: DisplayConverter, mailbox: _Mailbox,
                 policy: SnapshotPolicy, run_fn=None, metadata_fn=None, base_thumb=None, out_size=None,
                 resume=None):
        super().__init__()
        self.resume = resume              # a checkpoint to continue from (engine Step.checkpoint)
        self.base_thumb = base_thumb      # the photo's filmstrip thumbnail: snapshots of a region go into it
        self.out_size = out_size          # (w, h) of the output
        self.job = job
        self.control = control
        self.converter = converter
        self.mailbox = mailbox
        self.policy = policy
        self.run_fn = run_fn
        self.metadata_fn = metadata_fn

    def _post(self, **kw) -> None:
        mb = self.mailbox
        with mb.lock:
            for k, v in kw.items():
                if k == "loss":
                    mb.losses.append(v)
                elif k == "notes":
                    mb.notes.extend(v)
                elif k == "snapshot":
                    mb.snapshots.append(v)
                else:
                    setattr(mb, k, v)
            poke = not mb.poke_pending
            mb.poke_pending = True
        if poke:
            self.poke.emit()

    @Slot()
    def run(self) -> None:
        last = None
        final_snap = None
        outcome = None
        try:
            kw = {} if self.resume is None else {"resume": self.resume}
            for step in self.run_fn(self.job, self.control, **kw):
                last = step
                prog = progress_of(step)
                post = {"progress": prog}
                if step.iteration > 0 and math.isfinite(prog.loss):   # iteration 0 is a preview, no fit yet
                    post["loss"] = (step.iteration, prog.loss)
                ckpt = getattr(step, "checkpoint", None)
                if ckpt is not None and not step.done:
                    post["checkpoint"] = ckpt
                if prog.notes:
                    post["notes"] = prog.notes
                conf = getattr(step, "confidence", None)
                if step.image is not None:
                    region = tuple(int(v) for v in step.region)
                    disp = screen_image(self.converter, step.image)
                    thumb = region_thumbnail(self.base_thumb, disp, region, self.out_size)
                    post["frame"] = Frame(step.iteration, disp, region, final=bool(step.done), thumb=thumb,
                                          confidence=conf)
                    if step.done or self.policy.wants(step.iteration):
                        # the result is labelled with the iteration whose output it is (one numbering)
                        it = prog.result_iteration if step.done and prog.result_iteration is not None \
                            else step.iteration
                        snap = Snapshot(it, prog.loss, step.image.astype(np.float16),
                                        region, disp, thumb, final=bool(step.done),
                                        confidence=None if conf is None else conf.astype(np.float16))
                        if not prog.kept:       # a kept fallback is no iteration of the fit: not history
                            post["snapshot"] = snap
                        if step.done:
                            final_snap = snap
                if step.done:
                    meta = {}
                    if self.metadata_fn is not None:
                        try:
                            meta = self.metadata_fn(self.job, step)
                        except Exception:
                            meta = {}
                    result = step.result
                    outcome = Outcome(self.job, result, prog, step.stopped_by, final_snap, None, meta,
                                      getattr(step, "checkpoint", None),
                                      None if result is None or conf is None else
                                      at_size(conf, step.region, (result.width, result.height)))
                self._post(**post)
                if step.done:
                    break
            if outcome is None:
                prog = None
                outcome = Outcome(self.job, getattr(last, "result", None), prog,
                                  "user" if self.control.stopped else None, final_snap)
        except BaseException as e:  # noqa: BLE001 - everything becomes one line for the user
            if not isinstance(e, Exception) and not isinstance(e, MemoryError):
                raise
            if type(e).__name__ not in ("JobError", "ImageError", "RunError"):
                traceback.print_exc(file=sys.stderr)
            outcome = Outcome(self.job, None, None, None, None, user_message(e))
        finally:
            with self.mailbox.lock:
                self.mailbox.outcome = outcome
            self.done.emit()


class FitRunner(QObject):
    """GUI-side handle for one run at a time."""
    started = Signal()
    progressed = Signal(object)         # Progress
    lossesAdded = Signal(object)        # list[(iteration, loss)]
    frameReady = Signal(object)         # Frame (newest only)
    snapshotAdded = Signal(object)      # Snapshot
    notesAdded = Signal(object)         # list[str]: the engine's plan for this run
    checkpointReady = Signal(object)    # dict: the run's state, after request_checkpoint() or a pause
    pausedChanged = Signal(bool)
    finished = Signal(object)           # Outcome (error is None)
    failed = Signal(str)                # one line

    def __init__(self, parent=None, run_fn=None, metadata_fn=None, control_factory=None):
        super().__init__(parent)
        self._run_fn = run_fn
        self._metadata_fn = metadata_fn
        self._control_factory = control_factory
        self._thread: QThread | None = None
        self._worker: FitWorker | None = None
        self._mailbox: _Mailbox | None = None
        self.control = None
        self._last_drain = 0.0
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._drain)

    # -- engine hooks (import lazily so the GUI starts fast) --------------------------------
    def _engine(self):
        from dip_engine import restore
        return restore

    def is_running(self) -> bool:
        return self._thread is not None and self._thread.isRunning()

    @property
    def busy(self) -> bool:
        """From start until `finished`/`failed` was emitted."""
        return self._mailbox is not None

    @property
    def paused(self) -> bool:
        return bool(self.control is not None and self.control.paused)

    def start(self, job, converter: DisplayConverter, policy: SnapshotPolicy | None = None,
              base_thumb=None, out_size=None, resume=None) -> None:
        if self.busy:
            raise RuntimeError("a run is already in progress")
        restore = None
        run_fn, meta_fn = self._run_fn, self._metadata_fn
        if run_fn is None or self._control_factory is None:
            restore = self._engine()
        run_fn = run_fn or restore.run
        meta_fn = meta_fn or getattr(restore, "metadata", None)
        self.control = (self._control_factory or restore.Control)()
        self._mailbox = _Mailbox()
        self._thread = QThread()
        self._thread.setObjectName("dip-fit")
        self._worker = FitWorker(job, self.control, converter, self._mailbox,
                                 policy or SnapshotPolicy(), run_fn, meta_fn, base_thumb, out_size, resume)
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.run)
        self._worker.poke.connect(self._on_poke)
        # Direct: QThread.quit is thread-safe, and queued it would wait for the GUI thread, which
        # blocks in shutdown()/wait() at quit: the thread then ran on until wait's timeout.
        self._worker.done.connect(self._thread.quit, Qt.ConnectionType.DirectConnection)
        self._thread.finished.connect(self._on_thread_finished)
        self._last_drain = 0.0
        self._thread.start()
        self.started.emit()

    def pause(self) -> None:
        if self.control is not None and self.busy and not self.control.stopped:
            self.request_checkpoint()         # the engine hands the state over as it pauses
            self.control.pause()
            self.pausedChanged.emit(True)

    def request_checkpoint(self) -> None:
        """Ask the run for its state; it comes back through `checkpointReady`."""
        if self.control is not None and self.busy and hasattr(self.control, "request_checkpoint"):
            self.control.request_checkpoint()

    def resume(self) -> None:
        if self.control is not None and self.busy:
            self.control.resume()
            self.pausedChanged.emit(False)

    def stop(self) -> None:
        if self.control is not None and self.busy:
            was_paused = self.control.paused
            self.control.stop()
            if was_paused:
                self.pausedChanged.emit(False)

    def set_lr(self, lr: float) -> None:
        if self.control is not None and self.busy:
            self.control.set_lr(lr)

    def wait(self, ms: int = 60000) -> bool:
        if self._thread is None:
            return True
        return self._thread.wait(ms)

    def shutdown(self, ms: int = 60000) -> bool:
        """Stop and block until the thread has ended (for application exit); False if it had not
        ended after `ms`."""
        self.stop()
        return self._thread is None or self._thread.wait(ms)

    # -- GUI-thread side ------------------------------------------------------------------
    def _on_poke(self) -> None:
        # a leading-edge throttle: the first frame at once, then at most one drain per interval.
        # superqt's QSignalThrottler does the same, but importing superqt adds ~0.5 s to start-up
        # and pulls qtpy and QtOpenGL into the bundle (docs/ARCHITECTURE.md, "Dependencies")
        if self._timer.isActive():
            return
        wait = FRAME_INTERVAL_MS - (time.monotonic() - self._last_drain) * 1000
        if wait <= 0:
            self._drain()
        else:
            self._timer.start(int(wait) + 1)

    def _drain(self) -> None:
        if self._mailbox is None:
            return
        self._last_drain = time.monotonic()
        progress, frame, losses, snaps, _, notes = self._mailbox.take()
        ckpt = self._mailbox.take_checkpoint()
        if ckpt is not None:
            self.checkpointReady.emit(ckpt)
        if notes:
            self.notesAdded.emit(notes)
        if losses:
            self.lossesAdded.emit(losses)
        for s in snaps:
            self.snapshotAdded.emit(s)
        if frame is not None:
            self.frameReady.emit(frame)
        if progress is not None:
            self.progressed.emit(progress)

    def _on_thread_finished(self) -> None:
        self._timer.stop()
        if self._thread is not None:
            self._thread.wait()
        self._drain()
        outcome = self._mailbox.outcome if self._mailbox is not None else None
        self._worker, self._thread, self._mailbox = None, None, None
        if outcome is None:
            self.failed.emit("The restoration ended without a result.")
        elif outcome.error:
            self.failed.emit(outcome.error)
        else:
            self.finished.emit(outcome)


@dataclass
class VariationDone:
    """One finished variation, handed from the worker thread to the GUI."""
    index: int                               # 0-based
    seed: int
    result: object                           # imageio.Photo
    metadata: dict
    confidence: np.ndarray | None            # at the result's size
    display: np.ndarray                      # 8-bit sRGB for the screen
    kept: str | None = None                  # the classical answer was kept


class _VariationsWorker(QObject):
    """Lives on the worker thread; `run` iterates `variations.run` and reports each result."""
    progressed = Signal(int, int, int)       # variation index, iteration, total (at most ~10 a second)
    variationDone = Signal(object)           # VariationDone
    done = Signal()

    def __init__(self, job, seeds: list[int], control, converter: DisplayConverter, run_fn, metadata_fn):
        super().__init__()
        self.job, self.seeds, self.control, self.converter = job, seeds, control, converter
        self.run_fn, self.metadata_fn = run_fn, metadata_fn
        self.error: str | None = None        # the failure as one line, read after the thread ended

    @Slot()
    def run(self) -> None:
        from dataclasses import replace
        last = 0.0
        try:
            for k, step in self.run_fn(self.job, len(self.seeds), self.control):
                if step.done:
                    if step.result is None:
                        continue
                    job = replace(self.job, seed=self.seeds[k])
                    res = step.result
                    self.variationDone.emit(VariationDone(
                        k, job.seed, res, self.metadata_fn(job, step),
                        at_size(step.confidence, step.region, (res.width, res.height)),
                        screen_image(self.converter, res.data), (step.extra or {}).get("kept")))
                elif time.monotonic() - last > 0.1:
                    last = time.monotonic()
                    self.progressed.emit(k, step.iteration, step.total)
        except Exception as e:  # noqa: BLE001 - everything becomes one line for the user
            if type(e).__name__ not in ("JobError", "ImageError", "RunError"):
                traceback.print_exc(file=sys.stderr)
            self.error = user_message(e)
        self.done.emit()


class VariationsRunner(QObject):
    """GUI-side handle for one set of variations at a time: the job with `variations.seeds`
    (`dip_engine.variations.run`) on a QThread; Stop goes through the engine's `Control`."""
    progressed = Signal(int, int, int)       # variation index, iteration, total
    variationDone = Signal(object)           # VariationDone
    finished = Signal(bool)                  # stopped by the user
    failed = Signal(str)                     # one line

    def __init__(self, parent=None, run_fn=None):
        super().__init__(parent)
        self._run_fn = run_fn
        self._thread: QThread | None = None
        self._worker: _VariationsWorker | None = None
        self.control = None

    @property
    def busy(self) -> bool:
        return self._thread is not None

    def start(self, job, n: int, converter: DisplayConverter) -> None:
        if self.busy:
            raise RuntimeError("variations are already running")
        from dip_engine import restore, variations
        self.control = restore.Control()
        self._thread = QThread()
        self._thread.setObjectName("dip-variations")
        self._worker = _VariationsWorker(job, variations.seeds(job, n), self.control, converter,
                                         self._run_fn or variations.run,
                                         restore.metadata)
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.run)
        self._worker.progressed.connect(self.progressed)
        self._worker.variationDone.connect(self.variationDone)
        self._worker.done.connect(self._thread.quit, Qt.ConnectionType.DirectConnection)   # as in FitRunner
        self._thread.finished.connect(self._on_done)
        self._thread.start()

    def stop(self) -> None:
        if self.control is not None and self.busy:
            self.control.stop()

    def shutdown(self, ms: int = 60000) -> bool:
        self.stop()
        return self._thread is None or self._thread.wait(ms)

    def _on_done(self) -> None:
        self._thread.wait()
        err, stopped = self._worker.error, bool(self.control.stopped)
        self._worker, self._thread = None, None
        if err:
            self.failed.emit(err)
        else:
            self.finished.emit(stopped)
