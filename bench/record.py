"""How the bench records its runs: the machine, atomic JSON writes, per-case crop options."""
from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import torch

from bench.cases import group_of

RESULTS = Path(__file__).parent / "results"


def crops(text: str) -> dict:
    """'128' -> {None: 128}; '128,zebra_sr4=48,val_sr4=32' -> {None: 128, 'zebra_sr4': 48, 'val_sr4': 32}."""
    out = {}
    for part in filter(None, text.split(",")):
        name, _, size = part.rpartition("=")
        out[name or None] = int(size)
    return out


def crop_for(crops: dict, name: str) -> int | None:
    """The crop of case `name`: its own, else its group's (e.g. val_sr4), else the common one."""
    return crops.get(name, crops.get(group_of(name), crops.get(None)))


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # parallel runs never share one
    tmp.write_text(text)
    os.replace(tmp, path)


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict:
    m = {"cpu": _cpu_name(), "cores": os.cpu_count(),
         "torch": torch.__version__, "python": platform.python_version(),
         "date": time.strftime("%Y-%m-%d")}
    if torch.cuda.is_available():
        m["gpu"] = torch.cuda.get_device_name(0)
    return m
