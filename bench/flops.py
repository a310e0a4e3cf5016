"""FLOPs of one fitting iteration (forward + backward) per preset, counted by PyTorch.

    python -m bench.flops --size 512 512
"""
from __future__ import annotations

import argparse
import sys

import torch
from torch.utils.flop_counter import FlopCounterMode

from dip_engine import presets
from dip_engine.fit import build_net, make_input


def iteration_flops(preset: presets.Preset, height: int, width: int, c_out: int = 3) -> int:
    net = build_net(preset, c_out)
    z = make_input(preset, net, (height, width), torch.Generator().manual_seed(0))
    with FlopCounterMode(display=False) as counter:
        out = net(z, (height, width)) if preset.net == "decoder" else net(z)
        out.mean().backward()
    return counter.get_total_flops()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, nargs=2, default=(512, 512), metavar=("H", "W"))
    a = ap.parse_args(argv)
    print(f"| task | preset | parameters | GFLOP / iteration at {a.size[0]}x{a.size[1]} |\n|---|---|---|---|")
    for task in presets.TASKS:
        for name in presets.names(task):
            variants = [(name, False)]
            if task == "inpaint" and not name.startswith("paper"):
                variants.append((f"{name} (large holes)", True))
            for label, holes in variants:
                p = presets.get(task, name, holes=holes)
                n = sum(q.numel() for q in build_net(p, 3).parameters())
                print(f"| {task} | {label} | {n:,} | {iteration_flops(p, *a.size) / 1e9:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
