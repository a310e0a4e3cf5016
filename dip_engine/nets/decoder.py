"""Deep Decoder (Heckel & Hand, ICLR 2019): an under-parameterised decoder of 1x1 convolutions,
fixed bilinear upsampling, ReLU and channel normalisation. Barely overfits noise."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class DeepDecoder(nn.Module):
    def __init__(self, c_out: int = 3, channels: int = 64, layers: int = 5):
        super().__init__()
        self.layers = layers
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Conv2d(channels, channels, 1, bias=False), nn.ReLU(inplace=True),
                          nn.BatchNorm2d(channels, affine=True))
            for _ in range(layers))
        self.head = nn.Conv2d(channels, c_out, 1, bias=False)
        self.channels = channels

    multiple = 1  # any output size: the upsampling steps are sized to it

    def input_size(self, height: int, width: int) -> tuple[int, int]:
        """Spatial size of the input tensor for an output of height x width."""
        f = 2 ** self.layers
        return max(1, math.ceil(height / f)), max(1, math.ceil(width / f))

    def forward(self, z: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
        h, w = size or (z.shape[-2] * 2 ** self.layers, z.shape[-1] * 2 ** self.layers)
        x = z
        for i, block in enumerate(self.blocks):
            x = block(x)
            # Geometric sizes from the input up to the output, so every output size works.
            t = (i + 1) / self.layers
            target = (round(z.shape[-2] ** (1 - t) * h ** t), round(z.shape[-1] ** (1 - t) * w ** t))
            x = F.interpolate(x, size=target, mode="bilinear", align_corners=False)
        return torch.sigmoid(self.head(x))
