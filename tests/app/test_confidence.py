"""The confidence overlay: off by default, toggled from the View menu, drawn (with its legend)
over the live view, a snapshot and the result; kept in the project; inpainting, which the engine
gives no map, says so instead of drawing anything."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPointF
from PySide6.QtGui import QImage

from app.model import confidence as conf_view
from tests.app.conftest import RUN_TIMEOUT, fast_settings, fitting, reopened

MASK = (14, 16, 24, 30)        # top, left, bottom, right of the fill


def checker_photo(path, w=48, h=40):
    """A texture a 1-px blur cannot keep, so a few dozen iterations beat the classical fill."""
    yy, xx = np.mgrid[0:h, 0:w]
    chk = ((xx // 2 + yy // 2) % 2) * 200 + 30
    Image.fromarray(np.stack([chk, xx * 255 // (w - 1), yy * 255 // (h - 1)], 2).astype(np.uint8)).save(path)
    return str(path)


def noisy_photo(path, w=48, h=40):
    """Smooth colours with strong noise: denoising beats the photo itself within ~50 iterations."""
    yy, xx = np.mgrid[0:h, 0:w]
    smooth = np.stack([xx * 255 // (w - 1), yy * 255 // (h - 1), (xx + yy) * 2], 2).astype(np.float64)
    noisy = smooth + np.random.default_rng(0).normal(0, 25, smooth.shape)
    Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(path)
    return str(path)


def paint_mask(window):
    m = np.zeros((40, 48), bool)
    t, l, b, r = MASK
    m[t:b, l:r] = True
    window.document.mask.set_mask(m, "test")


def pixels(widget) -> np.ndarray:
    img = widget.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    a = np.frombuffer(img.constBits(), np.uint8, img.sizeInBytes()).reshape(img.height(), img.bytesPerLine())
    return a[:, :img.width() * 3].reshape(img.height(), img.width(), 3).copy()


def photo_box(canvas, t, l, b, r, inset=1.0):
    """Widget pixel box of photo pixels (t, l, b, r), shrunk by `inset` photo pixels."""
    p0 = canvas.to_widget(QPointF(l + inset, t + inset))
    p1 = canvas.to_widget(QPointF(r - inset, b - inset))
    return slice(int(p0.y()), int(p1.y())), slice(int(p0.x()), int(p1.x()))


def legend_box(canvas):
    return slice(canvas.height() - 40, canvas.height() - 14), slice(canvas.width() - 120, canvas.width() - 20)


def toggled(window, qtbot):
    """Pixels of the main canvas with the overlay off, on, and off again (via its action)."""
    act = window.actions_["show_confidence"]
    assert not act.isChecked()
    off = pixels(window.canvas)
    act.trigger()
    qtbot.wait(10)
    on = pixels(window.canvas)
    act.trigger()
    qtbot.wait(10)
    return off, on, pixels(window.canvas)


def assert_overlay(window, off, on, again):
    c = window.canvas
    photo = photo_box(c, 0, 0, 40, 48, inset=12)       # the photo, clear of the legend's corner
    legend = legend_box(c)
    assert np.abs(on[photo].astype(int) - off[photo]).mean() > 5     # the colour scale over the picture
    assert np.abs(on[legend].astype(int) - off[legend]).mean() > 5   # the legend is drawn
    assert np.array_equal(again, off)                                 # off again: exactly as before


@pytest.fixture
def denoise_run(window, tmp_path):
    window.files.open_path(noisy_photo(tmp_path / "noisy.png"))
    fast_settings(window, "denoise", iters=70, channels=8)
    return window


def test_overlay_is_off_by_default_and_in_the_view_menu(window):
    act = window.actions_["show_confidence"]
    assert act.isCheckable() and not act.isChecked() and act.shortcut().toString() == "C"
    view = next(m for m in window.menuBar().actions() if m.text() == "&View").menu()
    assert act in view.actions()
    assert window.canvas.legend is None


def test_overlay_on_the_live_view_a_snapshot_and_the_result_and_in_the_project(denoise_run, qtbot, tmp_path,
                                                                               settings):
    w = denoise_run
    w.run.start()
    # live: pause once fitted frames with a map arrive, then toggle
    qtbot.waitUntil(lambda: fitting(w) and w.run.frame.confidence is not None, timeout=RUN_TIMEOUT)
    w.run.toggle_pause()
    qtbot.waitUntil(lambda: w.document.run_state == "paused", timeout=RUN_TIMEOUT)
    qtbot.wait(300)                                    # the last frames before the pause are drained
    assert_overlay(w, *toggled(w, qtbot))
    w.run.toggle_pause()
    qtbot.waitUntil(lambda: not w.runner.busy, timeout=RUN_TIMEOUT)
    doc = w.document
    assert doc.result is not None and doc.confidence is not None, "the fit should beat the noisy photo by 70"
    assert doc.confidence.shape == (40, 48) and doc.confidence.min() > 0
    # the result
    assert_overlay(w, *toggled(w, qtbot))
    # a snapshot of the history
    snap = next(s for s in doc.history if s.confidence is not None and not s.final)
    w.compare.show_key(snap)
    assert_overlay(w, *toggled(w, qtbot))
    # the original has no map: the legend says so, nothing is drawn over the photo
    w.compare.show_key("original")
    off = pixels(w.canvas)
    w.actions_["show_confidence"].trigger()
    assert w.canvas.legend is False and w.canvas.legend_note == conf_view.NO_MAP
    on = pixels(w.canvas)
    box = photo_box(w.canvas, 0, 0, 40, 48, inset=12)
    assert np.array_equal(on[box], off[box])
    w.actions_["show_confidence"].trigger()
    assert w.canvas.legend is None
    # the project keeps the result's map; the reopened result shows it
    with reopened(w, tmp_path / "c.dipproj", settings, qtbot) as other:
        assert np.allclose(other.document.confidence, doc.confidence, atol=1e-6)
        mapped = [(s.iteration, s.confidence) for s in doc.history if s.confidence is not None]
        again = [(s.iteration, s.confidence) for s in other.document.history if s.confidence is not None]
        assert mapped and [i for i, _ in again] == [i for i, _ in mapped]     # snapshots keep their maps
        assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(again, mapped))
        other.compare.show_key("current")
        assert other.canvas.label_a.startswith("Result")
        off = pixels(other.canvas)
        other.actions_["show_confidence"].trigger()
        on = pixels(other.canvas)
        box = photo_box(other.canvas, 0, 0, 40, 48, inset=12)
        assert np.abs(on[box].astype(int) - off[box]).mean() > 5


def test_inpainting_has_no_map_and_says_so(window, tmp_path, qtbot):
    window.files.open_path(checker_photo(tmp_path / "checker.png"))
    fast_settings(window, "inpaint", iters=6, channels=8)
    paint_mask(window)
    window.run.start()
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=RUN_TIMEOUT)
    window.compare.show_key("current")
    off = pixels(window.canvas)
    window.actions_["show_confidence"].trigger()
    on = pixels(window.canvas)
    assert window.canvas.legend is False and window.canvas.legend_note == conf_view.NO_MAP_INPAINT
    fill = photo_box(window.canvas, *MASK)
    assert np.array_equal(on[fill], off[fill])
