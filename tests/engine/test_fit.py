"""The fitting loop on tiny images: each task improves on its input; control and reproducibility."""
import threading
import time
from dataclasses import replace

import numpy as np
import pytest
import torch

from dip_engine import metrics, presets
from dip_engine.fit import Control, Problem, build_net, fit, observation_input, padded_size, sure_divergence
from dip_engine.operators import Downsample, Identity
from tests.conftest import T, last, smooth_image, tiny

H, W = 40, 48


def noisy_pair(seed=0):
    clean = smooth_image(H, W)
    noisy = np.clip(clean + np.random.default_rng(seed).normal(0, 0.1, clean.shape), 0, 1).astype(np.float32)
    return clean, noisy


def test_denoise_improves_psnr():
    clean, noisy = noisy_pair()
    s = last(fit(Problem(T(noisy), Identity(), (H, W)), tiny(), iterations=250, auto_stop=False))
    assert s.done and s.stopped_by == "iterations" and s.iteration == 250
    assert s.image.shape == (H, W, 3) and s.image.dtype == np.float32
    assert metrics.psnr(s.image, clean) > metrics.psnr(noisy, clean) + 3


def test_sr_beats_nearest_upscale():
    clean = smooth_image(H, W)
    lr = Downsample(2)(T(clean))
    s = last(fit(Problem(lr, Downsample(2), (H, W)), tiny("sr"), iterations=500, auto_stop=False))
    nearest = np.repeat(np.repeat(lr[0].numpy().transpose(1, 2, 0), 2, 0), 2, 1)
    assert s.image.shape == (H, W, 3)
    assert metrics.psnr(s.image, clean) > metrics.psnr(nearest, clean) + 1.5


def test_inpaint_fills_the_hole():
    clean = smooth_image(H, W)
    known = np.ones((H, W), bool)
    known[15:25, 20:30] = False
    obs = clean * known[..., None]
    weight = torch.from_numpy(known.astype(np.float32))[None, None]
    s = last(fit(Problem(T(obs), Identity(), (H, W), weight), tiny("inpaint"), iterations=250, auto_stop=False))
    hole = ~known
    assert metrics.psnr(s.image[hole], clean[hole]) > metrics.psnr(obs[hole], clean[hole]) + 6


def test_grayscale_and_odd_sizes():
    img = smooth_image(37, 29, c=1)
    s = last(fit(Problem(T(img), Identity(), (37, 29)), tiny(), iterations=3))
    assert s.image.shape == (37, 29, 1)


def test_padding_never_crops():
    assert padded_size((37, 29), 32) == (64, 32)
    assert padded_size((10, 10), 32, 64) == (64, 64)


def test_same_seed_same_result_other_seed_differs():
    _, noisy = noisy_pair()
    p = Problem(T(noisy), Identity(), (H, W))
    a = last(fit(p, tiny(), iterations=5, seed=3)).image
    b = last(fit(p, tiny(), iterations=5, seed=3)).image
    c = last(fit(p, tiny(), iterations=5, seed=4)).image
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_stop_keeps_a_result_and_ends_the_stream():
    _, noisy = noisy_pair()
    control = Control()
    steps = []
    for s in fit(Problem(T(noisy), Identity(), (H, W)), tiny(), iterations=1000, control=control):
        steps.append(s)
        if s.iteration == 7:
            control.stop()
    assert steps[-1].done and steps[-1].stopped_by == "user"
    assert steps[-1].iteration == 7 and steps[-1].image is not None
    assert sum(s.done for s in steps) == 1


class _StopAtPoll(Control):
    """Pressed Stop at its `at`-th poll: the fit polls before each iteration and at every layer."""

    def __init__(self, at: int | None = None):
        super().__init__()
        self.at, self.polls, self.polls_after_stop = at, 0, 0

    @property
    def stopped(self) -> bool:
        self.polls += 1
        hit = self.at is not None and self.polls >= self.at
        self.polls_after_stop += hit
        return hit


