"""A net that works at 1/k of the photo's resolution: pixel-unshuffle in spirit, as fast CNN
denoisers do. The inner net outputs k*k*C channels on a grid k times coarser, and pixel-shuffle
rearranges them into the C-channel photo, so every layer has k*k times fewer positions."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class Shuffled(nn.Module):
    def __init__(self, inner: nn.Module, factor: int):
        super().__init__()
        self.inner, self.factor = inner, factor

    @property
    def multiple(self) -> int:
        return self.inner.multiple * self.factor

    @property
    def min_size(self) -> int:
        return self.inner.min_size * self.factor

    def input_size(self, height: int, width: int) -> tuple[int, int]:
        """The input's size for a (padded) output of height x width."""
        return height // self.factor, width // self.factor

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(self.inner(z), self.factor)
