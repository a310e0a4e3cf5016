import numpy as np
import pytest

from dip_engine.noise import estimate_sigma


@pytest.mark.parametrize("sigma", [5, 15, 25, 40])
def test_pure_noise_is_measured_to_within_five_percent(sigma):
    rng = np.random.default_rng(sigma)
    img = 0.5 + rng.normal(0, sigma / 255, (300, 400, 3))
    assert estimate_sigma(img) * 255 == pytest.approx(sigma, rel=0.05)


def test_structure_is_not_taken_for_noise():
    yy, xx = np.mgrid[0:256, 0:256] / 256
    stripes = 0.5 + 0.3 * np.sin(xx * 40)[..., None] * np.ones(3)  # smooth but busy
    steps = (((xx * 8).astype(int) + (yy * 8).astype(int)) % 2 * 0.6 + 0.2)[..., None] * np.ones(3)
    assert estimate_sigma(stripes) * 255 < 1
    assert estimate_sigma(steps) * 255 < 1
    rng = np.random.default_rng(0)
    assert estimate_sigma(steps + rng.normal(0, 20 / 255, steps.shape)) * 255 == pytest.approx(20, rel=0.1)


def test_grey_and_tiny_images():
    rng = np.random.default_rng(1)
    assert estimate_sigma(0.5 + rng.normal(0, 0.1, (64, 64))) == pytest.approx(0.1, rel=0.1)
    assert estimate_sigma(np.zeros((5, 5, 3))) == 0.0


def test_clipped_skies_and_shadows_do_not_hide_the_noise():
    rng = np.random.default_rng(3)
    img = np.full((200, 300, 3), 0.5)
    img[:80] = 0.97    # a bright sky: noise there is half clipped away
    img[-60:] = 0.02   # deep shadow
    img[80:140, ::7] = 0.2  # some structure
    noisy = np.clip(np.round((img + rng.normal(0, 25 / 255, img.shape)) * 255), 0, 255) / 255
    assert estimate_sigma(noisy) * 255 == pytest.approx(25, rel=0.08)