def test_stop_in_the_middle_of_an_iteration_ends_it_at_the_next_layer():
    # A big tile's iteration takes many seconds: Stop may not wait for its end (issue 12).
    _, noisy = noisy_pair()
    p = Problem(T(noisy), Identity(), (H, W))
    count = _StopAtPoll()
    three = last(fit(p, tiny(), iterations=3, seed=2, control=count))
    per_iteration = count.polls / 3                       # polls before the loop, in forward, in backward
    assert per_iteration > 10                             # at every layer, not once per iteration
    for where in (0.3, 0.9):                              # in iteration 4's forward pass, then its backward
        control = _StopAtPoll(at=round(count.polls + where * per_iteration))
        end = last(fit(p, tiny(), iterations=1000, seed=2, control=control))
        assert end.done and end.stopped_by == "user" and end.iteration == 3
        assert control.polls_after_stop == 1              # the first layer after the press ended it
        assert np.array_equal(end.image, three.image)     # the state of the last full iteration


def test_pause_blocks_until_resume():
    _, noisy = noisy_pair()
    control = Control()
    seen = []
    gen = fit(Problem(T(noisy), Identity(), (H, W)), tiny(), iterations=6, control=control)

    def consume():
        for s in gen:
            seen.append(s.iteration)

    control.pause()
    t = threading.Thread(target=consume)
    t.start()
    time.sleep(0.5)
    assert seen == []  # paused before the first iteration
    control.resume()
    t.join(30)
    assert seen[-1] == 6 and not t.is_alive()


def test_stop_wakes_a_paused_run():
    _, noisy = noisy_pair()
    control = Control()
    control.pause()
    result = {}

    def consume():
        result["last"] = last(fit(Problem(T(noisy), Identity(), (H, W)), tiny(), iterations=50, control=control))

    t = threading.Thread(target=consume)
    t.start()
    time.sleep(0.3)
    control.stop()
    t.join(30)
    assert not t.is_alive() and result["last"].stopped_by == "user"


@pytest.mark.parametrize("seed", [0, 1, 2])  # fresh Adam moments after a restore failed on 1 and 2
def test_learning_rate_blow_up_is_recovered(seed):
    _, noisy = noisy_pair()
    control = Control()
    steps = []
    for s in fit(Problem(T(noisy), Identity(), (H, W)), tiny(), iterations=60, control=control, seed=seed):
        steps.append(s)
        if s.iteration == 30:
            control.set_lr(50.0)  # absurd: the next steps blow up
        if s.iteration == 40:
            control.set_lr(0.01)
    assert steps[-1].restarts > 0
    assert np.isfinite(steps[-1].loss) and steps[-1].loss < 0.1


def test_auto_stop_ends_at_detected_peak():
    _, noisy = noisy_pair()
    p = tiny(preset="paper", es_window=5, es_patience=15)
    s = last(fit(Problem(T(noisy), Identity(), (H, W)), p, iterations=2000))
    assert s.stopped_by == "auto"
    assert s.peak_iteration is not None and s.iteration - s.peak_iteration == 15


@pytest.mark.parametrize("every", [1, 4])
def test_preview_interval(every):
    _, noisy = noisy_pair()
    steps = list(fit(Problem(T(noisy), Identity(), (H, W)), tiny(), iterations=8, preview_every=every))
    with_image = [s.iteration for s in steps if s.image is not None]
    assert with_image == (list(range(1, 9)) if every == 1 else [4, 8])
    assert len(steps) == 9  # one per iteration, plus the final record


# The Deep Random Projector's settings (bench/levers.py "drp"), on the tiny net
DRP = dict(train="input", loss="rmse", tv=0.45, lr=0.1, reg_noise=0.0, scales=1, input_channels=3)


@pytest.mark.parametrize("kw,precision", [({}, "fp32"), (DRP, "fp32"), ({"unshuffle": 2}, "fp32"), ({}, "bf16")],
                         ids=["dip", "drp", "unshuffle", "bf16"])
def test_resume_from_checkpoint_equals_uninterrupted_run(kw, precision):
    _, noisy = noisy_pair()
    p = Problem(T(noisy), Identity(), (H, W))
    run = dict(iterations=12, seed=2, auto_stop=False, precision=precision)
    full = last(fit(p, tiny(**kw), **run))
    control = Control()
    first = None
    for s in fit(p, tiny(**kw), control=control, **run):
        if s.iteration == 5:
            control.stop()
        first = s
    assert first.stopped_by == "user" and first.checkpoint["iteration"] == 5
    resumed = last(fit(p, tiny(**kw), resume=first.checkpoint, **run))
    assert resumed.iteration == 12
    np.testing.assert_allclose(resumed.image, full.image, atol=1e-5)


