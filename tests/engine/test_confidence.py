"""The confidence map: per-pixel spread of the fit's output, its file scale and its place in
the Step stream."""

import numpy as np
import pytest
import torch

from dip_engine import confidence, presets
from dip_engine.confidence import Tracker
from dip_engine.fit import Control, Problem, fit
from dip_engine.operators import Identity
from tests.conftest import T, last, smooth_image, tiny

H, W = 40, 48


def test_tracker_is_the_spread_where_values_move_and_zero_where_they_do_not():
    rng = np.random.default_rng(0)
    t = Tracker(window=20)
    for _ in range(200):
        x = np.full((1, 3, 8, 10), 0.5, np.float32)
        x[..., 5:] += rng.normal(0, 0.1, (1, 3, 8, 5)).astype(np.float32)   # right half moves
        t.update(torch.from_numpy(x))
    m = t.map()
    assert m.shape == (8, 10) and m.dtype == np.float32
    assert np.all(m[:, :5] < 1e-6)
    assert 0.06 < m[:, 5:].mean() < 0.14          # about the true std of 0.1


def test_tracker_forgets_what_was_long_ago():
    t = Tracker(window=10)
    for k in range(100):
        t.update(torch.full((1, 1, 2, 2), float(k % 2)))    # flickers, then settles
    for _ in range(200):
        t.update(torch.full((1, 1, 2, 2), 0.3))
    assert t.map().max() < 1e-3


def test_fit_reports_a_larger_spread_where_nothing_holds_the_output():
    # the right half is unobserved (weight 0): the output there is free to move, the left half
    # is pinned by the data
    clean = smooth_image(H, W)
    weight = np.ones((H, W), np.float32)
    weight[:, W // 2:] = 0
    p = Problem(T(clean * weight[..., None]), Identity(), (H, W), torch.from_numpy(weight)[None, None])
    s = last(fit(p, tiny("inpaint"), iterations=300, auto_stop=False, seed=0))
    m = s.confidence
    assert m.shape == (H, W) and m.dtype == np.float32 and np.isfinite(m).all() and m.min() >= 0
    assert np.median(m[:, W // 2 + 4:]) > 2 * np.median(m[:, :W // 2 - 4])


def test_confidence_comes_with_every_image_and_can_be_switched_off():
    p = Problem(T(smooth_image(H, W)), Identity(), (H, W))
    steps = list(fit(p, tiny(), iterations=6, preview_every=3))
    assert [s.iteration for s in steps if s.confidence is not None] == [3, 6]  # 6: the final step
    assert all((s.image is None) == (s.confidence is None) for s in steps)
    assert all(s.confidence is None for s in fit(p, tiny(), iterations=3, preview_every=1, confidence=False))


def test_resumed_fit_gives_the_same_map():
    p = Problem(T(smooth_image(H, W)), Identity(), (H, W))
    full = last(fit(p, tiny(), iterations=12, seed=2, auto_stop=False))
    control = Control()
    for s in fit(p, tiny(), iterations=12, seed=2, auto_stop=False, control=control):
        if s.iteration == 5:
            control.stop()
    resumed = last(fit(p, tiny(), iterations=12, seed=2, auto_stop=False, resume=s.checkpoint))
    np.testing.assert_allclose(resumed.confidence, full.confidence, atol=1e-5)


def test_png_scale_round_trips_and_clips():
    m = np.array([[0.0, 1 / 255, 4 / 255, 16 / 255, 0.5]], np.float32)
    v = confidence.to_png16(m)
    assert v.dtype == np.uint16 and v.tolist() == [[0, 4096, 16384, 65535, 65535]]
    np.testing.assert_allclose(confidence.from_png16(v)[0, :3], m[0, :3], atol=1e-6)


def test_the_tasks_with_a_map():
    assert [t for t in presets.TASKS if confidence.tracks(t)] == ["denoise", "jpeg", "sr"]


def test_across_seeds_and_full_canvas():
    a = np.zeros((4, 5, 3), np.float32)
    b = np.full((4, 5, 3), 0.2, np.float32)
    np.testing.assert_allclose(confidence.across([a, b]), 0.1, atol=1e-6)
    own = [np.full((4, 5), 0.1, np.float32), np.full((4, 5), 0.3, np.float32)]
    np.testing.assert_allclose(confidence.combined(own, [a, b]), np.sqrt((0.01 + 0.09) / 2 + 0.01), atol=1e-6)
    f = confidence.full(np.ones((2, 3), np.float32), (1, 2, 3, 5), (4, 6))
    assert f.shape == (4, 6) and f.sum() == 6 and f[1:3, 2:5].all()


@pytest.fixture
def fit_always_usable(monkeypatch):
    """A few iterations count as usable: the fit's result and map are kept, not the classical answer."""
    from dip_engine import classical
    monkeypatch.setattr(classical, "usable_mse", lambda *a, **k: None)


def _photo(h=H, w=W):
    from dip_engine.imageio import Photo
    return Photo(np.rint(smooth_image(h, w) * 255).astype(np.uint8))


def test_inpainting_gets_no_map(fit_always_usable):
    # on the bench it told no more than the fill's edges (confidence.TASKS)
    from dip_engine import restore
    mask = np.zeros((H, W), bool)
    mask[10:20, 20:30] = True
    job = restore.Job("inpaint", _photo(), mask=mask, iters=4, channels=8, stop="never", preview_every=2)
    steps = list(restore.run(job))
    assert steps[-1].done and steps[-1].image is not None and not steps[-1].extra["kept"]
    assert all(s.confidence is None for s in steps)


def test_tiles_compose_one_full_size_map(fit_always_usable):
    from dip_engine import restore
    job = restore.Job("denoise", _photo(64, 72), iters=3, channels=8, stop="never", tile=40, workers=1,
                      preview_every=1)
    last = None
    for last in restore.run(job):
        assert last.confidence is None or last.confidence.shape == (64, 72)
    assert last.done and last.extra["parts"] > 1 and not last.extra["unfinished_parts"]
    assert last.confidence.shape == (64, 72) and (last.confidence > 0).mean() > 0.9


def test_a_kept_classical_answer_has_no_map():
    from dip_engine import restore
    control = restore.Control()
    last = None
    for last in restore.run(restore.Job("denoise", _photo(), iters=40, channels=8, preview_every=1), control):
        if last.iteration == 2:
            control.stop()     # too early to help: the photo itself is kept
        elif last.iteration == 1:
            assert last.confidence is not None
    assert last.done and last.extra["kept"] and last.confidence is None


def test_mosaic_of_no_maps_is_none_and_crops_paste_their_fill():
    assert confidence.mosaic({}, [(0, 0, 2, 2)], (4, 4), fills=[np.ones((2, 2), bool)]) is None
    fill = np.array([[True, False], [False, True]])
    m = confidence.mosaic({0: np.full((2, 2), 0.5, np.float32)}, [(1, 1, 3, 3)], (4, 4), fills=[fill])
    assert m.sum() == 1.0 and m[1, 1] == m[2, 2] == 0.5
