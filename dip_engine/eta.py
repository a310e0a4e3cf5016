"""Time left for a run fitted in parts (tiles or crops): what the progress bar shows.

Three things made the first estimate 5-36 % early at 5 % of a run (bench/README.md, "Time left
in tiles"), and each has its answer here:

- Parts were fitted row by row, so the first to end were the top of the photo, often sky, which
  stops sooner than the rest: `order` fits them shuffled, so those that end first are a fair
  sample of the photo.
- The parts that end first are the short ones, while the long ones still run: `estimate` counts
  a running part as at least as long as it has run so far, and the guess made before any part
  ended as `PRIOR_WEIGHT` parts, so one early end does not decide it.
- Near the end fewer parts are left than workers, and the last part runs alone: the time left is
  when the last worker is done, not the iterations left shared out over all of them.
- The clock started before the workers did: spawning them and importing torch took 2-3 s on 2
  cores, a fifth of the time by 5 % of a 4-minute run, and the estimate counted it as fitting
  time (+20 to +40 % at 5 %): `estimate` times the iterations from the first one reported.

Kept apart from `restore` so the bench can replay recorded runs through it (`bench/eta.py`).
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

from dip_engine import presets

PRIOR_WEIGHT = 0.5   # parts the guess made before any ended counts as
WARM = 10           # iterations per worker after the first one reported before that clock is used


@dataclass(frozen=True)
class Prior:
    """Iterations per part before any has ended: the `guess`, and the `soonest` a part may end."""
    guess: float
    soonest: float


@dataclass(frozen=True)
class Left:
    """Seconds left: the estimate, and the range from the soonest to the latest end."""
    mid: float
    soon: float
    late: float


def prior(preset: presets.Preset, per: int, stops: bool) -> Prior:
    """Parts that can auto-stop: halfway between the soonest auto-stop and the budget's end;
    others (SR, inpainting, Stop "never") their whole budget."""
    soonest = min(per, preset.es_window + preset.es_patience) if stops else per
    return Prior((per + soonest) / 2, soonest)


def progress(iters: list[int], ended: dict[int, int], per: int) -> float:
    """Fraction of the run done: a part that ended counts whole, so the bar never jumps back."""
    return sum(1.0 if k in ended else iters[k] / per for k in range(len(iters))) / len(iters)


def order(n: int) -> list[int]:
    """The order to fit `n` parts in: shuffled, the same every run (seeded)."""
    return [int(i) for i in np.random.default_rng(0).permutation(n)]


def estimate(iters: list[int], ended: dict[int, int], per: int, before: Prior, workers: int,
             wall: float, resumed: int = 0, started: tuple[float, int] | None = None) -> Left:
    """Seconds left, from each part's iterations so far (`iters`), the parts that ended (index:
    iterations), the budget per part, the guess made `before` any ended, the workers fitting
    parts at once, and the seconds this run has taken (`wall`) for its iterations (less
    `resumed`, those of parts taken from a checkpoint). `started`: the seconds and the iterations
    (summed, resumed ones included) when the first iteration was reported; the time per iteration
    is taken from then on, once each worker has done WARM more."""
    n = len(iters)
    it = sum(iters)
    if started is not None and it - started[1] >= WARM * workers:
        spi = (wall - started[0]) * workers / (it - started[1])   # seconds per iteration of one worker
    else:
        spi = wall * workers / max(it - resumed, 1)
    done = list(ended.values())
    running = [iters[k] for k in range(n) if k not in ended and iters[k] > 0]
    waiting = n - len(ended) - len(running)
    typical = _typical(done, running, before.guess, per)
    short = max(before.soonest, float(np.percentile(done, 10))) if done else before.soonest

    def finish(length: float) -> float:
        return spi * _last_done([max(0.0, min(per, max(length, x)) - x) for x in running], waiting, length, workers)

    return Left(finish(typical), finish(min(short, typical)), finish(per))


def _typical(done: list[int], running: list[int], guess: float, per: int) -> float:
    """Mean iterations of a part: those that ended, the running ones as at least as long as they
    ran so far (or the mean, whichever is more), and the guess counted as PRIOR_WEIGHT parts."""
    known, count = PRIOR_WEIGHT * guess + sum(done), PRIOR_WEIGHT + len(done) + len(running)
    m = guess
    for _ in range(50):   # a contraction: the running parts weigh less than all together
        m, last = (known + sum(max(x, m) for x in running)) / count, m
        if abs(m - last) < 0.5:
            break
    return min(m, per)


def _last_done(lanes: list[float], waiting: int, each: float, workers: int) -> float:
    """Iterations until the last worker is done: the running parts keep theirs (iterations left
    in `lanes`), and each of the `waiting` parts, `each` iterations long, goes to the first free."""
    lanes = lanes + [0.0] * max(0, workers - len(lanes))
    heapq.heapify(lanes)
    while waiting:
        if max(lanes) - lanes[0] <= each and waiting >= len(lanes):
            rounds = waiting // len(lanes)   # every lane takes one part per round: add them at once
            lanes = [x + rounds * each for x in lanes]
            heapq.heapify(lanes)
            waiting -= rounds * len(lanes)
        else:
            heapq.heappush(lanes, heapq.heappop(lanes) + each)
            waiting -= 1
    return max(lanes)
