"""`dip-studio --selftest`: start the real application off screen, run a tiny restoration, exit.

It checks what a frozen bundle most often gets wrong: Qt's platform and image-format plugins
(the SVG icons render), the style sheet and the sample photo are found, the engine (torch,
OpenCV, Pillow) imports, and a fit runs on the app's worker thread and hands frames to the
window. Settings and autosave go to a temporary folder, so the user's are never touched. It prints one line
(when there is a stdout at all: a windowed build has none) and returns 0, or 1 with the reason.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from contextlib import contextmanager

CROP = (64, 48)          # width, height of the piece of the sample photo that is restored
ITERATIONS = 10
CHANNELS = 8
TIMEOUT_S = 120.0


def process_age() -> float | None:
    """Seconds since this process started (Linux /proc), so start-up includes the bootloader."""
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime", encoding="ascii") as f:
            uptime = float(f.read().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def _say(line: str, err: bool = False) -> None:
    stream = sys.stderr if err else sys.stdout
    if stream is not None:                      # windowed builds have no stdout/stderr
        try:
            print(line, file=stream, flush=True)
        except (OSError, ValueError):
            pass


class SelftestError(RuntimeError):
    """The self-test found a problem; str() is one line."""


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise SelftestError(message)


@contextmanager
def _environ(name: str, value: str):
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


def _wait(app, condition, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        app.processEvents()
        time.sleep(0.01)
    return True


def _selftest(t0: float) -> str:
    from PySide6.QtCore import QSettings, Qt
    from PySide6.QtWidgets import QApplication

    from app.main import APP_NAME, ORG, apply_theme
    from app.ui import resources

    QApplication.setAttribute(Qt.ApplicationAttribute.AA_DontShowIconsInMenus, False)
    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "dip-studio"])
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(ORG)
    apply_theme(app)
    _check(bool(resources.style_sheet("dark")), f"the style sheet is missing from {resources.STYLES}")
    ico = resources.icon("inpaint")
    _check(not ico.isNull() and not ico.pixmap(32, 32).isNull(),
           f"the SVG icons do not load from {resources.ICONS} (missing files or Qt SVG plugins)")
    sample = resources.ROOT / "samples" / "chelsea.png"
    _check(sample.is_file(), f"the sample photo is missing: {sample}")
    import qasync  # noqa: F401 - main() needs it; prove it was bundled

    from app.ui.window import MainWindow
    with tempfile.TemporaryDirectory(prefix="dip-studio-selftest-") as tmp, \
            _environ("DIP_STUDIO_DATA_DIR", tmp):             # autosave: app.model.autosave
        settings = QSettings(os.path.join(tmp, "settings.ini"), QSettings.Format.IniFormat)
        window = MainWindow(settings)
        window.confirm = lambda title, text: True
        window.resize(1000, 700)
        window.show()
        app.processEvents()
        shown = time.perf_counter() - t0
        age = process_age()
        try:
            _check(window.files.open_path(str(sample)), f"the window could not open {sample.name}")
            photo = window.document.photo
            _check((photo.width, photo.height) == (451, 300), f"{sample.name} opened as {photo.width}x{photo.height}")
            w, h = CROP
            top, left = (photo.height - h) // 2, (photo.width - w) // 2
            window.document.load(photo.with_data(photo.data[top:top + h, left:left + w].copy()), None, name="selftest")
            tp = window.task_panel
            tp.task_buttons["denoise"].click()
            tp.select_preset("fast")
            tp.iters_spin.setValue(ITERATIONS)
            tp.channels_spin.setValue(CHANNELS)
            tp.auto_stop.setChecked(False)
            done, failed = [], []
            window.resultReady.connect(lambda: done.append(True))
            window.runner.failed.connect(failed.append)
            # One torch thread: this checks that the bundle works, not how fast (two threads
            # contending with the GUI and other programs on two cores run ~10x slower).
            import torch
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            fit_start = time.perf_counter()
            try:
                _check(window.run.start(), "the run did not start")
                finished = _wait(app, lambda: done or failed, TIMEOUT_S)
            finally:
                torch.set_num_threads(threads)
            if not finished:
                window.runner.stop()
                _wait(app, lambda: not window.runner.busy, 30)
            _check(finished, f"the run did not finish within {TIMEOUT_S:.0f} s")
            _check(not failed, f"the run failed: {failed[0] if failed else ''}")
            _check(window.run.frames_received >= 1, "no frame reached the window")
            result = window.document.result
            _check(result is not None and (result.width, result.height) == CROP,
                   f"the result is missing or the wrong size: {None if result is None else (result.width, result.height)}")
            fit_s = time.perf_counter() - fit_start
        finally:
            window.document.mark_saved()
            window.close()
            window.shutdown()
            app.processEvents()
            window.deleteLater()
            app.processEvents()
    since = f", {age:.2f} s after process start" if age is not None else ""
    return (f"selftest ok: window shown {shown:.2f} s after main(){since}; restored a {CROP[0]}x{CROP[1]} crop of "
            f"{sample.name} in {ITERATIONS} iterations, {window.run.frames_received} frame(s), fit {fit_s:.1f} s; "
            f"platform {app.platformName()}")


def run() -> int:
    """The self-test; 0 when it passes, 1 otherwise (one line either way)."""
    t0 = time.perf_counter()
    if not os.environ.get("QT_QPA_PLATFORM"):     # headless unless the caller picked a platform
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    try:
        line = _selftest(t0)
    except Exception as e:  # noqa: BLE001 - any failure is one line and exit 1
        _say(f"selftest failed: {type(e).__name__}: {e}", err=True)
        return 1
    _say(line)
    return 0
