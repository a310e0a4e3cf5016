"""A variation: the document's job run with another seed (`dip_engine.variations`). Qt-free.

It carries what a project keeps (seed, result, the recipe that reproduces it, its confidence
map) and what the screen needs (the result as 8-bit sRGB and a thumbnail), shaped like a
history `Snapshot` so the compare view and the filmstrip show it the same way.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(eq=False)
class Variation:
    index: int                             # 0-based position among the document's variations
    seed: int
    result: Any                            # imageio.Photo, full resolution
    metadata: dict = field(default_factory=dict)   # restore.metadata: the recipe (dip:seed, ...)
    confidence: np.ndarray | None = None   # float32 H x W at the result's size, or None
    display: np.ndarray | None = None      # uint8 sRGB for the screen
    thumb: np.ndarray | None = None
    kept: str | None = None                # the classical answer was kept (too few iterations)
    cache: dict[str, Any] = field(default_factory=dict)   # GUI-side caches (pixmaps)

    @property
    def region(self) -> tuple[int, int, int, int]:
        return (0, 0, self.result.height, self.result.width)

    @property
    def label(self) -> str:
        return f"Variation {self.index + 1} (seed {self.seed})"
