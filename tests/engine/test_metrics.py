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


def test_ssim_of_flat_photos_is_the_luminance_term():
    # No variance anywhere: SSIM is (2 mu_x mu_y + C1) / (mu_x^2 + mu_y^2 + C1), C1 = (0.01 L)^2.
    for mx, my, rng in ((0.5, 0.6, 1.0), (0.1, 0.3, 1.0), (100.0, 140.0, 255.0)):
        c1 = (0.01 * rng) ** 2
        want = (2 * mx * my + c1) / (mx * mx + my * my + c1)
        got = metrics.ssim(np.full((24, 20), mx), np.full((24, 20), my), data_range=rng)
        assert got == pytest.approx(want, rel=1e-9)


def test_ssim_agrees_with_scikit_image():
    sk = pytest.importorskip("skimage.metrics", reason="scikit-image is not installed (dev extra)")
    rng = np.random.default_rng(1)
    img = rng.random((48, 40, 3))
    for other in (np.clip(img + rng.normal(0, 0.1, img.shape), 0, 1), img ** 2, np.roll(img, 3, axis=1)):
        want = sk.structural_similarity(img, other, channel_axis=-1, data_range=1.0, gaussian_weights=True,
                                        sigma=1.5, use_sample_covariance=False)
        assert metrics.ssim(img, other) == pytest.approx(want, abs=1e-6)


def test_y_protocol():
    white = np.ones((20, 20, 3))
    assert metrics.rgb_to_y(white) == pytest.approx(235 / 255)
    a = np.zeros((20, 20, 3))
    b = a.copy()
    b[:4] = 1  # differs only inside the shaved border
    assert metrics.psnr_y(a, b, shave=4) == float("inf")
    assert metrics.psnr_y(a, b, shave=0) < 30
