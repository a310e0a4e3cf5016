"""Variations: the same job run with several seeds (seed, seed + 1, ...; `seeds`), each a whole
`restore.run`. Different seeds give different, equally plausible fills and details; where they
disagree (`confidence.across`) the result is a guess. Each variation is reproduced exactly by
running its job alone with its seed (`dip-engine ... --seed S`).

They run one after another, or several at a time in worker processes when there are cores and
memory to spare (`parallel.in_processes`), each with its share of the cores.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Iterator

from . import device as devices
from . import parallel, restore
from .fit import Control, Step


def seeds(job: restore.Job, n: int) -> list[int]:
    """The n variations' seeds: job.seed, job.seed + k, job.seed + 2k, ... for a preset that
    averages k fits (`Preset.fits`, seeds s .. s + k - 1), so no two variations share a fit."""
    if n < 1:
        raise restore.JobError(f"variations must be at least 1, not {n}")
    step = job.settings().fits
    return [job.seed + i * step for i in range(n)]


def jobs(job: restore.Job, n: int) -> list[restore.Job]:
    """The n jobs: `job` with each of its variations' `seeds`."""
    return [replace(job, seed=s) for s in seeds(job, n)]


def plan_workers(job: restore.Job, n: int, workers: int | None = None) -> tuple[int, int | None]:
    """(variations at a time, torch threads each): as many as the cores and the memory allow on
    a CPU, one at a time on a GPU or when the job itself is fitted in several parts (those use
    the cores already)."""
    pl = restore.plan(job)
    if len(pl.regions) > 1:
        return 1, job.threads
    return parallel.plan_workers(n, devices.pick(job.device), pl.estimate_bytes, pl.budget_bytes,
                                 workers, job.threads)


def run(job: restore.Job, n: int, control: Control | None = None,
        workers: int | None = None) -> Iterator[tuple[int, Step]]:
    """Yield (variation index, Step) of every variation's run (index 0 has job.seed); each ends
    with its done Step. After a stop, variations not yet started are not run."""
    control = control or Control()
    todo = jobs(job, n)
    w, threads = plan_workers(job, n, workers)
    if w <= 1:
        for k, j in enumerate(todo):
            if control.stopped:
                return
            for step in restore.run(j, control):
                yield k, step
        return
    yield from parallel.in_processes([replace(j, threads=threads, workers=1) for j in todo], _run, w, threads, control)


def _run(job: restore.Job, control: Control) -> Iterator[Step]:
    return restore.run(job, control)
