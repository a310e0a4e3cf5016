"""A result is never worse than what the user started with (issue 13): the first frame is the
classical answer, a run stopped before its result is usable keeps that answer and says so, and
tiled runs count progress against a total fixed from the start."""
import cv2
import numpy as np
import pytest

from dip_engine import classical, physics, restore
from dip_engine.fit import Control, Problem, fit
from dip_engine.imageio import Photo
from dip_engine.operators import Identity
from dip_engine.presets import get
from tests.conftest import smooth_image

TINY = dict(preset="fast", channels=8)


def textured(h=48, w=56, seed=0):
    rng = np.random.default_rng(seed)
    img = smooth_image(h, w) + 0.15 * np.sin(np.mgrid[0:h, 0:w][1] * 1.3)[..., None]
    return np.clip(img + rng.normal(0, 0.01, img.shape), 0, 1).astype(np.float32)


def as_photo(img):
    return Photo(data=np.rint(img * 255).astype(np.uint8))


def noisy_photo(sigma=25, seed=1):
    rng = np.random.default_rng(seed)
    return as_photo(np.clip(smooth_image(48, 56) + rng.normal(0, sigma / 255, (48, 56, 3)), 0, 1))


def run_until(job, stop_at):
    control = Control()
    steps = []
    for s in restore.run(job, control):
        steps.append(s)
        if s.iteration >= stop_at and not s.done:
            control.stop()
    return steps


def test_the_first_frame_is_the_classical_answer():
    p = as_photo(textured(16, 20))
    first = next(restore.run(restore.Job("sr", p, scale=3, iters=2, **TINY)))
    assert first.iteration == 0 and not first.done and first.progress == 0
    assert np.allclose(first.image, classical.lanczos_upscale(p.pixels, 60, 48))

    p = as_photo(textured())
    mask = np.zeros((48, 56), bool)
    mask[20:24, 10:40] = True
    first = next(restore.run(restore.Job("inpaint", p, mask=mask, iters=2, **TINY)))
    t, l, b, r = first.region
    fill = mask[t:b, l:r]
    expect = classical.telea_fill(p.pixels[t:b, l:r], fill)
    assert np.allclose(first.image[fill], expect[fill])
    assert np.array_equal(first.image[~fill], p.pixels[t:b, l:r][~fill])
    # the fill follows its surroundings: far closer to the hidden truth than black or the mean
    truth = p.pixels[t:b, l:r][fill]
    assert np.abs(first.image[fill] - truth).mean() < 0.5 * np.abs(truth - truth.mean()).mean() + 0.02


@pytest.mark.parametrize("task,kw,kept", [("sr", {"scale": 4}, "lanczos"), ("denoise", {}, "original")])
def test_stopping_too_early_keeps_the_classical_answer_and_says_so(task, kw, kept):
    p = as_photo(textured(16, 20)) if task == "sr" else noisy_photo()
    job = restore.Job(task, p, iters=500, **kw, **TINY)
    steps = run_until(job, 3)
    last = steps[-1]
    assert last.done and last.stopped_by == "user" and not last.usable
    assert last.extra["kept"] == kept
    assert "too early to be useful" in last.extra["kept_message"] and "is kept" in last.extra["kept_message"]
    if task == "denoise":
        assert np.array_equal(last.result.data, p.data)
    else:   # the Lanczos upscale, back-projected onto the photo once (as every SR result)
        up = classical.lanczos_upscale(p.pixels, 80, 64)
        kept_image = classical.back_project(up, p.pixels, physics.of("sr", scale=4).downsample)
        assert np.abs(last.result.pixels - kept_image).max() <= 1 / 255 + 1e-6


@pytest.mark.parametrize("preset", ["draft", "fast"])   # one fit; two fits averaged
def test_a_run_that_gets_there_returns_its_own_result(preset):
    p = noisy_photo()
    last = list(restore.run(restore.Job("denoise", p, preset=preset, iters=400, stop="never")))[-1]
    assert last.usable and last.extra["kept"] is None and "kept_message" not in last.extra
    if preset == "draft":   # an average of two fits is no one iteration's output
        assert last.result_iteration is not None and 0 < last.result_iteration <= last.iteration
    truth = np.rint(smooth_image(48, 56) * 255) / 255
    err_in = np.mean((p.pixels - truth) ** 2)
    err_out = np.mean((last.result.pixels - truth) ** 2)
    assert err_out < 0.5 * err_in   # at least 3 dB better than the noisy photo


