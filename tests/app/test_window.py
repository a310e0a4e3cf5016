"""The main window without running a fit: open, paint, erase, undo, brush keys, errors, settings."""
from __future__ import annotations

import numpy as np
from PIL import Image
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QImage, QKeySequence, QWheelEvent
from PySide6.QtWidgets import QApplication, QFileDialog

from app.ui.canvas import TOOL_BRUSH, TOOL_ERASER
from tests.app.test_open_formats import drop


def _pt(canvas, x, y) -> QPoint:
    p = canvas.to_widget(QPointF(x, y))
    return QPoint(round(p.x()), round(p.y()))


def _stroke(qtbot, canvas, points):
    vp = canvas.viewport()
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, pos=_pt(canvas, *points[0]))
    for x, y in points[1:]:
        qtbot.mouseMove(vp, pos=_pt(canvas, x, y))
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, pos=_pt(canvas, *points[-1]))


def test_starts_empty_then_opens_a_file(window, tiny_photo):
    assert window.document.photo is None and not window.canvas.has_scene()
    assert not window.actions_["run"].isEnabled()
    assert window.files.open_path(tiny_photo)
    assert (window.document.photo.width, window.document.photo.height) == (48, 40)
    assert window.canvas.has_scene() and window.canvas.layers
    assert "tiny.png" in window.windowTitle()
    assert window.files.recent[0].endswith("tiny.png")
    assert window.files.recent_menu.actions()[0].text().endswith("tiny.png")
    assert window.actions_["run"].isEnabled()
    assert "48 × 40" in window.info_label.text()


def test_open_through_menu_action_and_shortcuts(window, tiny_photo, monkeypatch):
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (tiny_photo, ""))
    assert window.actions_["open"].shortcut() == QKeySequence(QKeySequence.StandardKey.Open)
    assert window.actions_["save"].shortcut() == QKeySequence(QKeySequence.StandardKey.Save)
    window.actions_["open"].trigger()
    assert window.document.photo is not None and window.document.path.endswith("tiny.png")


def test_drop_and_paste_open_photos(window, tiny_photo, big_photo):
    drop(window, big_photo)
    assert window.document.photo is not None and window.document.photo.width == 400
    img = QImage(tiny_photo)
    QApplication.clipboard().setImage(img)
    window.actions_["paste"].trigger()
    assert (window.document.photo.width, window.document.photo.height) == (48, 40)
    assert window.document.name == "Pasted image" and window.document.path is None


def test_paint_erase_undo_redo_with_real_mouse_events(window, big_photo, qtbot):
    window.files.open_path(big_photo)
    window.task_panel.task_buttons["inpaint"].click()
    window.actions_["brush"].trigger()
    c = window.canvas
    assert c.tool == TOOL_BRUSH and c.painting_tool()
    c.set_brush_size(20)
    _stroke(qtbot, c, [(100, 150), (150, 150), (200, 150)])
    m = window.document.mask.array
    assert m[150, 100] and m[150, 150] and m[150, 200]
    assert m[150 + 6, 150] and not m[150 + 16, 150]
    assert not m[50, 50] and not m[150, 260]
    painted = m.copy()
    assert window.actions_["undo"].isEnabled()
    assert "painted" not in window.mask_panel.info.text()

    window.actions_["eraser"].trigger()
    assert c.tool == TOOL_ERASER
    _stroke(qtbot, c, [(150, 130), (150, 170)])
    m = window.document.mask.array
    assert not m[150, 150] and m[150, 100] and m[150, 200]

    window.actions_["undo"].trigger()
    assert np.array_equal(window.document.mask.array, painted)
    window.actions_["redo"].trigger()
    assert not window.document.mask.array[150, 150]
    window.actions_["undo"].trigger()
    window.actions_["undo"].trigger()
    assert not window.document.mask.array.any()
    assert not window.actions_["undo"].isEnabled() and window.actions_["redo"].isEnabled()
    assert window.actions_["undo"].shortcut() == QKeySequence(QKeySequence.StandardKey.Undo)
    assert QKeySequence("Ctrl+Shift+Z") in window.actions_["redo"].shortcuts()


