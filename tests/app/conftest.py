"""Fixtures for the app tests: an isolated settings file, a tiny photo, a shown main window."""
from __future__ import annotations

import contextlib
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# autosaves and session locks of app tests (and the apps they start) never go to the user's folder
os.environ.setdefault("DIP_STUDIO_DATA_DIR", __import__("tempfile").mkdtemp(prefix="dip-test-data-"))

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

RUN_TIMEOUT = 90_000   # ms: generous, the machine is a loaded 2-core box


@pytest.fixture
def settings(tmp_path):
    from PySide6.QtCore import QSettings
    s = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    yield s
    s.sync()


def _write_photo(path, w=48, h=40, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx * 255 // max(1, w - 1), yy * 255 // max(1, h - 1), (xx + yy) % 256], axis=2)
    img = np.clip(img + rng.integers(-20, 20, img.shape), 0, 255).astype(np.uint8)
    Image.fromarray(img, "RGB").save(path)
    return path


@pytest.fixture
def tiny_photo(tmp_path):
    return str(_write_photo(tmp_path / "tiny.png"))


@pytest.fixture
def big_photo(tmp_path):
    return str(_write_photo(tmp_path / "big.png", 400, 300))


@pytest.fixture(scope="session")
def themed(qapp):
    """The app's theme, set once: setting a style sheet re-polishes every widget alive."""
    from app.main import apply_theme
    apply_theme(qapp)


def dispose(w) -> None:
    """Close window `w` and delete it now: a window only closed stays alive, and every later
    window's set-up and style work grew with their number (0.2 s to 13 s over the app tests)."""
    from PySide6.QtCore import QCoreApplication, QEvent
    w.document.mark_saved()
    w.close()
    w.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


@pytest.fixture
def window(qtbot, settings, themed):
    from app.ui.window import MainWindow
    w = MainWindow(settings)
    w.confirm = lambda title, text: True      # answer every question with yes
    w.resize(1100, 760)
    w.show()
    qtbot.waitExposed(w)
    yield w
    if w.runner.busy:
        w.runner.stop()
        qtbot.waitUntil(lambda: not w.runner.busy, timeout=RUN_TIMEOUT)
    dispose(w)


@contextlib.contextmanager
def reopened(window, path, settings, qtbot):
    """Save `window`'s project to `path` and open it in a second, shown window (closed after)."""
    from app.ui.window import MainWindow
    assert window.files.save_project_to(str(path))
    other = MainWindow(settings)
    other.confirm = lambda *a: True
    other.resize(900, 700)
    other.show()
    qtbot.waitExposed(other)
    try:
        assert other.files.open_path(str(path))
        yield other
    finally:
        dispose(other)


def fast_settings(window, task="denoise", iters=20, channels=8, auto_stop=False, preset="fast"):
    """Pick a task with the 'fast' preset (or `preset`) and small overrides through the real widgets."""
    tp = window.task_panel
    tp.task_buttons[task].click()
    tp.select_preset(preset)
    tp.iters_spin.setValue(iters)
    tp.channels_spin.setValue(channels)
    tp.auto_stop.setChecked(auto_stop)


def fitting(window) -> bool:
    """The run has shown a fitted frame (the engine's first frame, iteration 0, is only its preview)."""
    return window.run.frame is not None and window.run.frame.iteration > 0
