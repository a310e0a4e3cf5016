"""Qt-free models: the mask (strokes, operations, undo/redo), the history, display conversion."""
from __future__ import annotations

import numpy as np
import pytest

from app.model.display import DisplayConverter, pyramid, to_uint8
from app.model.history import History, Snapshot, SnapshotPolicy
from app.model.mask import MaskModel
from app.model.task import TaskSettings


# ------------------------------------------------------------------------------------ mask
def test_stroke_paints_a_round_capped_line():
    m = MaskModel(100, 80)
    m.begin_stroke(True)
    m.stroke_to(20, 40, 60, 40, radius=5)
    assert m.end_stroke()
    a = m.array
    assert a[40, 20] and a[40, 40] and a[40, 60]          # along the line
    assert a[44, 40] and not a[47, 40]                     # width ~ radius
    assert a[40, 16] and not a[40, 13]                     # round cap beyond the end point
    assert not a[10, 10]
    assert m.can_undo() and not m.can_redo()


def test_eraser_undo_redo_restore_exact_states():
    m = MaskModel(64, 48)
    m.begin_stroke(True)
    m.dab(30, 20, 10)
    m.end_stroke()
    painted = m.array.copy()
    m.begin_stroke(False)
    m.stroke_to(20, 20, 40, 20, 3)
    m.end_stroke()
    erased = m.array.copy()
    assert painted[20, 30] and not erased[20, 30]
    assert erased.sum() < painted.sum()
    assert m.undo() and np.array_equal(m.array, painted)
    assert m.undo() and not m.array.any()
    assert not m.undo()
    assert m.redo() and np.array_equal(m.array, painted)
    assert m.redo() and np.array_equal(m.array, erased)
    assert not m.redo()


def test_new_edit_clears_redo_and_undo_steps_store_only_the_bbox():
    # 4 KB of undo memory on a 3-megapixel mask: a whole-mask step (375 KB packed) would leave
    # room for one step, steps bounded by their stroke keep all 50.
    m = MaskModel(2000, 1500, max_undo_bytes=4096)
    for i in range(50):
        m.begin_stroke(True)
        m.dab(40 * i + 20, 30 * i + 20, 4)
        m.end_stroke()
    assert m.count() > 0
    for _ in range(50):
        assert m.undo()
    assert not m.undo() and not m.array.any()
    m.invert()
    m.invert()                                        # two whole-mask steps: only the newest fits
    assert m.undo() and m.array.all() and not m.undo()
    assert m.can_redo()
    m.begin_stroke(False)                             # an edit that changes pixels drops the redo
    m.dab(5, 5, 2)
    m.end_stroke()
    assert not m.can_redo()


def test_clear_invert_grow_shrink_are_undoable():
    m = MaskModel(50, 40)
    m.begin_stroke(True)
    m.dab(25, 20, 5)
    m.end_stroke()
    base = m.array.copy()
    n = base.sum()
    assert m.grow(3) and m.array.sum() > n and m.array[base].all()
    assert m.undo() and np.array_equal(m.array, base)
    assert m.shrink(2) and 0 < m.array.sum() < n and not m.array[~base].any()
    m.undo()
    assert m.invert() and np.array_equal(m.array, ~base)
    m.undo()
    assert m.clear() and not m.array.any()
    assert not m.clear()                         # nothing changed: no undo step
    m.undo()
    assert np.array_equal(m.array, base)


def test_set_mask_checks_size_and_listeners_get_bboxes():
    m = MaskModel(30, 20)
    seen = []
    m.add_listener(seen.append)
    new = np.zeros((20, 30), bool)
    new[5:8, 10:12] = True
    assert m.set_mask(new)
    assert seen[-1] == (5, 10, 8, 12)
    with pytest.raises(ValueError):
        m.set_mask(np.zeros((10, 10), bool))


def test_stroke_outside_the_photo_is_clipped():
    m = MaskModel(20, 20)
    m.begin_stroke(True)
    assert m.stroke_to(-50, -50, -40, -40, 3) is None
    m.stroke_to(-5, 10, 5, 10, 2)
    assert m.end_stroke()
    assert m.array[10, 0] and m.array[10, 5]


# ------------------------------------------------------------------------------------ history
def _snap(it, final=False):
    return Snapshot(it, 0.1, np.zeros((4, 4, 3), np.float16), (0, 0, 4, 4), final=final)


def test_policy_is_dense_early_and_sparse_late():
    p = SnapshotPolicy(first=10, growth=1.5)
    kept = [i for i in range(1, 3001) if p.wants(i)]
    assert kept[:3] == [10, 15, 23]
    gaps = np.diff(kept)
    assert all(b >= a for a, b in zip(gaps, gaps[1:]))
    assert 12 <= len(kept) <= 20


