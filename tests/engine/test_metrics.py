import numpy as np
import pytest

from dip_engine import metrics


def test_psnr_known_value():
    a = np.zeros((8, 8, 3))
    b = np.full((8, 8, 3), 0.1)
    assert metrics.psnr(a, b) == pytest.approx(20.0)
    assert metrics.psnr(a, a) == float("inf")


def test_psnr_accepts_uint8_and_uint16():
    a = np.full((4, 4), 255, np.uint8)
    b = np.full((4, 4), 65535, np.uint16)
    assert metrics.psnr(a, b) == float("inf")


def test_ssim_identity_and_noise():
    rng = np.random.default_rng(0)
    img = rng.random((32, 32, 3))
    assert metrics.ssim(img, img) == pytest.approx(1.0)
    noisy = np.clip(img + rng.normal(0, 0.2, img.shape), 0, 1)
    assert metrics.ssim(img, noisy) < 0.9


def test_y_protocol():
    white = np.ones((20, 20, 3))
    assert metrics.rgb_to_y(white) == pytest.approx(235 / 255)
    a = np.zeros((20, 20, 3))
    b = a.copy()
    b[:4] = 1  # differs only inside the shaved border
    assert metrics.psnr_y(a, b, shave=4) == float("inf")
    assert metrics.psnr_y(a, b, shave=0) < 30
