"""Where the fit runs and in what precision."""
import pytest
import torch

from dip_engine import device


def test_auto_precision_is_bf16_only_on_a_gpu_with_it():
    assert device.pick_precision("auto", torch.device("cpu")) == "fp32"
    assert device.pick_precision("auto", torch.device("meta")) == "fp32"
    assert device.pick_precision("bf16", torch.device("cpu")) == "bf16"
    assert device.pick_precision("fp32", torch.device("cpu")) == "fp32"


def test_auto_precision_on_cuda_follows_native_bf16(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: not including_emulation)
    assert device.pick_precision("auto", torch.device("cuda")) == "bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: including_emulation)
    assert device.pick_precision("auto", torch.device("cuda")) == "fp32"   # emulated: slower than fp32


def test_auto_precision_on_cuda_keeps_fp32_for_small_fits(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    gpu = torch.device("cuda")
    assert device.pick_precision("auto", gpu, pixels=512 * 512) == "fp32"   # autocast costs more than it saves
    assert device.pick_precision("auto", gpu, pixels=device.BF16_MIN_PIXELS) == "bf16"
    assert device.pick_precision("bf16", gpu, pixels=64 * 64) == "bf16"     # asked for: kept
    assert device.pick_precision("auto", torch.device("cpu"), pixels=4000 * 3000) == "fp32"


def test_unknown_precision_names_the_choices():
    with pytest.raises(ValueError, match="choose one of auto, fp32, bf16"):
        device.pick_precision("fp16", torch.device("cpu"))


def test_cudnn_times_its_algorithms_on_cuda_only(monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    device.tune(torch.device("cpu"))
    assert torch.backends.cudnn.benchmark is False
    device.tune(torch.device("cuda"))
    assert torch.backends.cudnn.benchmark is True
