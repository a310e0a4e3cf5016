"""Where a batch's photos are fitted: `fit_photo` (one photo, in any worker) and `LocalPool`,
worker processes on this machine.

Workers only fit: the batch process loads each photo, hands the job over, and writes the result
and the manifest itself, so a worker that dies loses nothing but its current photo.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import queue as queues
import signal
import threading
import time
from typing import Callable

from .. import restore

REPORT_EVERY_S = 0.5   # progress messages per photo at most this often


def fit_photo(job: restore.Job, report: Callable[[dict], None] | None = None,
              control: restore.Control | None = None) -> dict:
    """Run `job` to the end; return the result Photo, the settings to write into the file and
    run facts. Raises restore.RunError / JobError (one line) when it cannot."""
    last, sent = None, 0.0
    start = time.perf_counter()
    for step in restore.run(job, control):
        last = step
        now = time.perf_counter()
        if report is not None and (now - sent >= REPORT_EVERY_S or step.done):
            sent = now
            report({"iteration": int(step.iteration), "total": int(step.total), "loss": float(step.loss),
                    "eta_s": None if step.eta_s is None else float(step.eta_s)})
    if last is None or last.result is None:
        raise restore.RunError("stopped before the first iteration: there is no result")
    return {"result": last.result, "metadata": restore.metadata(job, last), "iterations": int(last.iteration),
            "stopped_by": last.stopped_by, "fit_s": round(float(last.elapsed_s), 3),
            "wall_s": round(time.perf_counter() - start, 3), "device": str(restore.devices.pick(job.device))}


def one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return text if isinstance(e, (restore.RunError, restore.JobError, ValueError)) and text \
        else f"{type(e).__name__}: {text}" if text else type(e).__name__


def _watch(parent: int, pause, control_box: list) -> None:
    """Worker side: end when the batch process is gone (kill -9 leaves no one to report to);
    pause and resume the running fit with the batch."""
    while True:
        if os.getppid() != parent:
            os._exit(1)
        control = control_box[0]
        if control is not None:
            if pause.is_set() and not control.paused:
                control.pause()
            elif not pause.is_set() and control.paused:
                control.resume()
        time.sleep(0.2)


def _worker(tasks, events, pause, parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl+C is the batch process's to handle
    box: list = [None]
    threading.Thread(target=_watch, args=(parent, pause, box), daemon=True).start()
    while True:
        msg = tasks.get()
        if msg is None:
            return
        key, job = msg
        box[0] = control = restore.Control()
        try:
            out = fit_photo(job, lambda p: events.put(("progress", key, p)), control)
            events.put(("done", key, out))
        except Exception as e:  # noqa: BLE001 - any failure is this photo's, reported in one line
            events.put(("failed", key, one_line(e)))
        finally:
            box[0] = None


class _Slot:
    def __init__(self):
        self.process = None
        self.tasks = None
        self.key: str | None = None


class LocalPool:
    """`workers` processes on this machine, each fitting one photo at a time with `threads`
    CPU threads. Processes are spawned (not forked: the caller may be a threaded Qt app)."""

    name = "local"

    def __init__(self, workers: int, threads: int):
        self.workers, self.threads = workers, threads
        self._ctx = mp.get_context("spawn")
        self._events = self._ctx.Queue()
        self._pause = self._ctx.Event()
        self._slots = [_Slot() for _ in range(workers)]

    def describe(self) -> str:
        return f"{self.workers} worker process{'es' if self.workers > 1 else ''} x {self.threads} thread" \
               f"{'s' if self.threads > 1 else ''}"

    @property
    def capacity(self) -> int:
        return self.workers

    def submit(self, key: str, job: restore.Job) -> None:
        slot = next(s for s in self._slots if s.key is None)
        if slot.process is None or not slot.process.is_alive():
            slot.tasks = self._ctx.Queue()
            slot.process = self._ctx.Process(target=_worker, args=(slot.tasks, self._events, self._pause, os.getpid()),
                                             daemon=True, name=f"dip-batch-worker")
            slot.process.start()
        job.threads = self.threads
        slot.key = key
        slot.tasks.put((key, job))

    def poll(self, timeout: float) -> list[tuple]:
        """Events since the last poll: ('progress', key, dict), ('done', key, dict), ('failed', key, reason)."""
        out = []
        try:
            out.append(self._events.get(timeout=timeout))
            while True:
                out.append(self._events.get_nowait())
        except queues.Empty:
            pass
        for ev in out:
            if ev[0] != "progress":
                self._free(ev[1])
        for s in self._slots:   # a worker that died (killed, out of memory) takes only its photo
            if s.key is not None and s.process is not None and not s.process.is_alive() and s.process.exitcode is not None:
                code = s.process.exitcode
                why = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
                out.append(("failed", s.key, f"the worker process ended unexpectedly ({why}; out of memory?): "
                                             "run the batch again to retry, with fewer --workers if it recurs"))
                s.key, s.process = None, None
        return out

    def _free(self, key: str) -> None:
        for s in self._slots:
            if s.key == key:
                s.key = None

    def running(self) -> list[str]:
        return [s.key for s in self._slots if s.key is not None]

    def pause(self, on: bool) -> None:
        (self._pause.set if on else self._pause.clear)()

    def abort(self) -> None:
        for s in self._slots:
            if s.process is not None and s.process.is_alive():
                s.process.terminate()
        self.close()

    def close(self) -> None:
        for s in self._slots:
            if s.process is not None and s.process.is_alive() and s.key is None:
                s.tasks.put(None)
        for s in self._slots:
            if s.process is not None:
                s.process.join(10)
                if s.process.is_alive():
                    s.process.kill()
                    s.process.join(5)
            s.process, s.key = None, None
