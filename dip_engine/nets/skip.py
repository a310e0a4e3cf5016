"""The paper's `skip` encoder-decoder (an hourglass with optional skip connections).

Built level by level like the authors' network, so the default (128 channels x 5 scales,
4 skip channels, 32 input channels) has the same layers and parameter count (~2.2 M).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .layers import bn_act, conv


class _Level(nn.Module):
    """One scale: [skip branch] || [down, conv, deeper level, upsample] -> BN -> up convs."""

    def __init__(self, c_in: int, down: Sequence[int], up: Sequence[int], skip: Sequence[int],
                 k_down: int, k_up: int, upsample: str, pad: str, need1x1_up: bool):
        super().__init__()
        c_down, c_up, c_skip = down[0], up[0], skip[0]
        self.skip = nn.Sequential(conv(c_in, c_skip, 1, pad=pad), *bn_act(c_skip)) if c_skip else None
        deeper: list[nn.Module] = [
            conv(c_in, c_down, k_down, stride=2, pad=pad), *bn_act(c_down),
            conv(c_down, c_down, k_down, pad=pad), *bn_act(c_down),
        ]
        if len(down) > 1:
            deeper.append(_Level(c_down, down[1:], up[1:], skip[1:], k_down, k_up, upsample, pad, need1x1_up))
            c_deep = up[1]
        else:
            c_deep = c_down
        mode = {"bilinear": "bilinear", "nearest": "nearest"}[upsample]
        deeper.append(nn.Upsample(scale_factor=2, mode=mode, **({"align_corners": False} if mode == "bilinear" else {})))
        self.deeper = nn.Sequential(*deeper)
        merged = c_skip + c_deep
        post: list[nn.Module] = [nn.BatchNorm2d(merged), conv(merged, c_up, k_up, pad=pad), *bn_act(c_up)]
        if need1x1_up:
            post += [conv(c_up, c_up, 1, pad=pad), *bn_act(c_up)]
        self.post = nn.Sequential(*post)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.deeper(x)
        if self.skip is not None:
            y = torch.cat([self.skip(x), y], dim=1)
        return self.post(y)


class Skip(nn.Module):
    def __init__(self, c_in: int, c_out: int, down: Sequence[int], up: Sequence[int], skip: Sequence[int],
                 k_down: int = 3, k_up: int = 3, upsample: str = "bilinear", pad: str = "reflection",
                 need1x1_up: bool = True, sigmoid: bool = True):
        super().__init__()
        if not (len(down) == len(up) == len(skip)):
            raise ValueError("down, up and skip need one entry per scale")
        self.scales = len(down)
        self.body = _Level(c_in, list(down), list(up), list(skip), k_down, k_up, upsample, pad, need1x1_up)
        self.head = conv(up[0], c_out, 1, pad=pad)
        self.sigmoid = sigmoid
        self.kernel_down = k_down

    @property
    def multiple(self) -> int:
        """Input height and width must be multiples of this."""
        return 2 ** self.scales

    @property
    def min_size(self) -> int:
        """Smallest input side: the deepest map must be wider than its reflection padding (and
        than one pixel, for batch norm, with any padding)."""
        return self.multiple * (self.kernel_down // 2 + 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        y = self.head(self.body(z))
        return torch.sigmoid(y) if self.sigmoid else y


def skip(c_in: int = 32, c_out: int = 3, channels: int | Sequence[int] = 128, scales: int = 5,
         skip_channels: int | Sequence[int] = 4, up_channels: int | Sequence[int] | None = None,
         kernel_down: int = 3, kernel_up: int = 3, upsample: str = "bilinear", pad: str = "reflection",
         need1x1_up: bool = True) -> Skip:
    """Build a skip network; int arguments are repeated for every scale."""
    def per_scale(v):
        return [v] * scales if isinstance(v, int) else list(v)
    down = per_scale(channels)
    up = per_scale(up_channels if up_channels is not None else down)
    return Skip(c_in, c_out, down, up, per_scale(skip_channels), kernel_down, kernel_up, upsample, pad, need1x1_up)
