"""Network inputs z: uniform noise, a meshgrid, and the per-step perturbation ("reg noise")."""
from __future__ import annotations

import torch


def noise(channels: int, height: int, width: int, generator: torch.Generator, scale: float = 0.1) -> torch.Tensor:
    """Uniform noise in [0, scale), shape 1 x C x H x W (the authors' default input)."""
    return torch.rand(1, channels, height, width, generator=generator) * scale


def meshgrid(height: int, width: int) -> torch.Tensor:
    """Two channels holding x and y coordinates in [0, 1] (used for object removal)."""
    ys = torch.linspace(0, 1, height)
    xs = torch.linspace(0, 1, width)
    y, x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([x, y])[None]


def perturb(z: torch.Tensor, sigma: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """z plus Gaussian noise of standard deviation sigma: the per-iteration input regulariser."""
    if sigma <= 0:
        return z
    return z + torch.randn(z.shape, generator=generator, device=z.device, dtype=z.dtype) * sigma
