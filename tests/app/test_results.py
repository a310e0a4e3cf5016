"""What a run hands back and how the window tells it (issue 13): unsaved results are asked
about, the kept fallback is said plainly and saved, one iteration numbering, an ETA range, a
steady canvas, SR sizes and zoom, and a brush ready for Inpaint.

Most runs here are scripted streams of real engine `Step` records (the fields the engine
documents), so each case is exact and quick; the worker, window and widgets are the real ones.
"""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent, QImage
from PySide6.QtWidgets import QApplication

from app.ui.canvas import TOOL_BRUSH, TOOL_PAN
from app.ui.filmstrip import ORIGINAL
from tests.app.conftest import RUN_TIMEOUT, fast_settings

pytestmark = pytest.mark.timeout(240)


def _step(job, it, total, image=None, *, done=False, stopped_by=None, extra=None, **fields):
    """An engine Step over the whole photo; `fields` are set as attributes (progress, eta_range,
    usable, result_iteration), as the engine sets them."""
    from dip_engine import restore
    from dip_engine.fit import Step
    h, w = job.photo.pixels.shape[:2]
    s = Step(it, total, 0.05 / (1 + it), 0.1 * it, 0.1, 0.1 * (total - it), image, done=done,
             stopped_by=stopped_by)
    s.region = (0, 0, h, w)
    s.extra = dict(extra or {})
    for k, v in fields.items():
        setattr(s, k, v)
    if done:
        s.result = restore.compose(job, image, s.region)
    return s


def _blurred(job, k: float = 0.5) -> np.ndarray:
    px = job.photo.pixels
    return np.clip(px * (1 - k) + px.mean() * k, 0, 1).astype(np.float32)


def _scripted(window, fn):
    window.runner._run_fn = lambda job, control, **kw: fn(job, control)


def _run_scripted(qtbot, window, fn):
    _scripted(window, fn)
    with qtbot.waitSignal(window.resultReady, timeout=RUN_TIMEOUT):
        assert window.run.start()


def _finished_run(job, control):
    yield _step(job, 5, 10, _blurred(job, 0.3))
    yield _step(job, 10, 10, _blurred(job, 0.1), done=True, stopped_by="iterations", result_iteration=10)


def _drop(window, path):
    md = QMimeData()
    md.setUrls([QUrl.fromLocalFile(path)])
    ev = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, md, Qt.MouseButton.LeftButton,
                    Qt.KeyboardModifier.NoModifier)
    window.canvas.dropEvent(ev)      # offscreen Qt routes a Drop only to a platform drag's target


# ------------------------------------------------------------------ item 5: unsaved results
def test_every_way_of_opening_a_photo_asks_before_an_unsaved_result_is_lost(window, tiny_photo, big_photo, qtbot):
    window.files.open_path(big_photo)
    window.files.open_path(tiny_photo)                      # both in Open Recent
    fast_settings(window, "denoise")
    _run_scripted(qtbot, window, _finished_run)
    result = window.document.result
    assert result is not None and window.actions_["save"].isEnabled()
    asked = []
    window.confirm = lambda title, text: asked.append((title, text)) or False

    assert not window.files.open_path(big_photo)                                  # Open… and the command line
    assert asked[-1][0] == "Open another photo" and "not saved" in asked[-1][1]
    _drop(window, big_photo)                                                # drag and drop
    assert len(asked) == 2
    recent = [a for a in window.files.recent_menu.actions() if a.text().endswith("big.png")]
    recent[0].trigger()                                                     # File > Open Recent
    assert len(asked) == 3
    QApplication.clipboard().setImage(QImage(big_photo))
    window.actions_["paste"].trigger()                                      # Ctrl+V of a picture
    assert len(asked) == 4 and asked[-1][0] == "Paste a photo"
    assert window.document.result is result and window.document.photo.width == 48            # "no" kept everything

    window.confirm = lambda title, text: asked.append((title, text)) or True
    _drop(window, big_photo)
    assert len(asked) == 5 and window.document.photo.width == 400 and window.document.result is None
    assert window.files.open_path(tiny_photo) and len(asked) == 5                 # nothing unsaved: no question


