"""Degradation operators: how the observed photo relates to the clean one we fit.

Each operator maps the network output (N x C x H x W, the clean estimate) to the space of the
observation, so the data term is always `loss(op(net(z)), observation)`.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class Identity(nn.Module):
    """Denoising and JPEG clean-up: the observation is the clean photo plus damage."""

    scale = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def lanczos_kernel(factor: int, a: int = 2) -> np.ndarray:
    """1-D Lanczos-a kernel for decimation by an integer factor, normalised to sum 1.

    Taps sit at HR pixel centres around the LR pixel centre (i + 0.5) * factor - 0.5, so the
    kernel has an even length for even factors and an odd one for odd factors.
    """
    size = 2 * a * factor - (factor % 2)
    t = (np.arange(size) - (size - 1) / 2) / factor
    k = np.sinc(t) * np.sinc(t / a)
    return (k / k.sum()).astype(np.float32)


class Downsample(nn.Module):
    """Super-resolution: separable Lanczos-2 blur then decimation by `factor` (2..8).

    An H x W input gives (H // factor) x (W // factor); aligned so that LR pixel i is the
    average around HR pixels i*factor .. i*factor + factor - 1.
    """

    def __init__(self, factor: int, a: int = 2):
        super().__init__()
        if not 2 <= factor <= 8:
            raise ValueError(f"scale must be 2 to 8, not {factor}")
        self.scale = factor
        k = torch.from_numpy(lanczos_kernel(factor, a))
        self.register_buffer("kernel", k, persistent=False)
        self.pad = (k.numel() - factor) // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        k = self.kernel.to(x.dtype)
        p = self.pad
        x = F.pad(x, (p, p, p, p), mode="replicate")
        x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), stride=(1, self.scale), groups=c)
        return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), stride=(self.scale, 1), groups=c)


def weighted_mse(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared error, averaged over the weighted pixels only when a weight is given."""
    d = (pred - target) ** 2
    if weight is None:
        return d.mean()
    return (d * weight).sum() / (weight.sum() * d.shape[1] / weight.shape[1]).clamp_min(1)


def bicubic_upscale(x: torch.Tensor, factor: int) -> torch.Tensor:
    """The plain baseline every SR result is compared with."""
    return F.interpolate(x, scale_factor=factor, mode="bicubic", align_corners=False).clamp(0, 1)


__all__ = ["Identity", "Downsample", "lanczos_kernel", "weighted_mse", "bicubic_upscale"]
