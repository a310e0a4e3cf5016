"""File > Batch...: a folder restored in the background, paused, stopped and continued after a restart."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from dip_engine import batch
from tests.app.conftest import RUN_TIMEOUT, fast_settings

pytestmark = pytest.mark.timeout(300)


def _folder(path, n):
    path.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(path / f"shot{i}.png")
    return path


def _open_from_menu(window, qtbot):
    """File > Batch... through the menu bar, as a user would."""
    file_menu = next(a.menu() for a in window.menuBar().actions() if a.text().replace("&", "") == "File")
    action = next(a for a in file_menu.actions() if a.text().replace("&", "").startswith("Batch"))
    action.trigger()
    dlg = next(w for w in QApplication.topLevelWidgets()
               if w.objectName() == "BatchDialog" and w.isVisible() and w.parent() is window)
    qtbot.waitExposed(dlg)
    return dlg


@pytest.fixture(autouse=True)
def _no_batch_left_running():
    yield
    from app.ui import batch as ui
    ui.stop_all()      # a failed test must not leave a batch thread running into the next one


def _states(dlg):
    return [dlg.queue.topLevelItem(i).text(1) for i in range(dlg.queue.topLevelItemCount())]


def test_batch_of_a_folder_with_the_current_settings(window, qtbot, tmp_path):
    photos = _folder(tmp_path / "shoot", 3)
    (photos / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    fast_settings(window, "denoise", iters=6, channels=8)
    dlg = _open_from_menu(window, qtbot)
    assert dlg.start_button.text() == "Start" and not dlg.start_button.isEnabled()
    qtbot.keyClicks(dlg.photos_edit, str(photos))
    assert "Denoise" in dlg.settings_label.text() and "6 iterations" in dlg.settings_label.text()
    with qtbot.waitSignal(dlg.batchFinished, timeout=RUN_TIMEOUT * 2) as done:
        qtbot.mouseClick(dlg.start_button, Qt.MouseButton.LeftButton)
        assert not dlg.photos_edit.isEnabled() and dlg.pause_button.isEnabled()
        assert window.actions_["open"].isEnabled()            # the main window stays usable
    s = done.args[0]
    assert (s["done"], s["failed"]) == (3, 1)
    qtbot.waitUntil(lambda: dlg.start_button.isEnabled())
    states = _states(dlg)
    assert states.count("Done") == 3 and any(t.startswith("Failed: ") and "broken.png" in t for t in states)
    assert "3 of 4 photos done, 1 failed" in dlg.status.text()
    assert dlg.progress.value() == 4 and dlg.progress.maximum() == 4
    rows = [dlg.queue.topLevelItem(i) for i in range(4)]
    qtbot.waitUntil(lambda: all(not r.icon(0).isNull() for r in rows if r.text(0) != "broken.png"))  # thumbnails
    for i in range(3):
        assert Image.open(photos / "restored" / f"shot{i}_denoise.png").size == (32, 32)


def test_pause_stop_and_continue_after_a_restart(window, qtbot, tmp_path, settings):
    photos = _folder(tmp_path / "box", 3)
    out = tmp_path / "results"
    fast_settings(window, "jpeg", iters=150, channels=8)
    dlg = _open_from_menu(window, qtbot)
    qtbot.keyClicks(dlg.photos_edit, str(photos))
    qtbot.keyClicks(dlg.results_edit, str(out))
    qtbot.mouseClick(dlg.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: any(t.startswith("Running · ") for t in _states(dlg)), timeout=RUN_TIMEOUT)
    qtbot.mouseClick(dlg.pause_button, Qt.MouseButton.LeftButton)
    assert dlg.pause_button.text() == "Resume" and dlg.status.text().startswith("Paused")
    qtbot.mouseClick(dlg.stop_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dlg.start_button.isEnabled(), timeout=RUN_TIMEOUT)
    assert dlg.start_button.text() == "Continue" and "Done" not in _states(dlg)
    assert not any(p.name.endswith(".png") for p in out.iterdir())
    dlg.close()
    window.close()

    # a new window (as after a restart) shows the same batch and finishes it
    from app.ui.window import MainWindow
    again = MainWindow(settings)
    again.show()
    qtbot.addWidget(again)
    fast_settings(again, "denoise")                    # other settings now: the batch keeps its own
    dlg2 = _open_from_menu(again, qtbot)
    assert dlg2 is not dlg and dlg2.results_edit.text() == str(out)
    assert _states(dlg2) == ["Waiting"] * 3 and dlg2.start_button.text() == "Continue"
    assert "JPEG clean-up" in dlg2.settings_label.text() and "150 iterations" in dlg2.settings_label.text()
    assert all(st.state == "pending" for st in batch.read(out)[1].values())   # stopped ones wait again
    with qtbot.waitSignal(dlg2.batchFinished, timeout=RUN_TIMEOUT * 3) as done:
        qtbot.mouseClick(dlg2.start_button, Qt.MouseButton.LeftButton)
    assert done.args[0]["done"] == 3
    assert batch.read(out)[0][-1]["recipe"]["task"] == "jpeg"
    dlg2.close()


def test_quitting_during_a_batch_ends_it_without_waiting_out_the_timeout(window, qtbot, tmp_path):
    from app.ui import batch as ui
    fast_settings(window, "jpeg", iters=2000, channels=8)
    dlg = _open_from_menu(window, qtbot)
    qtbot.keyClicks(dlg.photos_edit, str(_folder(tmp_path / "box", 2)))
    qtbot.mouseClick(dlg.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: any(t.startswith("Running · ") for t in _states(dlg)), timeout=RUN_TIMEOUT)
    assert ui.stop_all()           # what the app does at quit; False: a batch still ran after 30 s
    qtbot.waitUntil(lambda: dlg.start_button.text() == "Continue", timeout=5000)
    dlg.close()
