import pytest

from dip_engine import latency, presets


def test_largest_layer_is_the_full_resolution_3x3_conv():
    # fast JPEG clean-up: 4 skip + 32 deep channels into a 3x3 conv of 32 at full resolution
    assert latency.layer_macs(presets.get("jpeg", "fast")) == 36 * 32 * 9
    # the paper's net: 4 + 128 channels into 128
    assert latency.layer_macs(presets.get("denoise", "paper")) == 132 * 128 * 9


def test_pixel_cap_follows_the_largest_layer_and_only_binds_on_a_cpu():
    fast, paper = presets.get("jpeg", "fast"), presets.get("denoise", "paper")   # 32 and 128 channels
    cap_fast, cap_paper = latency.max_pixels(fast, 3, "cpu"), latency.max_pixels(paper, 3, "cpu")
    assert cap_fast / cap_paper == pytest.approx(132 * 128 / (36 * 32), rel=0.01)
    # what the cap promises: one layer's backward pass within the planned share of STOP_S
    assert cap_fast * 2 * latency.layer_macs(fast) / latency.CPU_MACS_PER_S <= latency.SHARE * latency.STOP_S
    assert latency.max_pixels(fast, 3, "cuda") is None and latency.max_pixels(fast, 3, "mps") is None