def test_a_noise_free_photo_is_not_blurred_by_denoising():
    p = as_photo(textured())
    last = list(restore.run(restore.Job("denoise", p, iters=60, stop="never", **TINY)))[-1]
    assert last.extra["kept"] == "original" and "before its result beat the original" in last.extra["kept_message"]
    assert np.array_equal(last.result.data, p.data)


def test_a_tiled_run_stopped_before_any_tile_started_says_it_was_stopped():
    p = noisy_photo()
    control = Control()
    steps = []
    for s in restore.run(restore.Job("denoise", p, iters=50, tile=32, overlap=8, **TINY), control):
        steps.append(s)
        control.stop()   # at the first frame, before any tile has reported
    last = steps[-1]
    assert last.done and last.stopped_by == "user" and last.extra["unfinished_parts"] == list(range(last.extra["parts"]))
    assert last.extra["kept_message"] == "Stopped at iteration 0: too early to be useful; the original is kept in all parts."
    assert np.array_equal(last.result.data, p.data)


def test_tiled_progress_has_a_fixed_total_and_unfinished_tiles_keep_the_input():
    p = noisy_photo()
    job = restore.Job("denoise", p, iters=5, tile=32, overlap=8, **TINY)
    steps = run_until(job, 7)   # stopped in the second tile
    totals = {s.total for s in steps}
    progress = [s.progress for s in steps]
    assert len(totals) == 1 and progress == sorted(progress) and progress[-1] == 1.0
    last = steps[-1]
    n = last.extra["parts"]
    assert last.extra["unfinished_parts"] == list(range(1, n)) or last.extra["unfinished_parts"] == list(range(n))
    assert f"of {n}" in last.extra["kept_message"] or "all parts" in last.extra["kept_message"]
    t, l, b, r = steps[0].extra["plan"].regions[-1]
    assert np.array_equal(last.result.data[b - 4:b, r - 4:r], p.data[b - 4:b, r - 4:r])


def test_eta_is_a_range_that_ends_at_the_budget():
    steps = list(fit(Problem(__import__("torch").rand(1, 3, 24, 24), Identity(), (24, 24)),
                     get("denoise", "fast"), iterations=30, preview_every=5))
    mid = [s for s in steps if not s.done and s.iteration > 5]
    assert all(s.eta_range[0] <= s.eta_s <= s.eta_range[1] + 1e-9 for s in mid)
    assert all(s.eta_range[1] == pytest.approx(s.s_per_iter * (30 - s.iteration)) for s in mid)
    assert steps[-1].eta_range is None and steps[-1].progress == 1.0


def test_stop_takes_effect_before_the_backward_pass():
    import torch

    control = Control()
    calls = []

    class StopsOnThirdForward(Identity):
        def forward(self, x):
            calls.append(1)
            if len(calls) == 3:
                control.stop()
            return x

    prob = Problem(torch.rand(1, 3, 16, 16), StopsOnThirdForward(), (16, 16))
    steps = list(fit(prob, get("denoise", "fast"), iterations=50, control=control))
    # the third iteration's forward pass saw the stop: no optimiser step was taken for it
    assert steps[-1].stopped_by == "user" and steps[-1].iteration == 2


def stroke(h=64, w=72):
    m = np.zeros((h, w), bool)
    m[30:36, 8:60] = True   # 6 px wide
    m[10:50, 40:44] = True  # 4 px wide
    return m


def test_inpainting_holds_out_known_pixels_near_the_marks_but_not_touching_them():
    marks = stroke()
    held = classical.holdout(marks)
    assert np.array_equal(held, classical.holdout(marks))   # the same pixels every run
    assert held.any() and not (held & marks).any()
    near = cv2.distanceTransform((~marks).astype(np.uint8), cv2.DIST_L2, 5)   # px to the nearest mark
    # discs as wide as the marks (r about 3 px here), centred 2r-3r away: the fill keeps the r
    # known pixels next to the marks, and is judged on holes like them close by
    assert near[held].min() >= 3 and near[held].max() <= 4 * 3 + 1
    band = ~marks & (near <= 3)
    assert 0.05 < held.sum() / band.sum() < 0.3   # a small share: the fill keeps most of its context
    tiny = np.zeros((40, 40), bool)
    tiny[20, 20] = True
    assert classical.holdout(tiny).sum() > 0   # even one marked pixel is judged on something


