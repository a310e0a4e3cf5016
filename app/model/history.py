"""History of a run: snapshots kept at growing intervals (dense early, sparse late). Qt-free.

The policy: keep a snapshot when the iteration reaches the next mark; marks start at `first`
and grow geometrically by `growth` (10, 15, 22, 33, 50, ... for growth 1.5), so a long run keeps
about as many snapshots in its first hundred iterations as in its last thousands. When more
than `cap` snapshots exist, the one whose neighbours are closest (on a log scale) is dropped;
the first, the last and the run's result are always kept. The final result of a run is always added.
"""
from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(eq=False)
class Snapshot:
    iteration: int
    loss: float | None
    image: np.ndarray | None              # float16 HxWxC, the fitted region (composited); None: view only
    region: tuple[int, int, int, int]     # (top, left, bottom, right) in output pixels
    display: np.ndarray | None = None     # uint8 HxWx3/4 for the screen (sRGB)
    thumb: np.ndarray | None = None       # small uint8 version for the filmstrip
    final: bool = False
    label_extra: str = ""
    confidence: np.ndarray | None = None  # float16 H x W over `region`: the fit's spread (engine confidence)
    cache: dict[str, Any] = field(default_factory=dict)   # GUI-side caches (pixmaps)

    @property
    def label(self) -> str:
        s = f"Iteration {self.iteration}"
        if self.final:
            s += " (final)"
        return s + self.label_extra

    @property
    def restorable(self) -> bool:
        """False when the full-resolution pixels were let go to save memory (display only)."""
        return self.image is not None

    @property
    def nbytes(self) -> int:
        return (0 if self.image is None else int(self.image.nbytes)) + \
            (0 if self.confidence is None else int(self.confidence.nbytes))

    def float_image(self) -> np.ndarray:
        if self.image is None:
            raise ValueError(f"iteration {self.iteration} was kept for viewing only, to save memory")
        return self.image.astype(np.float32)


class SnapshotPolicy:
    def __init__(self, first: int = 10, growth: float = 1.5):
        self.first = max(1, int(first))
        self.growth = float(growth)
        self.reset()

    def reset(self) -> None:
        self.next_mark = self.first

    def wants(self, iteration: int) -> bool:
        """True when a snapshot at this iteration should be kept (advances the mark)."""
        if iteration < self.next_mark:
            return False
        while self.next_mark <= iteration:
            self.next_mark = max(self.next_mark + 1, int(math.ceil(self.next_mark * self.growth)))
        return True


class History:
    def __init__(self, cap: int = 30, first: int = 10, growth: float = 1.5,
                 max_bytes: int = 1536 * 1024 * 1024):
        self.cap = max(3, int(cap))
        self.max_bytes = int(max_bytes)
        self.policy = SnapshotPolicy(first, growth)
        self.snapshots: list[Snapshot] = []

    def __len__(self) -> int:
        return len(self.snapshots)

    def __getitem__(self, i: int) -> Snapshot:
        return self.snapshots[i]

    def __iter__(self):
        return iter(self.snapshots)

    def clear(self) -> None:
        self.snapshots.clear()
        self.policy.reset()

    def wants(self, iteration: int) -> bool:
        return self.policy.wants(iteration)

    def add(self, snap: Snapshot) -> Snapshot | None:
        """Add a snapshot in iteration order (a run's result is labelled with the iteration whose
        output it is, which may come before the last preview); one at the same iteration is
        replaced. Returns the snapshot dropped to respect the cap (or None)."""
        its = self.iterations()
        i = bisect.bisect_left(its, snap.iteration)
        if i < len(its) and its[i] == snap.iteration:
            self.snapshots[i] = snap
            return None
        self.snapshots.insert(i, snap)
        self._enforce_memory()
        if len(self.snapshots) <= self.cap:
            return None
        # drop the interior snapshot whose neighbours are closest on a log scale (never a result)
        logs = [math.log(max(1, s.iteration)) for s in self.snapshots]
        best, best_gap = None, None
        for i in range(1, len(self.snapshots) - 1):
            gap = logs[i + 1] - logs[i - 1]
            if not self.snapshots[i].final and (best_gap is None or gap < best_gap):
                best, best_gap = i, gap
        return None if best is None else self.snapshots.pop(best)

    def nbytes(self) -> int:
        return sum(s.nbytes for s in self.snapshots)

    def _enforce_memory(self) -> None:
        """Over budget (big photos): oldest snapshots keep their picture but drop full resolution."""
        total = self.nbytes()
        for s in self.snapshots[:-1]:
            if total <= self.max_bytes:
                break
            if s.image is not None and not s.final:
                total -= int(s.image.nbytes)
                s.image = None

    def index_of(self, snap: Snapshot) -> int:
        for i, s in enumerate(self.snapshots):
            if s is snap:
                return i
        return -1

    def iterations(self) -> list[int]:
        return [s.iteration for s in self.snapshots]
