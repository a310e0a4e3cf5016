"""Each task's observation model: one object per task, its problem, classical answer and result."""
import cv2
import numpy as np
import pytest
import torch

from dip_engine import metrics, physics, presets
from dip_engine.imageio import Photo
from dip_engine import classical
from dip_engine.operators import weighted_mse
from tests.conftest import smooth_image
from tests.engine.test_results_never_worse import textured


def photo(h=32, w=40, bits=8):
    top = 255 if bits == 8 else 65535
    return Photo(np.rint(smooth_image(h, w, 3) * top).astype(np.uint8 if bits == 8 else np.uint16))


def sr_mismatch(ph, small, a):
    """How far `a`, shrunk by the SR model `ph`, is from the small photo (MSE)."""
    return float(((ph.downsample(a) - small) ** 2).mean())


def mask(h=32, w=40):
    m = np.zeros((h, w), bool)
    m[10:18, 12:24] = True
    return m


def every_task():
    return [physics.of("denoise"), physics.of("jpeg"), physics.of("sr", scale=2),
            physics.of("inpaint", mask=mask())]


def test_every_task_has_physics():
    assert tuple(physics.PHYSICS) == presets.TASKS


@pytest.mark.parametrize("ph", every_task(), ids=lambda p: p.task)
def test_operator_maps_the_estimate_to_the_observation(ph):
    p = photo()
    W, H = ph.output_size(p.width, p.height)
    region = (0, 8, H, W - 8 * ph.scale)
    problem, classic = ph.part(p.pixels, region)
    t, l, b, r = region
    assert problem.size == (b - t, r - l) and classic.shape == (b - t, r - l, 3)
    with torch.no_grad():
        seen = problem.operator(physics.tensor(classic))
    assert seen.shape == problem.observation.shape
    # the classical answer explains the observation (known pixels, or after blur + decimation)
    assert float(weighted_mse(seen, problem.observation, problem.weight)) < 1e-3


def test_inpainting_observes_only_known_pixels():
    p, m = photo(), mask()
    ph = physics.of("inpaint", mask=m)
    problem, classic = ph.part(p.pixels, (0, 0, 32, 40))
    held = classical.holdout(m)
    assert held.any() and not (held & m).any()
    # the fit sees the known pixels except those held out to judge its fill by
    assert torch.equal(problem.weight[0, 0], torch.from_numpy(~m & ~held).float())
    assert torch.equal(problem.judged[0, 0], torch.from_numpy(held).float())
    assert float(problem.observation[0, :, 12, 15].abs().sum()) == 0   # a masked pixel is unknown
    shown = ph.composite(p.pixels, (0, 0, 32, 40), np.zeros((32, 40, 3), np.float32))
    assert np.array_equal(shown[~m], p.pixels[~m]) and (shown[m] == 0).all()
    # the classical answer keeps the known pixels and fills the hole from its surroundings
    assert np.array_equal(classic[~m], p.pixels[~m])
    flat = np.abs(p.pixels[~m].mean(axis=0) - p.pixels[m]).mean()
    assert np.abs(classic[m] - p.pixels[m]).mean() < flat / 2


def test_compose_changes_only_what_was_fitted():
    p, m = photo(bits=16), mask()
    grey = np.full((32, 40, 3), 0.5, np.float32)
    out = physics.of("inpaint", mask=m).compose(p, grey, (0, 0, 32, 40)).data
    assert np.array_equal(out[~m], p.data[~m]) and (out[m] == 32768).all()
    out = physics.of("denoise").compose(p, grey, (0, 0, 32, 40)).data
    assert (out == 32768).all()
    big = physics.of("sr", scale=2).compose(p, np.zeros((64, 80, 3), np.float32), (0, 0, 64, 80))
    assert big.data.shape == (64, 80, 3) and big.data.dtype == np.uint16


def test_only_denoising_gates_auto_stop():
    p = photo()
    gates = {ph.task: ph.part(p.pixels, (0, 0, 32, 40))[0].stop_gate_mse
             for ph in every_task() if ph.task != "sr"}
    assert gates["denoise"] is not None and gates["denoise"] >= 0
    assert gates["jpeg"] is None and gates["inpaint"] is None


@pytest.mark.parametrize("task,kw,message", [
    ("sr", dict(scale=9), "2 to 8"),
    ("denoise", dict(scale=2), "super-resolution only"),
    ("inpaint", dict(), "needs a mask"),
    ("inpaint", dict(mask=np.ones((32, 40), bool)), "whole photo"),
])
def test_check(task, kw, message):
    with pytest.raises(ValueError, match=message):
        physics.of(task, **kw).check(photo())


@pytest.mark.parametrize("scale,gain_db", [(2, 1.0), (4, 0.0)])
def test_back_projection_brings_an_upscale_closer_to_the_small_photo_and_to_the_truth(scale, gain_db):
    truth = textured(96, 112)
    ph = physics.of("sr", scale=scale)
    small = ph.downsample(truth)
    up = classical.lanczos_upscale(small, 112, 96)
    out = classical.back_project(up, small, ph.downsample)

    def mismatch(a):
        return sr_mismatch(ph, small, a)
    assert out.shape == up.shape and out.min() >= 0 and out.max() <= 1
    assert mismatch(out) < mismatch(up) / 4
    assert metrics.psnr(out, truth) > metrics.psnr(up, truth) + gain_db


def test_an_sr_result_is_usable_up_to_three_times_the_lanczos_upscales_mismatch_and_no_further():
    # back-projection corrects most of the mismatch, and tiles within 3x carry detail Lanczos
    # lacks (bench/README.md, "where the usable rule errs"); blurrier results keep Lanczos
    small = textured(48, 56)
    ph = physics.of("sr", scale=2)
    problem, up = ph.part(small, (0, 0, 96, 112))

    def mismatch(a):
        return sr_mismatch(ph, small, a)

    def blurred(sigma):
        return cv2.GaussianBlur(up, (0, 0), sigma).reshape(up.shape)
    mild, strong = blurred(0.5), blurred(0.8)
    assert 2 < mismatch(mild) / mismatch(up) < 3
    assert mismatch(strong) / mismatch(up) > 4
    assert mismatch(up) < mismatch(mild) <= problem.usable_mse < mismatch(strong)