# ------------------------------------------------------------------ item 6: SR sizes and zoom
def test_after_super_resolution_the_size_and_zoom_are_the_outputs(window, tiny_photo, qtbot):
    window.files.open_path(tiny_photo)
    fast_settings(window, "sr", iters=10)
    tp = window.task_panel
    tp.scale_combo.setCurrentIndex(tp.scale_combo.findData(2))
    with qtbot.waitSignal(window.resultReady, timeout=RUN_TIMEOUT):
        assert window.run.start()
    assert (window.document.result.width, window.document.result.height) == (96, 80)
    assert window.info_label.text().startswith("96 × 80")
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert window.zoom_label.text() == "100 %"
    assert window.canvas.zoom == 2.0                          # one screen pixel per output pixel
    window.filmstrip.setCurrentRow(window.filmstrip.row_of(ORIGINAL))   # look at the photo again
    assert window.info_label.text().startswith("48 × 40")
    assert window.zoom_label.text() == "200 %"
    qtbot.keyClick(window.canvas, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert window.zoom_label.text() == "100 %" and window.canvas.zoom == 1.0


# ------------------------------------------------------------------ item 7: steady canvas, brush
def test_the_photo_keeps_its_place_when_the_history_and_banners_appear(window, big_photo, tmp_path, qtbot):
    window.files.open_path(big_photo)
    fast_settings(window, "denoise")
    qtbot.wait(50)
    c = window.canvas
    view = (c.size(), c.zoom, c.cx, c.cy)
    gate = threading.Event()

    def run(job, control):
        yield _step(job, 0, 40, job.photo.pixels.copy(), usable=False)
        for it in range(1, 41):
            yield _step(job, it, 40, _blurred(job, 0.5 - it / 100) if it % 10 == 0 else None)
            if it == 20:
                gate.wait(30)
        yield _step(job, 40, 40, _blurred(job, 0.1), done=True, stopped_by="iterations", result_iteration=40)

    _scripted(window, run)
    with qtbot.waitSignal(window.resultReady, timeout=RUN_TIMEOUT):
        assert window.run.start()
        qtbot.waitUntil(lambda: len(window.document.history) >= 2, timeout=RUN_TIMEOUT)
        assert window.filmstrip.isVisible() and window.compare_bar.isVisible()
        assert (c.size(), c.zoom, c.cx, c.cy) == view                  # strip, bar and live frames
        gate.set()
    assert window.banner.isVisible() and "Finished all 40 iterations" in window.banner.message()
    assert (c.size(), c.zoom, c.cx, c.cy) == view                      # the finishing banner
    window.banner.dismiss()
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    window.document.mark_saved()
    assert not window.files.open_path(str(bad)) and window.banner.kind == "error"
    assert (c.size(), c.zoom, c.cx, c.cy) == view                      # an error banner


def test_choosing_inpaint_readies_a_brush_sized_to_the_photo(window, big_photo, tiny_photo, qtbot, settings):
    window.files.open_path(big_photo)                                          # 400 x 300
    window.task_panel.task_buttons["denoise"].click()
    assert window.canvas.tool == TOOL_PAN
    window.task_panel.task_buttons["inpaint"].click()
    c = window.canvas
    assert c.tool == TOOL_BRUSH and window.actions_["brush"].isChecked()
    assert c.brush_size == 6 and window.mask_panel.size_spin.value() == 6   # 2 % of the shorter side
    p0, p1 = c.to_widget(QPointF(100, 150)), c.to_widget(QPointF(200, 150))
    qtbot.mousePress(c, Qt.MouseButton.LeftButton, pos=p0.toPoint())     # paints at once, no P first
    qtbot.mouseMove(c, pos=p1.toPoint())
    qtbot.mouseRelease(c, Qt.MouseButton.LeftButton, pos=p1.toPoint())
    m = window.document.mask.array
    assert m[150, 150] and not m[150 + 5, 150]
    window.files.open_path(tiny_photo)                                         # 48 x 40: small, but usable
    assert c.brush_size == 3
    window.mask_panel.size_spin.setValue(10)                             # a quarter of this photo's side
    window.files.open_path(big_photo)
    assert c.brush_size == 75                                            # ... kept as a share


# ------------------------------------------------------------------ item 4: one numbering
def test_result_filmstrip_chart_and_counter_share_one_numbering(window, tiny_photo, qtbot):
    window.files.open_path(tiny_photo)
    fast_settings(window, "denoise", auto_stop=True)
    axis_vs_counter = []

    def check(_p):
        counter = int(window.run_panel.iter_value.text().split("/")[0].replace(",", ""))
        axis_vs_counter.append((window.run_panel.curve.axis_end(), counter))

    window.runner.progressed.connect(check)

    def run(job, control):
        for it in range(1, 392):
            yield _step(job, it, 1500, _blurred(job, 0.4 * (1 - it / 400)) if it % 10 == 0 else None,
                        peak_iteration=140 if it > 140 else None)
        yield _step(job, 391, 1500, _blurred(job, 0.05), done=True, stopped_by="auto", peak_iteration=140,
                    result_iteration=150)

    _run_scripted(qtbot, window, run)
    texts = [window.filmstrip.item(i).text() for i in range(window.filmstrip.count())]
    assert "150 ✓" in texts and "391 ✓" not in texts
    assert texts.index("120") < texts.index("150 ✓") < texts.index("180")   # in iteration order
    assert window.compare_bar.b_combo.currentText() == "Result (iteration 150)"
    assert window.canvas.label_a == "Result (iteration 150)"
    msg = window.run_panel.message.text()
    assert "the result is iteration 150" in msg and "391" in msg
    tip = window.run_panel.message.toolTip()
    assert "iteration 150" in tip and "the same in the counter, the loss chart, the history" in tip
    result_item = window.filmstrip.item(window.filmstrip.count() - 1)
    assert result_item.text() == "Result" and result_item.toolTip() == tip
    curve = window.run_panel.curve
    assert (curve.peak, curve.peak_label) == (150, "result")
    assert axis_vs_counter and all(a == n for a, n in axis_vs_counter)     # never ahead of the counter
    assert curve.axis_end() == 391 and window.run_panel.iter_value.text().startswith("391 /")


# ------------------------------------------------------------------ item 3: progress and ETA
def test_progress_bar_follows_the_engines_fraction_and_the_eta_is_a_range(window, tiny_photo, qtbot):
    window.files.open_path(tiny_photo)
    fast_settings(window, "denoise")
    gates = [threading.Event(), threading.Event()]

    def run(job, control):
        yield _step(job, 0, 1500, job.photo.pixels.copy(), progress=0.0, eta_range=(200.0, 400.0), usable=False)
        yield _step(job, 100, 6000, _blurred(job), progress=0.25, eta_range=(130.0, 235.0), usable=False)
        gates[0].wait(30)
        yield _step(job, 200, 4501, _blurred(job, 0.2), progress=0.2, eta_range=(20.0, 50.0), usable=True)
        gates[1].wait(30)
        yield _step(job, 300, 4501, _blurred(job, 0.1), done=True, stopped_by="user", progress=1.0,
                    result_iteration=300)

    rp = window.run_panel
    _scripted(window, run)
    with qtbot.waitSignal(window.resultReady, timeout=RUN_TIMEOUT):
        assert window.run.start()
        qtbot.waitUntil(lambda: rp.iter_value.text().startswith("100 /"), timeout=RUN_TIMEOUT)
        assert rp.bar.value() / rp.bar.maximum() == 0.25                  # the engine's fraction, not 100/6000
        assert rp.eta_value.text() == "about 2–4 min"
        assert rp.phase.isVisible() and "Stopping now keeps the original" in rp.phase.text()
        gates[0].set()
        qtbot.waitUntil(lambda: rp.iter_value.text().startswith("200 /"), timeout=RUN_TIMEOUT)
        assert rp.bar.value() / rp.bar.maximum() == 0.25                  # never backwards
        assert rp.eta_value.text() == "about 20–50 s"
        assert not rp.phase.isVisible()                                   # usable: the hint goes
        gates[1].set()
    assert rp.eta_value.text() == "done" and rp.bar.value() == rp.bar.maximum()


def test_eta_ranges_read_as_a_person_would_say_them():
    from app.ui.panels import fmt_eta_range
    assert fmt_eta_range(130, 235) == "about 2–4 min"
    assert fmt_eta_range(20, 150) == "under 3 min"
    assert fmt_eta_range(12, 41) == "about 10–45 s"
    assert fmt_eta_range(180, 180) == "about 3 min"
    assert fmt_eta_range(2 * 3600, 3 * 3600) == "about 2–3 h"


# ------------------------------------------------------------------ item 2: kept fallbacks
def test_a_run_stopped_too_early_says_so_and_saves_the_original(window, tiny_photo, qtbot, tmp_path):
    from dip_engine import imageio
    window.files.open_path(tiny_photo)
    fast_settings(window, "denoise")
    gate = threading.Event()
    said = "Stopped at iteration 45: too early to be useful; the original is kept."

    def run(job, control):
        yield _step(job, 0, 1500, job.photo.pixels.copy(), usable=False)
        for it in range(1, 46):
            yield _step(job, it, 1500, np.random.default_rng(it).random(job.photo.pixels.shape, np.float32)
                        if it % 10 == 0 else None, usable=False)
        gate.wait(30)
        yield _step(job, 45, 1500, job.photo.pixels.copy(), done=True, stopped_by="user", usable=False,
                    result_iteration=0, extra={"kept": "original", "kept_message": said})

    _scripted(window, run)
    with qtbot.waitSignal(window.resultReady, timeout=RUN_TIMEOUT):
        assert window.run.start()
        qtbot.waitUntil(lambda: window.run.frame is not None, timeout=RUN_TIMEOUT)
        window.actions_["stop"].trigger()
        gate.set()
    assert window.banner.message().startswith(said) and window.banner.kind != "success"
    assert window.run_panel.message.text() == said
    assert window.canvas.label_a == "Result (original kept)"
    out = tmp_path / "saved.png"
    assert window.files.save_result_to(str(out))                                 # what Ctrl+S writes
    assert np.array_equal(imageio.load_image(out).data, window.document.photo.data)


def test_a_tiled_run_stopped_part_way_names_the_parts_that_kept_the_input(window, big_photo, qtbot):
    window.files.open_path(big_photo)
    fast_settings(window, "denoise")

    def run(job, control):
        img = job.photo.pixels.copy()
        img[:150, :200] = _blurred(job)[:150, :200]
        yield _step(job, 700, 6000, img, extra={"part": 1, "parts": 4})
        yield _step(job, 700, 6000, img, done=True, stopped_by="user", result_iteration=700,
                    extra={"part": 1, "parts": 4, "unfinished_parts": [2, 3], "kept": None})

    _run_scripted(qtbot, window, run)
    msg = window.banner.message()
    assert "Parts 3–4 of 4 kept the input" in msg and window.banner.kind != "success"

    said = "Stopped at iteration 700: too early to be useful; the original is kept in parts 3, 4 of 4."

    def kept(job, control):                     # the engine's own sentence names the parts: said once
        img = job.photo.pixels.copy()
        yield _step(job, 700, 6000, img, done=True, stopped_by="user", extra={
            "part": 1, "parts": 4, "unfinished_parts": [2, 3], "kept": "original", "kept_message": said})

    window.document.mark_saved()
    _run_scripted(qtbot, window, kept)
    assert window.run_panel.message.text() == said
    assert window.canvas.label_a == "Result (original kept in parts 3–4 of 4)"


def test_the_live_view_starts_from_the_engines_preview(window, tiny_photo, qtbot):
    window.files.open_path(tiny_photo)
    fast_settings(window, "sr")
    gate = threading.Event()

    def run(job, control):
        from dip_engine import restore
        w, h = restore.output_size(job)
        import cv2
        lanczos = cv2.resize(job.photo.pixels, (w, h), interpolation=cv2.INTER_LANCZOS4)
        yield _step(job, 0, 600, lanczos, usable=False)
        gate.wait(30)
        yield _step(job, 1, 600, lanczos, done=True, stopped_by="user", result_iteration=0,
                    extra={"kept": "lanczos"})

    _scripted(window, run)
    with qtbot.waitSignal(window.resultReady, timeout=RUN_TIMEOUT):
        assert window.run.start()
        qtbot.waitUntil(lambda: window.run.frame is not None, timeout=RUN_TIMEOUT)
        assert window.run.frame.iteration == 0 and window.canvas.layers[-1] is window.compare.current_layer
        assert window.canvas.label_a == "Starting point: the Lanczos upscale"
        assert window.run_panel.curve.losses.size == 0                    # a preview is not a fitted loss
        gate.set()
    assert "the Lanczos upscale is kept" in window.banner.message()


def test_the_real_engines_first_frame_is_the_photo_not_noise(window, tiny_photo, qtbot):
    window.files.open_path(tiny_photo)
    fast_settings(window, "denoise", iters=30)
    frames = []
    window.runner.frameReady.connect(frames.append)
    with qtbot.waitSignal(window.resultReady, timeout=RUN_TIMEOUT):
        assert window.run.start()
    first = frames[0]
    assert first.iteration == 0
    assert np.array_equal(first.display, window.document.converter(window.document.photo.data))


def test_live_frames_reach_the_screen_at_most_15_times_a_second(window, tiny_photo, qtbot):
    """A fast stream is thinned on the GUI side: the first frame at once, then one per ~66 ms,
    and the last frame always."""
    window.files.open_path(tiny_photo)
    fast_settings(window, "denoise", iters=10)

    def fast_stream(job, control):
        for it in range(1, 150):
            time.sleep(0.004)
            yield _step(job, it, 150, _blurred(job, 0.5))
        yield _step(job, 150, 150, _blurred(job, 0.1), done=True, stopped_by="iterations", result_iteration=150)

    shown = []
    window.runner.frameReady.connect(lambda f: shown.append((time.monotonic(), f.iteration)))
    _run_scripted(qtbot, window, fast_stream)
    assert shown[-1][1] == 150 and shown[0][1] < 20
    span = shown[-2][0] - shown[0][0]               # the last frame comes as the run ends, unthrottled
    assert 3 <= len(shown) and len(shown) - 2 <= span / 0.066 + 1