def test_random_projector_fits_the_input_and_batch_norms_not_the_convolutions():
    clean, noisy = noisy_pair()
    p = Problem(T(noisy), Identity(), (H, W))
    start = last(fit(p, tiny(**DRP), iterations=1, seed=1, auto_stop=False)).checkpoint
    final = last(fit(p, tiny(**DRP), iterations=150, seed=1, auto_stop=False))
    end = final.checkpoint
    convs = [k for k, v in end["net"].items() if k.endswith("weight") and v.dim() == 4]
    norms = [k for k, v in end["net"].items() if k.endswith("weight") and v.dim() == 1]
    assert convs and norms
    assert all(torch.equal(end["net"][k], start["net"][k]) for k in convs)     # frozen
    assert any(not torch.equal(end["net"][k], start["net"][k]) for k in norms)  # fitted
    assert not torch.allclose(end["z"], start["z"])                             # the input is fitted
    assert metrics.psnr(final.image, clean) > metrics.psnr(noisy, clean) + 3


SURE = dict(input="observation", input_channels=3, loss="sure", reg_noise=0.5)


def test_observation_input_keeps_the_photo_and_reflects_the_padding():
    obs = torch.rand(1, 3, 5, 7)
    z = observation_input(obs, (1, 3, 8, 8))
    assert z.shape == (1, 3, 8, 8)
    assert torch.equal(z[..., :5, :7], obs)
    assert torch.equal(z[..., 5, :7], obs[..., 3, :])   # reflected about the last row


def test_sure_divergence_of_a_pixelwise_map_is_its_slope():
    z = torch.rand(1, 3, 16, 16)
    div = sure_divergence(lambda t: 0.3 * t[..., :12, :12], z, 0.3 * z[..., :12, :12], 0.05,
                          torch.Generator().manual_seed(0))
    assert abs(float(div) - 0.3) < 0.03
    z = torch.rand(1, 3, 64, 64)
    blur = torch.nn.AvgPool2d(3, 1, 1)   # each output takes 1/9 of its own input
    div = sure_divergence(blur, z, blur(z), 0.05, torch.Generator().manual_seed(0))
    assert abs(float(div) - 1 / 9) < 0.03


def test_sure_loss_denoises_from_the_noisy_photo_and_does_not_fit_the_noise():
    clean, noisy = noisy_pair()
    p = Problem(T(noisy), Identity(), (H, W), noise_sigma=0.1)
    plain = last(fit(p, tiny(**{**SURE, "loss": "mse"}), iterations=150, auto_stop=False))
    sure = last(fit(p, tiny(**SURE), iterations=150, auto_stop=False))
    # MSE alone on the noisy input heads for the identity and keeps most of the noise
    assert metrics.psnr(sure.image, clean) > metrics.psnr(plain.image, clean) + 5
    assert metrics.psnr(sure.image, clean) > metrics.psnr(noisy, clean) + 8
    # without the level in the problem, the fit estimates it from the photo (0.1 here)
    guessed = last(fit(Problem(T(noisy), Identity(), (H, W)), tiny(**SURE), iterations=150, auto_stop=False))
    assert abs(metrics.psnr(guessed.image, clean) - metrics.psnr(sure.image, clean)) < 1


def test_fast_denoising_is_sure_on_the_photo_and_runs_its_budget_in_colour_and_grey():
    fast = presets.get("denoise", "fast")
    assert (fast.input, fast.loss, fast.auto_stop) == ("observation", "sure", False)
    assert presets.get("jpeg", "fast").loss == "mse" and presets.get("denoise", "paper").loss == "mse"
    fast, balanced, quality = ours = [presets.get("denoise", n) for n in ("fast", "balanced", "quality")]
    assert all(p.loss == "sure" and p.tile == 128 and not p.auto_stop for p in ours)
    assert (balanced.channels, balanced.iterations, balanced.fits) == (fast.channels, fast.iterations, 4)
    assert quality.channels > fast.channels and quality.fits == 1                                 # a wider net
    clean, noisy = noisy_pair()
    grey = noisy[..., :1]
    s = last(fit(Problem(T(grey), Identity(), (H, W)), tiny(), iterations=40))   # the net takes 1 channel in
    assert s.stopped_by == "iterations" and s.iteration == 40 and s.image.shape == (H, W, 1)