def test_bracket_keys_and_alt_wheel_change_the_brush(window, big_photo, qtbot, settings):
    window.files.open_path(big_photo)
    window.actions_["brush"].trigger()
    c = window.canvas
    c.set_brush_size(40)
    c.setFocus()
    qtbot.keyClick(c, Qt.Key.Key_BracketRight)
    assert c.brush_size == 48
    assert window.mask_panel.size_spin.value() == 48
    qtbot.keyClick(c, Qt.Key.Key_BracketLeft)
    qtbot.keyClick(c, Qt.Key.Key_BracketLeft)
    assert c.brush_size < 40
    small = c.brush_size
    ev = QWheelEvent(QPointF(100, 100), c.mapToGlobal(QPointF(100, 100)), QPoint(0, 0), QPoint(120, 0),
                     Qt.MouseButton.NoButton, Qt.KeyboardModifier.AltModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(c, ev)
    assert c.brush_size > small
    assert float(settings.value("brush/size")) == c.brush_size
    window.mask_panel.size_spin.setValue(77)
    assert c.brush_size == 77


def test_zoom_pan_and_peek(window, big_photo, qtbot):
    window.files.open_path(big_photo)
    c = window.canvas
    fit_zoom = c.zoom
    window.actions_["actual"].trigger()
    assert c.zoom == 1.0
    ev = QWheelEvent(QPointF(200, 200), c.mapToGlobal(QPointF(200, 200)), QPoint(0, 0), QPoint(0, 120),
                     Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(c, ev)
    assert c.zoom > 1.1
    cx = c.cx
    qtbot.mousePress(c, Qt.MouseButton.MiddleButton, pos=QPoint(300, 300))
    qtbot.mouseMove(c, pos=QPoint(340, 300))
    qtbot.mouseRelease(c, Qt.MouseButton.MiddleButton, pos=QPoint(340, 300))
    assert c.cx < cx
    window.actions_["fit"].trigger()
    assert abs(c.zoom - fit_zoom) < 1e-6
    c.setFocus()
    qtbot.keyPress(c, Qt.Key.Key_Tab)
    assert c.peek
    qtbot.keyRelease(c, Qt.Key.Key_Tab)
    assert not c.peek
    qtbot.keyPress(c, Qt.Key.Key_Backslash)
    assert c.peek
    qtbot.keyRelease(c, Qt.Key.Key_Backslash)
    assert not c.peek


def test_overlay_opacity_show_hide_and_mask_ops(window, big_photo, qtbot):
    window.files.open_path(big_photo)
    window.task_panel.task_buttons["inpaint"].click()
    window.actions_["brush"].trigger()
    window.mask_panel.opacity_slider.setValue(30)
    assert abs(window.canvas.mask_opacity - 0.30) < 1e-6
    assert window.canvas.mask_visible
    window.actions_["show_mask"].trigger()
    assert not window.canvas.mask_visible
    window.actions_["show_mask"].trigger()
    assert window.canvas.mask_visible
    window.canvas.set_brush_size(30)
    _stroke(qtbot, window.canvas, [(200, 150)])
    n = window.document.mask.count()
    assert n > 0 and "pixels to fill" in window.mask_panel.info.text()
    window.mask_panel.grow_spin.setValue(5)
    window.actions_["grow_mask"].trigger()
    assert window.document.mask.count() > n
    window.actions_["shrink_mask"].trigger()
    window.actions_["shrink_mask"].trigger()
    assert window.document.mask.count() < n
    window.actions_["invert_mask"].trigger()
    assert window.document.mask.count() > 400 * 300 // 2
    window.actions_["clear_mask"].trigger()
    assert window.document.mask.count() == 0
    window.actions_["undo"].trigger()
    assert window.document.mask.count() > 400 * 300 // 2


def test_mask_png_round_trip(window, big_photo, qtbot, tmp_path):
    window.files.open_path(big_photo)
    window.task_panel.task_buttons["inpaint"].click()
    window.actions_["brush"].trigger()
    window.canvas.set_brush_size(25)
    _stroke(qtbot, window.canvas, [(50, 50), (120, 90)])
    saved = window.document.mask.array.copy()
    path = tmp_path / "mask.png"
    assert window.masks.save(str(path))
    png = np.asarray(Image.open(path))
    assert png.dtype == np.uint8 and set(np.unique(png)) <= {0, 255}
    assert np.array_equal(png.reshape(png.shape[0], png.shape[1], -1)[..., 0] == 255, saved)
    window.actions_["clear_mask"].trigger()
    assert window.masks.load(str(path))
    assert np.array_equal(window.document.mask.array, saved)
    window.actions_["undo"].trigger()                 # loading is one undo step
    assert not window.document.mask.array.any()


def test_corrupt_file_shows_a_message_and_the_app_keeps_working(window, tmp_path, tiny_photo):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    assert not window.files.open_path(str(bad))
    assert window.banner.isVisible() and window.banner.kind == "error"
    text = window.banner.message()
    assert "broken.jpg" in text and "\n" not in text and "Traceback" not in text
    assert QApplication.activeModalWidget() is None
    assert window.document.photo is None
    assert not window.files.open_path(str(tmp_path / "missing.png"))
    assert "missing.png" in window.banner.message()
    assert window.files.open_path(tiny_photo)                 # still works
    assert not window.banner.isVisible()


def test_inpaint_needs_a_mask_message(window, tiny_photo):
    window.files.open_path(tiny_photo)
    window.task_panel.task_buttons["inpaint"].click()
    assert not window.run.start()
    assert "mask" in window.banner.message().lower()
    assert not window.runner.busy


def test_settings_persist_and_reset(qtbot, settings, tiny_photo):
    from app.ui.window import MainWindow
    w = MainWindow(settings)
    w.confirm = lambda *a: True
    qtbot.addWidget(w)
    w.show()
    w.files.open_path(tiny_photo)
    w.task_panel.task_buttons["sr"].click()
    w.task_panel.scale_combo.setCurrentIndex(w.task_panel.scale_combo.findData(4))
    w.task_panel.select_preset("fast")
    w.task_panel.seed_spin.setValue(5)
    w.canvas.set_brush_size(33)
    w.mask_panel.set_opacity(0.4)
    w.close()

    w2 = MainWindow(settings)
    w2.confirm = lambda *a: True
    qtbot.addWidget(w2)
    s = w2.task_panel.settings()
    assert (s.task, s.scale, s.preset, s.seed) == ("sr", 4, "fast", 5)
    assert w2.canvas.brush_size == 33
    assert abs(w2.canvas.mask_opacity - 0.4) < 1e-6
    assert w2.files.recent and w2.files.recent[0].endswith("tiny.png")
    assert w2.files.last_folder() != ""
    w2.actions_["reset_settings"].trigger()
    s = w2.task_panel.settings()
    assert (s.task, s.preset, s.seed) == ("inpaint", "fast", 0)
    assert w2.files.recent == [] and w2.canvas.brush_size == 40
    w2.close()


def test_16_bit_gray_photo_is_shown_correctly(window, tmp_path):
    a = (np.arange(64 * 48, dtype=np.uint32).reshape(48, 64) * 21).astype(np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(a).save(path)
    assert window.files.open_path(str(path))
    assert window.document.photo.bit_depth == 16
    assert "16-bit gray" in window.info_label.text()
    img = window.canvas.grab().toImage()
    c = window.canvas
    p = c.to_widget(QPointF(40.5, 30.5))
    dpr = img.devicePixelRatio()
    col = img.pixelColor(int(p.x() * dpr), int(p.y() * dpr))
    want = round(int(a[30, 40]) * 255 / 65535)
    assert abs(col.red() - want) <= 2 and col.red() == col.green() == col.blue()


def test_keyboard_shortcuts_reach_the_actions(window, big_photo, qtbot):
    window.files.open_path(big_photo)
    window.task_panel.task_buttons["denoise"].click()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    c = window.canvas
    c.setFocus()
    qtbot.keyClick(c, Qt.Key.Key_P)                  # the brush switches to Inpaint
    assert c.tool == TOOL_BRUSH and window.task_panel.task() == "inpaint"
    c.set_brush_size(20)
    _stroke(qtbot, c, [(100, 100), (140, 100)])
    assert window.document.mask.count() > 0
    qtbot.keyClick(c, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert window.document.mask.count() == 0
    qtbot.keyClick(c, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert window.document.mask.count() > 0
    qtbot.keyClick(c, Qt.Key.Key_E)
    assert c.tool == TOOL_ERASER
    qtbot.keyClick(c, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert c.zoom == 1.0
    qtbot.keyClick(c, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    assert c.fit_mode
    size = c.brush_size
    qtbot.keyClick(c, Qt.Key.Key_BracketRight)
    assert c.brush_size > size


def test_thick_marks_switch_the_shown_preset_to_the_large_hole_network(window, big_photo, qtbot):
    from dip_engine import presets
    window.files.open_path(big_photo)
    window.task_panel.task_buttons["inpaint"].click()
    window.actions_["brush"].trigger()
    tp = window.task_panel
    name = tp.preset_combo.currentData()
    text_net, hole_net = presets.get("inpaint", name), presets.get("inpaint", name, holes=True)
    assert tp.iters_spin.value() == text_net.iterations
    window.canvas.set_brush_size(6)                       # a scratch
    _stroke(qtbot, window.canvas, [(100, 100), (200, 100)])
    qtbot.wait(400)
    assert tp.iters_spin.value() == text_net.iterations and "Large holes" not in tp.preset_hint.text()
    window.canvas.set_brush_size(60)                      # an object
    _stroke(qtbot, window.canvas, [(150, 200), (220, 200)])
    qtbot.waitUntil(lambda: tp.iters_spin.value() == hole_net.iterations, timeout=2000)
    assert "Large holes" in tp.preset_hint.text()
    window.actions_["undo"].trigger()
    qtbot.waitUntil(lambda: tp.iters_spin.value() == text_net.iterations, timeout=2000)


def test_auto_stop_is_offered_only_where_there_is_a_peak_to_find(window, tiny_photo):
    window.files.open_path(tiny_photo)
    tp = window.task_panel
    tp.task_buttons["denoise"].click()
    # `fast` denoising does not fit the noise (SURE): nothing to stop at, and no greyed tick
    # that claims otherwise
    assert not tp.auto_stop.isEnabled() and "SURE" in tp.auto_stop.toolTip()
    assert not tp.auto_stop.isChecked()
    tp.task_buttons["jpeg"].click()
    assert tp.auto_stop.isEnabled() and tp.auto_stop.isChecked()
    tp.auto_stop.click()                                  # the user turns it off for JPEG ...
    assert not tp.auto_stop.isChecked() and not tp.settings().auto_stop
    tp.task_buttons["inpaint"].click()
    assert not tp.auto_stop.isEnabled() and "whole budget" in tp.auto_stop.toolTip()
    assert "whole budget" in tp.preset_hint.text()
    tp.task_buttons["sr"].click()
    assert not tp.auto_stop.isEnabled() and "Super-resolution runs its whole budget" in tp.auto_stop.toolTip()
    assert "whole budget" in tp.preset_hint.text()
    tp.task_buttons["denoise"].click()
    tp.preset_combo.setCurrentIndex(tp.preset_combo.findData("paper"))
    assert tp.auto_stop.isEnabled() and "best point" in tp.auto_stop.toolTip()
    assert not tp.auto_stop.isChecked()                   # ... and it stays off where it applies
    tp.auto_stop.click()
    assert tp.auto_stop.isChecked() and tp.settings().auto_stop
    tp.preset_combo.setCurrentIndex(tp.preset_combo.findData("draft"))
    assert not tp.auto_stop.isEnabled() and "learns the noise away" in tp.auto_stop.toolTip()


def test_live_frames_redraw_the_view_but_leave_the_action_states_alone(window, tiny_photo, monkeypatch):
    """Action states follow the document and what is shown, not each of ~15 live frames a second."""
    import app.ui.window as win
    from app.worker import Frame
    window.files.open_path(tiny_photo)
    calls = []
    real = win.update_enabled
    monkeypatch.setattr(win, "update_enabled", lambda *a: (calls.append(1), real(*a)))
    red = np.zeros((40, 48, 3), np.uint8)
    red[..., 0] = 250
    for i in range(1, 31):
        window.runner.frameReady.emit(Frame(10 * i, red, (0, 0, 40, 48)))
    assert calls == []
    c = window.canvas
    c.repaint()
    mid = c.grab().toImage().pixelColor(c.width() // 2, c.height() // 2)
    assert (mid.red(), mid.green(), mid.blue()) == (250, 0, 0)          # the newest frame is on screen
    assert window.files.open_path(tiny_photo) and calls                 # a new document: the states follow


def test_draft_preset_is_offered_for_denoising_only_and_shows_its_settings(window, big_photo, qtbot):
    window.files.open_path(big_photo)
    tp = window.task_panel
    tp.task_buttons["denoise"].click()
    labels = [tp.preset_combo.itemText(i) for i in range(tp.preset_combo.count())]
    assert labels[0] == "Draft (quickest)" and tp.preset_combo.currentText() == "Fast"
    # Fast: two fits of every tile, averaged; the budget reads per fit
    assert tp.iters_spin.text() == "200 per fit, 2 fits" and tp.channels_spin.value() == 16
    assert "averaged" in tp.preset_hint.text() and "2 times" in tp.iters_spin.toolTip()
    tp.preset_combo.setCurrentIndex(0)
    assert tp.iters_spin.text() == "200" and tp.channels_spin.value() == 16
    assert "half the time" in tp.preset_hint.text() and "times" not in tp.iters_spin.toolTip()
    tp.task_buttons["sr"].click()
    assert "Draft (quickest)" not in [tp.preset_combo.itemText(i) for i in range(tp.preset_combo.count())]
