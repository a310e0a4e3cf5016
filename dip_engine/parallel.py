"""Fit the parts of one photo (tiles, or crops around separate marks) on every core at once.

Two fits that share the cores through torch's threads speed up poorly (the small nets got 1.36x
from 2 threads, bench/README.md); separate processes, each with its own share of the cores,
scale with the core count. `fit_parts` runs up to `workers` fits at a time in worker processes
and streams their Steps back in the order they arrive; with one worker it runs them one after
another in this process. Stop and pause go to every worker through the caller's `Control`.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import queue as queues
import signal
import threading
import time
from dataclasses import replace
from functools import partial
from typing import Callable, Iterator

import torch

from .fit import Control, Problem, Step, fit
from .presets import Preset

POLL_S = 0.1


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def plan_workers(parts: int, device: torch.device, part_bytes: int, budget_bytes: int,
                 asked: int | None = None, threads: int | None = None) -> tuple[int, int | None]:
    """(worker processes, torch threads each) for `parts` fits of about `part_bytes` each: on the
    CPU as many as there are cores, parts and memory for (`asked` overrides), each with an equal
    share of the cores (`threads` overrides); elsewhere one (the GPU is shared)."""
    if device.type != "cpu" or parts < 2 or mp.current_process().daemon:
        return 1, threads   # a daemon (a batch worker, say) may not start processes of its own
    n = asked if asked is not None else min(cores(), parts, max(1, budget_bytes // max(1, part_bytes)))
    n = max(1, min(n, parts))
    return (n, threads or max(1, cores() // n)) if n > 1 else (1, threads)


def fit_parts(problems: list[Problem], preset: Preset, *, workers: int = 1, threads: int | None = None,
              control: Control | None = None, seed: int | list[int] = 0,
              **fit_kw) -> Iterator[tuple[int, Step]]:
    """Yield (part index, Step) of every part's fit; each part's last Step has done=True. After a
    stop, parts not yet started are not fitted (they yield nothing). `seed`: one for all parts,
    or one per part."""
    control = control or Control()
    items = list(zip(problems, seed if isinstance(seed, list) else [seed] * len(problems), strict=True))
    if workers <= 1:
        for i, item in enumerate(items):
            if control.stopped:
                return
            for step in _fit(item, control, preset=preset, fit_kw=fit_kw):
                yield i, step
        return
    yield from in_processes(items, partial(_fit, preset=preset, fit_kw=fit_kw), workers, threads, control)


class WorkerDied(RuntimeError):
    """A worker process ended without reporting: killed, most often by the system when memory ran
    out (a Python error in a worker is reported and raised as itself)."""


def _fit(item: tuple[Problem, int], control: Control, *, preset: Preset, fit_kw: dict) -> Iterator[Step]:
    problem, seed = item
    return fit(problem, preset, control=control, seed=seed, **fit_kw)


def in_processes(items: list, run: Callable[..., Iterator[Step]], workers: int, threads: int | None,
                 control: Control) -> Iterator[tuple[int, Step]]:
    """Yield (item index, Step) of `run(item, control)` for every item, up to `workers` items at
    a time, each in a spawned process with `threads` torch threads; `run` must be picklable (a
    module-level function or a partial of one)."""
    ctx = mp.get_context("spawn")   # never fork a process that runs Qt or torch threads
    tasks, results = ctx.Queue(), ctx.Queue()
    stop, pause = ctx.Event(), ctx.Event()
    for i, p in enumerate(items):
        tasks.put((i, p))
    for _ in range(workers):
        tasks.put(None)
    procs = [ctx.Process(target=_worker, args=(tasks, results, stop, pause, run, threads), daemon=True)
             for _ in range(workers)]
    for p in procs:
        p.start()
    finished = 0
    try:
        while finished < workers:
            if control.stopped:
                stop.set()
            elif control.paused != pause.is_set():
                pause.set() if control.paused else pause.clear()
            try:
                msg = results.get(timeout=POLL_S)
            except queues.Empty:
                dead = [p.exitcode for p in procs if not p.is_alive() and p.exitcode not in (0, None)]
                if dead:
                    raise WorkerDied(f"a fitting process ended without a word (exit code {dead[0]})")
                continue
            kind = msg[0]
            if kind == "step":
                yield msg[1], msg[2]
            elif kind == "error":
                raise msg[1]
            elif kind == "exit":
                finished += 1
    finally:
        stop.set()
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()
        for q in (tasks, results):
            q.cancel_join_thread()
            q.close()


def _worker(tasks, results, stop, pause, run, threads) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl+C reaches the parent, which tells us
    if threads:
        torch.set_num_threads(threads)
    control = Control()
    parent = mp.parent_process()

    def watch():
        # poll, never stop.wait(): a process that exits while waiting on an Event leaves the
        # Event's next set() blocked for good
        while not stop.is_set():
            if parent is not None and not parent.is_alive():
                # the app or CLI was killed (no chance to set `stop`): nobody will take our
                # results, and a fit left running would hold a core until its photo was done
                os._exit(1)
            control.pause() if pause.is_set() else control.resume()
            time.sleep(POLL_S)
        control.stop()
    threading.Thread(target=watch, daemon=True).start()
    try:
        while not stop.is_set():
            task = tasks.get()
            if task is None:
                break
            i, item = task
            for step in run(item, control):
                results.put(("step", i, replace(step, checkpoint=None)))
    except BaseException as e:  # noqa: BLE001 - reported to the parent, which raises it
        results.put(("error", e if _picklable(e) else RuntimeError(f"{type(e).__name__}: {e}")))
    finally:
        results.put(("exit",))


def _picklable(e: BaseException) -> bool:
    import pickle
    try:
        pickle.dumps(e)
        return True
    except Exception:  # noqa: BLE001
        return False
