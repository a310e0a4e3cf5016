"""Variations: Run > Variations… runs the job with N seeds on a worker thread, shows them beside
the original, makes the one picked the result, keeps them in the project and offers them in the
compare view's pickers."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QTimer

from app.ui.filmstrip import CURRENT
from tests.app.conftest import RUN_TIMEOUT, fast_settings, reopened
from tests.app.test_confidence import MASK, checker_photo, paint_mask, photo_box, pixels


def open_fill(window, tmp_path, iters=70):
    window.files.open_path(checker_photo(tmp_path / "checker.png"))
    fast_settings(window, "inpaint", iters=iters, channels=8)
    paint_mask(window)


def run_variations(window, qtbot, n):
    act = window.actions_["variations"]
    assert act.isEnabled()
    act.trigger()
    dlg = window.variations.dialog
    assert dlg.isVisible() and dlg.count.value() == 3          # three by default
    dlg.count.setValue(n)
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(20)
    dlg.run_button.click()
    assert window.variations.runner.busy and not window.actions_["run"].isEnabled()
    return dlg, ticks, timer


def test_pick_a_variation_round_trip_and_compare(window, tmp_path, qtbot, settings):
    open_fill(window, tmp_path)
    seed = window.task_panel.settings().seed
    dlg, ticks, timer = run_variations(window, qtbot, 2)
    qtbot.waitUntil(lambda: not window.variations.runner.busy, timeout=2 * RUN_TIMEOUT)
    timer.stop()
    assert len(ticks) > 10                     # the GUI kept its timers running meanwhile
    doc = window.document
    assert [v.seed for v in doc.variations] == [seed, seed + 1]
    assert all(v.metadata.get("dip:seed") == str(v.seed) for v in doc.variations)
    assert not np.array_equal(doc.variations[0].result.data, doc.variations[1].result.data)
    # side by side: the original and one tile per variation, each with Use This (a widget added to a
    # shown layout is shown by a queued call, so the buttons appear on the next pass of the event loop)
    qtbot.waitUntil(lambda: len(dlg.use_buttons) == 2 and all(b.isVisible() for b in dlg.use_buttons), timeout=2000)
    assert all(b.isEnabled() for b in dlg.use_buttons)
    dlg.use_buttons[1].click()
    assert not dlg.isVisible()
    v = doc.variations[1]
    assert doc.result is v.result and doc.chosen == 1 and not doc.result_saved
    # inpainting has no confidence map (the engine's choice, dip_engine/confidence.py): none is invented
    assert doc.confidence is None and all(x.confidence is None for x in doc.variations)
    assert window.canvas.label_a == f"Result (variation 2 (seed {seed + 1}))"
    # what the canvas shows is the variation
    fill = photo_box(window.canvas, *MASK)
    shown = pixels(window.canvas)[fill]
    window.compare.show_key(doc.variations[0])
    assert np.abs(pixels(window.canvas)[fill].astype(int) - shown).max() > 0
    # the compare pickers offer every variation beside the snapshots
    window.compare.set_view_mode("split")
    bar = window.compare_bar
    for combo in (bar.a_combo, bar.b_combo):
        items = [combo.itemText(i) for i in range(combo.count())]
        assert f"Variation 1 (seed {seed})" in items and f"Variation 2 (seed {seed + 1})" in items
    bar.a_combo.setCurrentIndex(bar.a_combo.findText(f"Variation 1 (seed {seed})"))
    assert window.compare.src_a is doc.variations[0]
    # the project keeps the variations, their seeds and recipes, the maps and the choice
    with reopened(window, tmp_path / "v.dipproj", settings, qtbot) as other:
        d2 = other.document
        assert [x.seed for x in d2.variations] == [seed, seed + 1] and d2.chosen == 1
        assert [x.metadata for x in d2.variations] == [x.metadata for x in doc.variations]
        for a, b_ in zip(d2.variations, doc.variations):
            assert np.array_equal(a.result.data, b_.result.data)
        assert np.array_equal(d2.result.data, v.result.data)
        other.compare.show_key(CURRENT)
        assert other.canvas.label_a == f"Result (variation 2 (seed {seed + 1}))"
        items = [other.compare_bar.b_combo.itemText(i) for i in range(other.compare_bar.b_combo.count())]
        assert f"Variation 1 (seed {seed})" in items


def test_stop_ends_the_variations(window, tmp_path, qtbot):
    open_fill(window, tmp_path, iters=5000)
    dlg, _, timer = run_variations(window, qtbot, 3)
    timer.stop()
    qtbot.waitUntil(lambda: dlg.bar.value() > 0, timeout=RUN_TIMEOUT)
    dlg.stop_button.click()
    qtbot.waitUntil(lambda: not window.variations.runner.busy, timeout=RUN_TIMEOUT)
    assert len(window.document.variations) < 3
    assert "Stopped" in dlg.message.text()
    assert window.actions_["run"].isEnabled() and dlg.run_button.isEnabled()


def test_variations_need_inpainting_or_super_resolution(window, tiny_photo):
    window.files.open_path(tiny_photo)
    fast_settings(window, "denoise")
    assert not window.actions_["variations"].isEnabled()
    fast_settings(window, "sr")
    assert window.actions_["variations"].isEnabled()
