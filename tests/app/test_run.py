"""Runs of the real engine on a tiny photo through the window and its worker thread."""
from __future__ import annotations

import time

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt

from app.ui.filmstrip import CURRENT, ORIGINAL
from tests.app.conftest import RUN_TIMEOUT, fast_settings, fitting

pytestmark = pytest.mark.timeout(240)


def _run_to_end(qtbot, window):
    with qtbot.waitSignal(window.resultReady, timeout=RUN_TIMEOUT):
        assert window.run.start()
        assert window.runner.busy and not window.actions_["run"].isEnabled()
        assert window.actions_["stop"].isEnabled()


def test_tiny_fit_streams_frames_then_compare_make_result_and_save(window, tiny_photo, qtbot, tmp_path):
    from dip_engine import imageio, restore
    window.files.open_path(tiny_photo)
    fast_settings(window, "denoise", iters=20, preset="draft")   # one fit: its own snapshots and iterations
    frames, progress = [], []
    window.runner.frameReady.connect(frames.append)
    window.runner.progressed.connect(progress.append)
    _run_to_end(qtbot, window)
    assert not window.runner.is_running() and not window.runner.busy
    assert frames and frames[-1].final and frames[-1].display.shape[:2] == (40, 48)
    assert window.run.frames_received == len(frames)
    assert progress[-1].iteration == 20 and progress[-1].done
    assert "20 / 20" in window.run_panel.iter_value.text()
    assert window.run_panel.curve.losses.size >= 1
    assert window.document.result is not None and (window.document.result.width, window.document.result.height) == (48, 40)
    assert window.document.outcome.stopped_by == "iterations"
    msg = window.run_panel.message.text()                  # finished, or kept the original: too early
    assert "Finished all 20 iterations" in msg or "iteration 20" in msg and "original is kept" in msg
    kept = window.document.outcome.progress.kept               # a kept fallback is no iteration: not history
    assert window.document.history.iterations()[0] == 10 and (len(window.document.history) >= 2 or kept)
    assert window.actions_["save"].isEnabled()

    # compare: split view of the original and a snapshot
    snap = window.document.history[0]
    window.compare.set_sources(ORIGINAL, snap)
    window.compare.set_view_mode("split")
    c = window.canvas
    assert c.layers == window.compare.layers_for(ORIGINAL) == [window.compare.base_layer]
    assert c.compare_layers == window.compare.layers_for(snap) and c.compare_layers[-1] is not c.layers[-1]
    assert c.label_a == "Original" and c.label_b == f"Iteration {snap.iteration}"
    # drag the divider
    qtbot.mousePress(c, Qt.MouseButton.LeftButton, pos=QPoint(round(c.split_x()), c.height() // 2))
    qtbot.mouseMove(c, pos=QPoint(c.width() // 4, c.height() // 2))
    qtbot.mouseRelease(c, Qt.MouseButton.LeftButton, pos=QPoint(c.width() // 4, c.height() // 2))
    assert abs(c.split - 0.25) < 0.02
    # the rendered view shows the original left of the divider and the snapshot right of it
    img = window.compare.render()
    y = c.height() // 2
    left = c.to_scene(QPointF(c.width() * 0.2, y))
    right = c.to_scene(QPointF(c.width() * 0.6, y))
    orig = window.document.converter(window.document.photo.data)[int(left.y()), int(left.x())]
    snap_px = snap.display[int(right.y()), int(right.x())]
    lp = img.pixelColor(int(c.width() * 0.2 * img.devicePixelRatio()), int(y * img.devicePixelRatio()))
    rp = img.pixelColor(int(c.width() * 0.6 * img.devicePixelRatio()), int(y * img.devicePixelRatio()))
    assert max(abs(lp.red() - int(orig[0])), abs(lp.green() - int(orig[1]))) <= 3
    assert max(abs(rp.red() - int(snap_px[0])), abs(rp.green() - int(snap_px[1]))) <= 3
    out = tmp_path / "compare.png"
    assert window.files.save_comparison_to(str(out)) and out.stat().st_size > 0

    # side by side with synced zoom and pan
    window.compare.set_sources(ORIGINAL, CURRENT)
    window.compare.set_view_mode("side")
    assert window.canvas2.isVisible() and window.canvas.compare_layers is None
    assert window.canvas2.layers[-1] is window.compare.current_layer
    window.canvas.zoom_by(2.0)
    assert window.canvas2.zoom == window.canvas.zoom and window.canvas2.cx == window.canvas.cx

    # make a snapshot the result (through the action), save it, reload it
    window.compare.set_view_mode("single")
    window.compare.set_sources(ORIGINAL, snap)
    assert window.actions_["make_result"].isEnabled()
    window.actions_["make_result"].trigger()
    assert window.document.result_snapshot is snap and not window.actions_["make_result"].isEnabled()
    expected = restore.compose(window.document.job, snap.float_image(), snap.region)
    assert np.array_equal(window.document.result.data, expected.data)
    path = tmp_path / "result.png"
    assert window.files.save_result_to(str(path))
    again = imageio.load_image(path)
    assert np.array_equal(again.data, window.document.result.data)
    assert window.files.save_result_to(str(path))                # exists: asks; the fixture answers yes
    window.confirm = lambda *a: False                      # ... and "no" leaves the file alone
    before = path.read_bytes()
    assert not window.files.save_result_to(str(path)) and path.read_bytes() == before
    jpg = tmp_path / "result.jpg"
    assert window.files.save_result_to(str(jpg), quality=80)
    assert imageio.load_image(jpg).width == 48
    snap_path = tmp_path / "snap.tif"
    assert window.files.save_snapshot_to(window.document.history[-1], str(snap_path))
    assert imageio.load_image(snap_path).data.shape == (40, 48, 3)


def test_saving_over_the_original_asks_first(window, tiny_photo, qtbot):
    window.files.open_path(tiny_photo)
    fast_settings(window, "denoise", iters=10)
    _run_to_end(qtbot, window)
    original = open(tiny_photo, "rb").read()
    asked = []
    window.confirm = lambda title, text: asked.append(title) or False
    assert not window.files.save_result_to(tiny_photo)
    assert asked and open(tiny_photo, "rb").read() == original
    window.confirm = lambda title, text: True
    assert window.files.save_result_to(tiny_photo)
    from dip_engine import imageio
    assert np.array_equal(imageio.load_image(tiny_photo).data, window.document.result.data)


def test_inpaint_fills_only_the_mask(window, tiny_photo, qtbot):
    window.files.open_path(tiny_photo)
    fast_settings(window, "inpaint", iters=10)
    window.actions_["brush"].trigger()
    c = window.canvas
    c.set_brush_size(8)
    p0 = c.to_widget(QPointF(10, 20))
    p1 = c.to_widget(QPointF(30, 20))
    qtbot.mousePress(c.viewport(), Qt.MouseButton.LeftButton, pos=p0.toPoint())
    qtbot.mouseMove(c.viewport(), pos=p1.toPoint())
    qtbot.mouseRelease(c.viewport(), Qt.MouseButton.LeftButton, pos=p1.toPoint())
    mask = window.document.mask.array.copy()
    assert mask[20, 20] and not mask[2, 2]
    _run_to_end(qtbot, window)
    assert not window.canvas.mask_editable or window.compare.src_b == ORIGINAL
    res, orig = window.document.result.data, window.document.photo.data
    assert np.array_equal(res[~mask], orig[~mask])          # bit-exact outside the mask
    assert not np.array_equal(res[mask], orig[mask])


def test_pause_resume_stop_keeps_a_result_and_no_frame_after(window, tiny_photo, qtbot):
    window.files.open_path(tiny_photo)
    fast_settings(window, "denoise", iters=2000)
    frames_at = []
    window.runner.frameReady.connect(lambda f: frames_at.append(time.monotonic()))
    assert window.run.start()
    qtbot.waitUntil(lambda: fitting(window), timeout=RUN_TIMEOUT)
    tp = window.task_panel
    assert tp.lr_spin.isEnabled() and not tp.iters_spin.isEnabled() and not tp.task_buttons["sr"].isEnabled()
    tp.lr_spin.setValue(0.005)                             # the learning rate may change mid-run
    assert window.runner.control.lr == 0.005
    window.actions_["pause"].trigger()
    assert window.runner.paused and window.actions_["pause"].text() == "Resume"
    qtbot.waitUntil(lambda: window.run_panel.message.text().startswith("Paused"), timeout=5000)
    qtbot.wait(1500)       # let an in-flight step land (slow on a loaded machine)
    it = window.run_panel.iter_value.text()
    qtbot.wait(1500)
    assert window.run_panel.iter_value.text() == it        # nothing advances while paused
    window.actions_["pause"].trigger()
    assert not window.runner.paused
    qtbot.waitUntil(lambda: window.run_panel.iter_value.text() != it, timeout=RUN_TIMEOUT)
    window.actions_["pause"].trigger()                     # stop while paused must still stop
    with qtbot.waitSignal(window.resultReady, timeout=RUN_TIMEOUT):
        window.actions_["stop"].trigger()
    finished_at = time.monotonic()
    assert window.document.result is not None and window.document.outcome.stopped_by == "user"
    assert "Stopped at iteration" in window.run_panel.message.text()
    assert not window.runner.is_running()
    n = len(frames_at)
    qtbot.wait(500)
    assert len(frames_at) == n and all(t <= finished_at for t in frames_at)


def test_closing_during_a_run_asks_then_stops_the_worker(window, tiny_photo, qtbot):
    window.files.open_path(tiny_photo)
    fast_settings(window, "denoise", iters=2000)
    assert window.run.start()
    qtbot.waitUntil(lambda: fitting(window), timeout=RUN_TIMEOUT)
    asked = []
    window.confirm = lambda title, text: asked.append(title) or False
    assert not window.close()                              # "no": keeps running
    assert asked and window.isVisible() and window.runner.busy
    window.confirm = lambda title, text: True
    thread = window.runner._thread
    window.close()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=RUN_TIMEOUT)
    assert not window.runner.busy
    assert thread is None or not thread.isRunning()


def test_quitting_during_a_run_ends_its_thread_without_waiting_out_the_timeout(window, tiny_photo, qtbot):
    # At quit the GUI thread blocks in shutdown() until the run's thread ends: that thread must
    # quit by itself, not through a call queued to the blocked GUI thread (which waited 60 s).
    window.files.open_path(tiny_photo)
    fast_settings(window, "denoise", iters=2000)
    assert window.run.start()
    qtbot.waitUntil(lambda: fitting(window), timeout=RUN_TIMEOUT)
    assert window.runner.shutdown(ms=20000)                # False: still running when it gave up
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=5000)
    assert window.document.outcome.stopped_by == "user"


def test_an_exception_inside_the_run_is_one_line_and_the_app_keeps_working(window, tiny_photo, qtbot):
    window.files.open_path(tiny_photo)
    fast_settings(window, "denoise", iters=10)

    def broken(job, control):
        yield from ()
        raise RuntimeError("CUDA error: device-side assert triggered\nlong details")

    def oom(job, control):
        raise MemoryError()
        yield

    for fn, needle in ((broken, "device-side assert"), (oom, "Out of memory")):
        window.runner._run_fn = fn
        with qtbot.waitSignal(window.runner.failed, timeout=RUN_TIMEOUT):
            assert window.run.start()
        msg = window.banner.message()
        assert needle in msg and "\n" not in msg and "Traceback" not in msg
        assert not window.runner.busy and window.actions_["run"].isEnabled()
    window.runner._run_fn = None
    _run_to_end(qtbot, window)
    assert window.document.result is not None


def test_super_resolution_result_is_larger_and_drawn_over_the_photo(window, tiny_photo, qtbot):
    window.files.open_path(tiny_photo)
    fast_settings(window, "sr", iters=10)
    tp = window.task_panel
    tp.scale_combo.setCurrentIndex(tp.scale_combo.findData(2))
    _run_to_end(qtbot, window)
    assert (window.document.result.width, window.document.result.height) == (96, 80)
    layer = window.compare.current_layer
    assert layer.width == 96 and layer.scene_rect.width() == 48    # output pixels over photo coordinates
    window.actions_["actual"].trigger()
    assert window.canvas.zoom == 2.0                                 # 100 % of the result's own pixels
