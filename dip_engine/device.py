"""Where the fit runs: CUDA, Apple MPS or CPU, and how many CPU threads it may use."""
from __future__ import annotations

import os

import torch

DEVICES = ("auto", "cpu", "cuda", "mps")


def pick(name: str = "auto") -> torch.device:
    """The device called `name`; "auto" prefers CUDA, then MPS, then CPU. ValueError if absent."""
    if name not in DEVICES:
        raise ValueError(f"unknown device '{name}': choose one of {', '.join(DEVICES)}")
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if name == "cuda" and not cuda:
        raise ValueError("device 'cuda' was asked for but no CUDA GPU is available: use --device cpu")
    if name == "mps" and not mps:
        raise ValueError("device 'mps' was asked for but Apple MPS is not available: use --device cpu")
    return torch.device(name)


def default_threads(leave_free: int = 0) -> int:
    """All cores but `leave_free` (the GUI leaves one for itself when there are several)."""
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, n - leave_free) if n > 2 else n


def set_threads(n: int | None) -> int:
    """Set torch's intra-op threads (None: all cores); return the number in force."""
    if n is not None:
        if n < 1:
            raise ValueError(f"--threads must be at least 1, not {n}")
        torch.set_num_threads(n)
    return torch.get_num_threads()


PRECISIONS = ("auto", "fp32", "bf16")


def native_bf16(device: torch.device) -> bool:
    """Whether `device` is a CUDA GPU that computes in bfloat16 natively (emulated is slower than fp32)."""
    if device.type != "cuda":
        return False
    try:
        return torch.cuda.is_bf16_supported(including_emulation=False)
    except TypeError:   # torch before 2.4
        return torch.cuda.is_bf16_supported()


# On an H200, autocast's casts cost more than bfloat16 saves on small fits: `fast` at 512² ran
# 0.73x the speed of fp32, at 12 MP 2.23x (bench/README.md, "GPU"); a straight line through those
# two sizes crosses 1x near 0.85 MP.
BF16_MIN_PIXELS = 1_000_000


def pick_precision(name: str, device: torch.device, pixels: int | None = None) -> str:
    """The arithmetic of the fit on `device`: "fp32", or "bf16" (the net's layers in bfloat16 under
    autocast; weights, loss, optimiser and result stay float32). "auto" is bf16 on a CUDA GPU
    that has it natively when the largest single fit has at least BF16_MIN_PIXELS output
    `pixels` (None: assume it has), fp32 elsewhere: on CPUs bf16 is opt-in until it is measured on
    the whole validation set (bench/README.md). ValueError for an unknown name."""
    if name not in PRECISIONS:
        raise ValueError(f"unknown precision '{name}': choose one of {', '.join(PRECISIONS)}")
    if name == "auto":
        big = pixels is None or pixels >= BF16_MIN_PIXELS
        return "bf16" if big and native_bf16(device) else "fp32"
    return name


def tune(device: torch.device) -> None:
    """Let cuDNN time its convolution algorithms once per shape and keep the fastest: a fit runs
    thousands of iterations at one shape, so the first one's search pays back many times."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
