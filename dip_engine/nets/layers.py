"""Building blocks shared by the networks."""
from __future__ import annotations

from torch import nn


def conv(c_in: int, c_out: int, kernel: int, stride: int = 1, pad: str = "reflection") -> nn.Module:
    """Convolution with 'same' padding done by a separate padding layer (reflection by default)."""
    p = (kernel - 1) // 2
    layers: list[nn.Module] = []
    if p and pad == "reflection":
        layers.append(nn.ReflectionPad2d(p))
        p = 0
    layers.append(nn.Conv2d(c_in, c_out, kernel, stride, padding=p, bias=True))
    return layers[0] if len(layers) == 1 else nn.Sequential(*layers)


def bn_act(channels: int) -> list[nn.Module]:
    return [nn.BatchNorm2d(channels), nn.LeakyReLU(0.2, inplace=True)]