def test_an_inpainting_fit_is_judged_on_pixels_it_did_not_see():
    import torch

    # the fit sees a flat grey; the held-out pixels are white, which it cannot predict
    obs = torch.full((1, 3, 16, 16), 0.5)
    obs[..., 6:10, 6:10] = 1.0
    seen = torch.ones(1, 1, 16, 16)
    seen[..., 6:10, 6:10] = 0
    judged = 1 - seen
    base = dict(observation=obs, operator=Identity(), size=(16, 16), weight=seen, usable_mse=0.05)
    last = list(fit(Problem(**base, judged=judged), get("inpaint", "fast"), iterations=40, auto_stop=False))[-1]
    assert not last.usable
    # measured on the pixels it fitted, the same run would have counted as usable
    last = list(fit(Problem(**base), get("inpaint", "fast"), iterations=40, auto_stop=False))[-1]
    assert last.usable


def test_the_inpainting_level_is_teleas_error_on_the_held_pixels_filled_with_the_marks():
    h, w = 64, 72
    yy, xx = np.mgrid[0:h, 0:w]
    truth = np.repeat((0.5 + 0.4 * np.sin(xx / 5.0 + yy / 9.0))[..., None], 3, axis=2).astype(np.float32)
    marks = stroke(h, w)
    held = classical.holdout(marks)
    level = classical.usable_mse("inpaint", truth * ~marks[..., None], ~marks, held=held)
    telea = classical.telea_fill(truth, marks | held)
    assert level == pytest.approx(float(((telea - truth) ** 2)[held].mean()), rel=1e-5)
    assert level > 0   # the truth itself (a perfect fill) would beat it


def test_held_out_pixels_join_the_fit_once_the_result_is_usable():
    import torch

    obs = torch.full((1, 3, 16, 16), 0.5)
    obs[..., 6:10, 6:10] = 1.0
    seen = torch.ones(1, 1, 16, 16)
    seen[..., 6:10, 6:10] = 0
    base = dict(observation=obs, operator=Identity(), size=(16, 16), weight=seen, judged=1 - seen)

    def white_held(usable_mse):
        steps = list(fit(Problem(**base, usable_mse=usable_mse), get("inpaint", "fast"), iterations=300,
                         auto_stop=False, preview_every=10 ** 9))   # no previews: parts fit so
        return steps[-1], float(steps[-1].image[6:10, 6:10].mean())

    never, held_never = white_held(1e-9)      # never usable: the held pixels stay out of the fit
    early, held_early = white_held(1.0)       # usable at the first check: they join the fit
    assert not never.usable and early.usable
    assert held_never < 0.7 < held_early   # the fit has learned the white square only once it saw it


def test_an_sr_result_with_network_output_is_back_projected_onto_the_small_photo(monkeypatch):
    real, given = classical.back_project, []

    def spy(image, small, down, **kw):
        given.append((image.copy(), small, down))
        return real(image, small, down, **kw)
    monkeypatch.setattr(classical, "back_project", spy)
    monkeypatch.setattr(classical, "usable_mse", lambda *a, **k: None)   # every network result usable
    p = as_photo(textured(16, 20))
    *_, last = restore.run(restore.Job("sr", p, scale=2, iters=30, **TINY))
    assert last.done and last.usable and last.extra["kept"] is None
    [(image, small, down)] = given
    assert np.allclose(small, p.pixels)

    def mismatch(a):
        return float(((down(a) - small) ** 2).mean())
    assert mismatch(last.image) < mismatch(image) / 2          # closer to the photo than the network's own
    assert np.abs(last.result.pixels - last.image).max() <= 1 / 255 + 1e-6


def test_a_kept_lanczos_upscale_is_back_projected_too_and_the_user_is_told(monkeypatch):
    monkeypatch.setattr(classical, "usable_mse", lambda *a, **k: 1e-12)   # no network result is usable
    p = as_photo(textured(16, 20))
    *_, last = restore.run(restore.Job("sr", p, scale=2, iters=30, **TINY))
    assert last.done and not last.usable and last.extra["kept"] == "lanczos"
    assert "the Lanczos upscale is kept, back-projected onto your photo once" in last.extra["kept_message"]
    ph = physics.of("sr", scale=2)
    up = classical.lanczos_upscale(p.pixels, 40, 32)

    def mismatch(a):
        return float(((ph.downsample(a) - p.pixels) ** 2).mean())
    assert np.abs(last.image - up).max() > 1 / 255          # not the plain upscale
    assert mismatch(last.image) < mismatch(up) / 2          # closer to the photo than the plain upscale