def test_history_cap_keeps_first_and_newest():
    h = History(cap=8, first=1, growth=1.0001)
    for it in range(1, 40):
        h.add(_snap(it))
    assert len(h) == 8
    its = h.iterations()
    assert its[0] == 1 and its[-1] == 39
    assert its == sorted(its)


def test_history_final_step_replaces_same_iteration():
    h = History()
    h.add(_snap(10))
    h.add(_snap(10, final=True))
    assert len(h) == 1 and h[0].final
    h.clear()
    assert len(h) == 0 and h.wants(10)


# ------------------------------------------------------------------------------------ display
def test_to_uint8_handles_16_bit_and_float():
    a16 = np.array([[0, 257, 65535]], np.uint16)
    assert to_uint8(a16).tolist() == [[0, 1, 255]]
    f = np.array([[0.0, 0.5, 1.0, 2.0]], np.float32)
    assert to_uint8(f).tolist() == [[0, 128, 255, 255]]


def test_converter_gray_and_alpha_and_icc():
    conv = DisplayConverter(None)
    gray = np.full((4, 5, 1), 1000, np.uint16)
    out = conv(gray)
    assert out.shape == (4, 5, 3) and out.dtype == np.uint8
    rgba = conv(np.zeros((2, 2, 4), np.uint8))
    assert rgba.shape == (2, 2, 4)
    from PIL import ImageCms
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    assert not DisplayConverter(srgb).manages_colour          # sRGB already: no conversion
    # a broken profile falls back to showing the numbers, never fails
    broken = DisplayConverter(b"not a profile")
    assert not broken.manages_colour
    assert broken(np.ones((2, 2, 3), np.float32)).max() == 255


def test_pyramid_halves_down_to_min_side():
    levels = pyramid(np.zeros((1000, 1600, 3), np.uint8), min_side=128)
    assert [l.shape[:2] for l in levels] == [(1000, 1600), (500, 800), (250, 400)]


def test_task_settings_round_trip_and_bad_values():
    s = TaskSettings(task="sr", preset="fast", scale=4, iters=100, lr=0.02, channels=16, seed=7, auto_stop=False)
    assert TaskSettings.from_dict(s.to_dict()) == s
    assert s.job_kwargs()["scale"] == 4 and s.job_kwargs()["stop"] == "never"
    assert TaskSettings(task="denoise", scale=4).job_kwargs()["scale"] == 1
    assert TaskSettings.from_dict({"task": "bogus", "scale": "x"}) == TaskSettings()


def test_history_memory_budget_keeps_pictures_but_drops_old_full_resolution():
    h = History(cap=30, max_bytes=3 * 4 * 4 * 3 * 2)      # room for three 4x4x3 float16 images
    for it in (10, 20, 30, 40, 50):
        h.add(_snap(it))
    assert [s.restorable for s in h] == [False, False, True, True, True]
    assert h.nbytes() <= h.max_bytes
    with pytest.raises(ValueError):
        h[0].float_image()
    h.add(_snap(60, final=True))
    assert h[-1].restorable


def test_autosave_session_lock_and_orphans(tmp_path):
    """A session whose process is gone (lock free again) is offered; a live or cleanly ended one is not."""
    import subprocess
    import sys
    from app.model.autosave import Session
    folder = tmp_path / "auto"
    live = Session(folder)
    assert live.start() == []
    live.autosave_path.write_bytes(b"x")
    # a session in another process that is killed without a clean exit
    script = ("import sys, os, signal; from app.model.autosave import Session; s = Session(sys.argv[1]); s.start(); "
              "s.autosave_path.write_bytes(b'y'); open(s.autosave_path.parent / ('.' + s.autosave_path.name + "
              "'.1234.tmp'), 'wb').write(b'half'); os.kill(os.getpid(), signal.SIGKILL)")
    subprocess.run([sys.executable, "-c", script, str(folder)], cwd=str(__import__("tests.conftest").conftest.REPO))
    other = Session(folder)
    orphans = other.start()
    assert len(orphans) == 1 and orphans[0].autosave.read_bytes() == b"y"      # not the live one
    assert not list(folder.glob(".*.tmp"))                                      # half-written temp removed
    orphans[0].discard()
    assert other.orphans() == []
    live.end()
    assert not live.lock_path.exists() and not live.autosave_path.exists()
    assert Session(folder).start() == []                                        # a clean exit leaves nothing
    other.end()
