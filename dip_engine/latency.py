"""How long Stop can keep a user waiting, and so how big a piece a CPU may fit at once.

The fit checks Stop after every convolution, forward and backward (`fit._stop_between_layers`),
so the longest wait is the longest stretch between two checks: the backward pass of the
network's most expensive convolution (its input and weight gradients, about twice its forward
work). That work grows with the pixels fitted, so on a CPU the planner keeps each piece under
`max_pixels` (issue 12: Stop within 2 s, even on the biggest tile). GPUs finish a layer of any
piece that fits their memory in milliseconds, so there the limit is memory alone.

Calibration: a fit in worker processes runs on one thread each, so we plan with the rate of one
thread of the 2-core bench machine while other work shares it, CPU_MACS_PER_S multiply-
accumulates per second, and aim for SHARE of STOP_S. The longest gap between two looks at Stop,
measured at each preset's cap (`python -m bench.stop_latency --gaps PRESET --threads 1`, two
other fits running on the two cores; bench/README.md "Stop on a big tile"):

    preset     cap (side)    s/iteration   longest gap
    fast       833 x 833        6.97 s        1.50 s
    balanced   428 x 428        5.02 s        1.35 s
    quality    217 x 217        2.55 s        0.74 s
    fast       1448 x 1448     19.66 s        4.24 s   (3x the cap: what the cap prevents)

(Measured before 12-07, when `fast` denoising had 32 channels and `balanced` 64.)
"""
from __future__ import annotations

import functools

from torch import nn

from . import memory
from .presets import Preset

STOP_S = 2.0                # the most Stop may take (issue 12)
SHARE = 0.6                 # of STOP_S we plan for: the rest is slack for a busier machine
CPU_MACS_PER_S = 12e9       # one loaded thread, convolution backward (see above)
_PROBE = 64                 # side of the shape-only pass that finds the largest layer


@functools.lru_cache(maxsize=64)
def layer_macs(preset: Preset, channels_out: int = 3) -> float:
    """Multiply-accumulates per output pixel of the preset's most expensive convolution (forward)."""
    worst = 0

    def hook(m, _inp, out):
        nonlocal worst
        if isinstance(m, nn.Conv2d):
            worst = max(worst, out.numel() * m.in_channels * m.kernel_size[0] * m.kernel_size[1] // m.groups)
    memory.forward_once(preset, _PROBE, _PROBE, channels_out, hook)
    return worst / (_PROBE * _PROBE)


def max_pixels(preset: Preset, channels_out: int, device: str) -> int | None:
    """The most output pixels one fit may have so that Stop acts within STOP_S on this device;
    None where memory is the only limit (GPUs)."""
    if device != "cpu":
        return None
    backward_s_per_pixel = 2 * layer_macs(preset, channels_out) / CPU_MACS_PER_S
    return int(SHARE * STOP_S / backward_s_per_pixel)