def test_unshuffled_net_fits_a_coarser_grid_into_the_full_size():
    clean, noisy = noisy_pair()
    preset = tiny(unshuffle=2)
    s = last(fit(Problem(T(noisy), Identity(), (H, W)), preset, iterations=250, auto_stop=False))
    assert s.image.shape == (H, W, 3)
    net = build_net(preset, 3)
    padded = padded_size((H, W), net.multiple, net.min_size)
    assert s.checkpoint["z"].shape[-2:] == (padded[0] // 2, padded[1] // 2)
    assert metrics.psnr(s.image, clean) > metrics.psnr(noisy, clean) + 3


# What a checkpoint holds (FitState.state_dict): projects in users' hands keep these keys, so a
# change to them must be deliberate and the old ones must still load.
CHECKPOINT_KEYS = {"iteration", "net", "optimizer", "z", "noise_rng", "smoothed", "best", "best_due", "best_it",
                   "usable", "gated", "es", "lowest_loss", "confidence", "restarts", "elapsed_s", "seed"}
# ... and what the first project files held (before best_due, best_it, usable, gated and the
# confidence map were kept, with the last loss instead of the lowest)
FIRST_KEYS = {"iteration", "net", "optimizer", "z", "noise_rng", "smoothed", "best", "es", "last_loss",
              "restarts", "elapsed_s", "seed"}


def stopped_at(p, iteration, total):
    control = Control()
    for s in fit(p, tiny(), iterations=total, seed=2, auto_stop=False, control=control):
        if s.iteration == iteration:
            control.stop()
    return s.checkpoint


def test_checkpoint_holds_the_keys_projects_keep():
    _, noisy = noisy_pair()
    ck = stopped_at(Problem(T(noisy), Identity(), (H, W)), 5, 12)
    assert set(ck) == CHECKPOINT_KEYS
    assert ck["iteration"] == 5 and ck["seed"] == 2 and ck["smoothed"].device.type == "cpu"


def test_checkpoint_of_the_first_project_files_still_resumes():
    _, noisy = noisy_pair()
    p = Problem(T(noisy), Identity(), (H, W))
    full = last(fit(p, tiny(), iterations=12, seed=2, auto_stop=False))
    ck = stopped_at(p, 5, 12)
    old = {k: v for k, v in ck.items() if k in FIRST_KEYS} | {"last_loss": ck["lowest_loss"]}
    assert set(old) == FIRST_KEYS
    resumed = last(fit(p, tiny(), iterations=12, seed=2, auto_stop=False, resume=old))
    assert resumed.iteration == 12 and set(resumed.checkpoint) == CHECKPOINT_KEYS
    np.testing.assert_allclose(resumed.image, full.image, atol=1e-5)


def test_checkpoint_on_request():
    _, noisy = noisy_pair()
    control = Control()
    got = []
    for s in fit(Problem(T(noisy), Identity(), (H, W)), tiny(), iterations=6, control=control):
        if s.iteration == 2:
            control.request_checkpoint()
        if s.checkpoint is not None:
            got.append(s.iteration)
    assert got == [3, 6]


def test_checkpoint_requested_while_paused_comes_before_the_pause_ends():
    _, noisy = noisy_pair()
    p = Problem(T(noisy), Identity(), (H, W))
    full = last(fit(p, tiny(), iterations=8, seed=1, auto_stop=False))
    control = Control()
    got = []
    for s in fit(p, tiny(), iterations=8, seed=1, auto_stop=False, control=control):
        if s.iteration == 3 and not control.paused and not got:
            control.request_checkpoint()
            control.pause()                # the checkpoint arrives at once, nothing runs meanwhile
        elif s.checkpoint is not None and not s.done:
            got.append(s)
            control.resume()
    assert len(got) == 1 and got[0].checkpoint["iteration"] == 3 and got[0].iteration == 3
    resumed = last(fit(p, tiny(), iterations=8, seed=1, auto_stop=False, resume=got[0].checkpoint))
    np.testing.assert_allclose(resumed.image, full.image, atol=1e-5)


def test_result_is_the_smoothed_output_one_ema_lag_after_the_peak():
    _, noisy = noisy_pair()
    p = tiny(preset="paper", exp_weight=0.9, es_window=5, es_patience=30)  # EMA lag: 1 / (1 - 0.9) = 10 iterations
    images = {}
    final = None
    for s in fit(Problem(T(noisy), Identity(), (H, W)), p, iterations=3000, preview_every=1):
        if s.done:
            final = s
        elif s.image is not None:
            images[s.iteration] = s.image
    assert final.stopped_by == "auto" and final.iteration == final.peak_iteration + 30
    np.testing.assert_array_equal(final.image, images[final.peak_iteration + 10])


@pytest.mark.parametrize("name", ["fast", "balanced", "paper", "paper-object", "paper-holes"])
def test_inpainting_presets_run_their_whole_budget(name):
    # the fill keeps improving after the known pixels settle: ES-WMV must not end the run (issue 13)
    assert presets.get("inpaint", name).auto_stop is False
    assert presets.get("inpaint", "fast", holes=True).auto_stop is False
    _, noisy = noisy_pair()
    weight = torch.ones(1, 1, H, W)
    weight[..., 10:14, :] = 0
    p = replace(tiny("inpaint"), es_window=5, es_patience=15)
    steps = list(fit(Problem(T(noisy), Identity(), (H, W), weight), p, iterations=120))
    # ES-WMV would have fired here with auto-stop (test_auto_stop_ends_at_detected_peak); no peak is shown
    assert not any(s.stop_suggested or s.peak_iteration for s in steps)
    assert steps[-1].stopped_by == "iterations" and steps[-1].iteration == 120


@pytest.mark.parametrize("name", ["fast", "balanced", "quality", "paper"])
def test_super_resolution_presets_run_their_whole_budget(name):
    # no noise to overfit: ES-WMV's early minimum ended zebra x4 at full size under Lanczos
    assert presets.get("sr", name).auto_stop is False
    lr = T(noisy_pair()[0][::2, ::2])
    p = replace(presets.get("sr", name), channels=8, scales=2, es_window=5, es_patience=15)
    steps = list(fit(Problem(lr, Downsample(2), (H, W)), p, iterations=60))
    assert not any(s.stop_suggested or s.peak_iteration for s in steps)
    assert steps[-1].stopped_by == "iterations" and steps[-1].iteration == 60


def test_auto_stop_waits_for_the_gate():
    # ES-WMV's minimum only counts once the output has explained the photo down to the gate level
    _, noisy = noisy_pair()
    p = tiny(preset="paper", es_window=5, es_patience=15)
    never = last(fit(Problem(T(noisy), Identity(), (H, W), stop_gate_mse=0.0), p, iterations=300))
    assert never.stopped_by == "iterations" and never.iteration == 300
    assert never.result_iteration == 300   # no pre-gate minimum is handed back as the result
    open_gate = last(fit(Problem(T(noisy), Identity(), (H, W), stop_gate_mse=1.0), p, iterations=2000))
    assert open_gate.stopped_by == "auto" and open_gate.iteration - open_gate.peak_iteration == 15


def test_draft_is_one_of_fasts_two_sure_fits_for_denoising_only():
    draft, fast = presets.get("denoise", "draft"), presets.get("denoise", "fast")
    assert draft.loss == fast.loss == "sure" and (draft.fits, fast.fits) == (1, 2)
    assert replace(draft, name="fast", fits=2, description=fast.description) == fast
    assert (draft.tile, draft.auto_stop) == (128, False)
    for task in ("jpeg", "sr", "inpaint"):
        assert "draft" not in presets.names(task)
        with pytest.raises(ValueError, match="unknown preset 'draft'"):
            presets.get(task, "draft")
    clean, noisy = noisy_pair()
    s = last(fit(Problem(T(noisy), Identity(), (H, W), noise_sigma=0.1), draft, iterations=150))
    assert metrics.psnr(s.image, clean) > metrics.psnr(noisy, clean) + 3


def test_bf16_fits_as_well_as_fp32_and_keeps_float32_weights_and_images():
    clean, noisy = noisy_pair()
    p = Problem(T(noisy), Identity(), (H, W))
    full = last(fit(p, tiny(), iterations=120, auto_stop=False))
    half = last(fit(p, tiny(), iterations=120, auto_stop=False, precision="bf16"))
    assert half.image.dtype == np.float32
    assert {v.dtype for v in half.checkpoint["net"].values() if v.is_floating_point()} == {torch.float32}
    assert metrics.psnr(half.image, clean) > metrics.psnr(noisy, clean) + 3
    assert abs(metrics.psnr(half.image, clean) - metrics.psnr(full.image, clean)) < 0.5
    assert np.abs(half.image - full.image).max() > 0   # it did run in another precision


def test_an_unknown_precision_is_refused():
    _, noisy = noisy_pair()
    with pytest.raises(ValueError, match="'fp32' or 'bf16'"):
        next(fit(Problem(T(noisy), Identity(), (H, W)), tiny(), precision="fp16"))
