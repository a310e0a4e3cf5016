"""Projects, autosave, crash recovery and the faults the app survives (issue #5)."""
from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys

import numpy as np
import pytest

from tests.app.conftest import RUN_TIMEOUT, fast_settings, fitting
from tests.conftest import REPO

pytestmark = pytest.mark.timeout(240)


def _mask(window):
    m = np.zeros((window.document.photo.height, window.document.photo.width), bool)
    m[12:22, 10:30] = True
    window.document.mask.set_mask(m, "test")
    return m


def _run_to_end(qtbot, window, **kw):
    with qtbot.waitSignal(window.resultReady, timeout=RUN_TIMEOUT):
        assert window.run.start(**kw)


def _new_window(qtbot, settings):
    from app.ui.window import MainWindow
    w = MainWindow(settings)
    w.confirm = lambda title, text: True
    w.show()
    qtbot.addWidget(w)
    return w


def test_project_round_trip_through_the_window(window, tiny_photo, qtbot, tmp_path, settings):
    from dip_engine import project
    window.files.open_path(tiny_photo)
    fast_settings(window, "inpaint", iters=12)
    mask = _mask(window)
    _run_to_end(qtbot, window)
    assert window.document.checkpoint is not None and window.document.checkpoint["iteration"] == 12
    path = tmp_path / "doc.dipproj"
    assert window.files.save_project_to(str(path)) and window.document.result_saved
    p = project.load_project(path)
    assert p.checkpoint_iteration == 12 and p.embed_photo and np.array_equal(p.mask, mask)

    other = _new_window(qtbot, settings)
    assert other.files.open_path(str(path))                          # dip-studio PROJECT goes through here too
    assert np.array_equal(other.document.photo.data, window.document.photo.data)
    assert np.array_equal(other.document.mask.array, mask)
    assert other.task_panel.settings() == window.task_panel.settings()
    assert other.document.history.iterations() == window.document.history.iterations()
    assert np.array_equal(other.document.result.data, window.document.result.data) and other.document.result_snapshot is None
    assert other.document.path == window.document.path               # the original stays guarded
    snap = other.document.history[0]                                    # history is usable: compare, make result
    assert other.run.make_result(snap) and other.document.result.width == 48
    assert other.actions_["continue"].isEnabled()
    other.actions_["save_project"].trigger()          # Save Project writes back to the file it came from
    assert project.load_project(path).extra["result_iteration"] == snap.iteration
    assert other.document.result_saved
    other.close()


def test_a_paused_and_stopped_run_continues_from_its_checkpoint(window, tiny_photo, qtbot, tmp_path, settings):
    window.files.open_path(tiny_photo)
    fast_settings(window, "denoise", iters=60, preset="draft")   # one fit, resumed from its own state
    got = []
    window.runner.checkpointReady.connect(lambda c: got.append(c["iteration"]))
    assert window.run.start()
    qtbot.waitUntil(lambda: fitting(window), timeout=RUN_TIMEOUT)
    window.actions_["pause"].trigger()                          # a pause hands over the run's state
    qtbot.waitUntil(lambda: bool(got), timeout=RUN_TIMEOUT)
    assert window.document.checkpoint["iteration"] == got[0] > 0
    with qtbot.waitSignal(window.resultReady, timeout=RUN_TIMEOUT):
        window.actions_["stop"].trigger()
    k = window.document.checkpoint["iteration"]
    assert window.document.outcome.stopped_by == "user" and k < 60
    path = tmp_path / "stopped.dipproj"
    assert window.files.save_project_to(str(path))

    other = _new_window(qtbot, settings)
    assert other.files.open_project(str(path))
    assert f"iteration {k}" in other.run_panel.message.text()
    first = []
    other.runner.lossesAdded.connect(lambda pts: first.extend(i for i, _ in pts))   # every fitted iteration
    _run_to_end(qtbot, other)                                   # Restore continues the saved run
    assert first[0] == k + 1 and other.document.outcome.progress.iteration == 60
    assert other.document.history.iterations()[0] <= k                   # the saved history is kept
    other.document.mark_saved()
    other.close()


def test_changed_settings_start_a_new_run_instead(window, tiny_photo, qtbot, tmp_path):
    window.files.open_path(tiny_photo)
    fast_settings(window, "denoise", iters=8)
    _run_to_end(qtbot, window)
    window.document.resume_next = True
    window.task_panel.channels_spin.setValue(12)
    first = []
    window.runner.lossesAdded.connect(lambda pts: first.extend(i for i, _ in pts))   # every fitted iteration
    with qtbot.waitSignal(window.resultReady, timeout=RUN_TIMEOUT):
        assert window.run.start()
        assert "Starting a new run: the saved run used channels 8, not 12" in window.run_panel.message.text()
    assert first[0] == 1


def test_autosave_of_mask_edits_and_run_checkpoints_off_the_gui_thread(window, tiny_photo, qtbot, tmp_path):
    from dip_engine import project
    folder = tmp_path / "auto"
    assert not window.start_session(folder)
    pm = window.projects
    pm.mask_delay_ms, pm.checkpoint_every_ms = 100, 300
    window.files.open_path(tiny_photo)
    fast_settings(window, "inpaint", iters=3000)
    saved = []
    pm.autosaved.connect(saved.append)
    mask = _mask(window)
    qtbot.waitUntil(lambda: bool(saved), timeout=20000)
    auto = pm.session.autosave_path
    p = project.load_project(auto)
    assert np.array_equal(p.mask, mask) and p.checkpoint is None
    saved.clear()
    assert window.run.start()
    qtbot.waitUntil(lambda: window.document.checkpoint is not None and bool(saved), timeout=RUN_TIMEOUT)
    p = project.load_project(auto)
    assert p.checkpoint_iteration > 0 and p.extra["run_state"] == "running"
    with qtbot.waitSignal(window.resultReady, timeout=RUN_TIMEOUT):
        window.run.stop()
    qtbot.waitUntil(lambda: project.load_project(auto).extra["run_state"] == "user", timeout=20000)
    window.document.mark_saved()
    window.close()                                              # clean exit: nothing left to recover
    assert not auto.exists() and not pm.session.lock_path.exists()


APP_SCRIPT = r"""
import sys, time
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication
import numpy as np
import torch
torch.set_num_threads(1)
app = QApplication(sys.argv[:1])
from app.ui.window import MainWindow
from tests.app.conftest import fast_settings
w = MainWindow(QSettings(sys.argv[3], QSettings.Format.IniFormat))
w.show()
w.start_session(sys.argv[1])
w.projects.checkpoint_every_ms = 300
w.files.open_path(sys.argv[2])
fast_settings(w, "inpaint", iters=5000)
m = np.zeros((40, 48), bool); m[12:22, 10:30] = True
w.document.mask.set_mask(m, "test")
w.run.start()
def saved(path):
    from dip_engine import project
    p = project.load_project(path)
    if p.checkpoint_iteration:
        print("SAVED", p.checkpoint_iteration, flush=True)
w.projects.autosaved.connect(saved)
app.exec()
"""


def test_recovery_after_the_app_is_killed_mid_run(tiny_photo, qtbot, tmp_path, settings):
    folder = tmp_path / "auto"
    proc = subprocess.Popen([sys.executable, "-c", APP_SCRIPT, str(folder), tiny_photo, str(tmp_path / "s.ini")],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, QT_QPA_PLATFORM="offscreen"))
    try:
        line = proc.stdout.readline()
        assert line.startswith("SAVED"), line + proc.stderr.read() if proc.poll() is not None else line
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        proc.kill()
    from app.ui.window import MainWindow
    w = MainWindow(settings)
    qtbot.addWidget(w)
    asked = []
    w.confirm = lambda title, text: asked.append((title, text)) or True
    w.show()
    assert w.start_session(folder)                               # offered and restored
    assert asked and asked[0][0] == "Restore unsaved work?"
    k = w.document.checkpoint_iteration
    assert k > 0 and w.document.resume_next
    assert w.document.photo is not None and w.document.photo.width == 48
    assert w.document.mask.array[15, 15] and not w.document.mask.array[0, 0]
    s = w.task_panel.settings()
    assert (s.task, s.preset, s.iters, s.channels) == ("inpaint", "fast", 5000, 8)
    assert "Restore continues the run" in w.banner.message()
    first = []
    w.runner.lossesAdded.connect(lambda pts: first.extend(i for i, _ in pts))   # every fitted iteration
    assert w.run.start()
    qtbot.waitUntil(lambda: bool(first), timeout=RUN_TIMEOUT)
    assert first[0] == k + 1                                     # continues where the killed run was
    with qtbot.waitSignal(w.resultReady, timeout=RUN_TIMEOUT):
        w.run.stop()
    w.document.mark_saved()
    w.close()
    assert not list(folder.glob("*.dipproj")) and not list(folder.glob("*.lock"))   # clean exit


# ------------------------------------------------------------------------------------------ faults

def test_exception_inside_the_engine_run_then_a_new_run(window, tiny_photo, qtbot, monkeypatch):
    from dip_engine import restore
    window.files.open_path(tiny_photo)
    fast_settings(window, "denoise", iters=5)
    real = restore.run

    def broken(job, control=None, resume=None):
        yield from ()
        raise ValueError("something inside broke")

    monkeypatch.setattr(restore, "run", broken)
    with qtbot.waitSignal(window.runner.failed, timeout=RUN_TIMEOUT):
        assert window.run.start()
    assert "something inside broke" in window.banner.message() and window.actions_["run"].isEnabled()
    monkeypatch.setattr(restore, "run", real)
    _run_to_end(qtbot, window)
    assert window.document.result is not None


def test_out_of_memory_shows_the_way_forward(window, tiny_photo, qtbot, monkeypatch):
    import torch
    from dip_engine import restore
    window.files.open_path(tiny_photo)
    fast_settings(window, "denoise", iters=5)

    def oom(job, control=None, resume=None):
        raise restore.RunError(restore._oom_message(torch.device("cuda"), (0, 0, 40, 48)))
        yield

    monkeypatch.setattr(restore, "run", oom)
    with qtbot.waitSignal(window.runner.failed, timeout=RUN_TIMEOUT):
        assert window.run.start()
    msg = window.banner.message()
    assert msg.startswith("Out of memory") and "\n" not in msg
    for way in ("smaller region", "fewer channels", "'fast' preset", "CPU"):
        assert way in msg
    assert not window.runner.busy and window.actions_["run"].isEnabled()


def test_memory_estimate_refuses_a_run_that_cannot_fit(window, tiny_photo, qtbot, monkeypatch):
    from dip_engine import restore
    window.files.open_path(tiny_photo)
    fast_settings(window, "denoise", iters=5)
    real = restore.plan

    def tight(job):
        p = real(job)
        p.error = "not enough memory on cpu for even a 64x64 px tile: use the 'fast' preset or fewer channels"
        return p

    monkeypatch.setattr(restore, "plan", tight)
    assert not window.run.start()
    assert "fewer channels" in window.banner.message() and not window.runner.busy
    monkeypatch.setattr(restore, "plan", real)
    assert window.run.start()
    assert "Fitting all 48x40 px at once" in window.run_panel.message.text()    # the plan, at run start
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=RUN_TIMEOUT)


def test_disk_full_while_saving_keeps_the_previous_file(window, tiny_photo, qtbot, tmp_path, monkeypatch):
    from dip_engine import project
    window.files.open_path(tiny_photo)
    path = tmp_path / "p.dipproj"
    assert window.files.save_project_to(str(path))
    before = path.read_bytes()

    def full(fp, members):
        fp.write(b"partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(project, "_write_zip", full)
    _mask(window)
    assert not window.files.save_project_to(str(path))
    assert "No space left" in window.banner.message() and "free some space" in window.banner.message()
    assert path.read_bytes() == before and not [f for f in tmp_path.iterdir() if f.name.endswith(".tmp")]
    # autosave hits the same disk: one message, the app goes on, the last autosave is intact
    monkeypatch.undo()
    assert not window.start_session(tmp_path / "auto")
    pm = window.projects
    saved, failed = [], []
    pm.autosaved.connect(saved.append)
    pm.autosaveFailed.connect(failed.append)
    pm.autosave()
    qtbot.waitUntil(lambda: bool(saved), timeout=20000)
    good = pm.session.autosave_path.read_bytes()
    monkeypatch.setattr(project, "_write_zip", full)
    pm.autosave()
    qtbot.waitUntil(lambda: bool(failed), timeout=20000)
    assert "Autosave failed" in window.banner.message() and "No space left" in window.banner.message()
    assert pm.session.autosave_path.read_bytes() == good
    assert project.load_project(pm.session.autosave_path).photo.width == 48


def test_read_only_folder_while_saving(window, tiny_photo, tmp_path, monkeypatch):
    from dip_engine import imageio
    window.files.open_path(tiny_photo)
    ro = tmp_path / "ro"
    ro.mkdir()
    if os.name == "posix" and os.geteuid() != 0:
        ro.chmod(0o500)
    else:
        real_open = os.open
        monkeypatch.setattr(imageio.os, "open", lambda f, *a, **k: (_ for _ in ()).throw(
            PermissionError(errno.EACCES, os.strerror(errno.EACCES))) if str(f).endswith(".tmp")
            else real_open(f, *a, **k))
    try:
        assert not window.files.save_project_to(str(ro / "p.dipproj"))
        assert "cannot write in this folder" in window.banner.message()
        assert not (ro / "p.dipproj").exists()
    finally:
        ro.chmod(0o700)


def test_a_second_run_is_refused_while_one_runs(window, tiny_photo, qtbot):
    window.files.open_path(tiny_photo)
    fast_settings(window, "denoise", iters=2000)
    assert window.run.start()
    control = window.runner.control
    assert not window.actions_["run"].isEnabled() and not window.run_panel.run_button.isEnabled()
    assert not window.actions_["continue"].isEnabled()
    assert not window.run.start() and not window.run.continue_run()          # direct calls are refused...
    assert "already running" in window.hint_label.text()                   # ... and say why
    assert window.runner.control is control                                # the first run is untouched
    window.run.stop()
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=RUN_TIMEOUT)


def test_closing_during_a_run_leaves_no_thread(window, tiny_photo, qtbot, tmp_path):
    window.start_session(tmp_path / "auto")
    window.projects.checkpoint_every_ms = 200
    window.files.open_path(tiny_photo)
    # one fit, whose state is saved every 200 ms (a run in parts saves a part once it has ended)
    fast_settings(window, "denoise", iters=2000, preset="draft")
    assert window.run.start()
    qtbot.waitUntil(lambda: window.document.checkpoint is not None, timeout=RUN_TIMEOUT)
    asked = []
    window.confirm = lambda title, text: asked.append(title) or True       # "yes, stop and close"
    thread = window.runner._thread
    window.actions_["quit"].trigger()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=RUN_TIMEOUT)
    assert asked[0] == "Stop the restoration?"
    assert not window.runner.busy and not thread.isRunning()
    assert window.projects.pool.activeThreadCount() == 0
    assert not window.projects.session.lock_path.exists()


def test_a_run_in_tiles_stopped_and_continued_fits_only_the_unfinished_tiles(window, big_photo, qtbot):
    window.files.open_path(big_photo)               # 400 x 300: 'draft' denoises it in 12 tiles of 128 px
    fast_settings(window, "denoise", iters=50, preset="draft")
    parts, notes = [], []
    window.runner.progressed.connect(lambda p: parts.append(p.part))
    window.runner.notesAdded.connect(notes.extend)
    assert window.run.start()

    def parts_done() -> int:   # what the run panel says, e.g. "Iteration  ·  3 of 12 parts done"
        m = re.search(r"(\d+) of 12 parts done", window.run_panel.iter_caption.text())
        return int(m.group(1)) if m else 0
    qtbot.waitUntil(lambda: parts_done() >= 3, timeout=RUN_TIMEOUT)
    with qtbot.waitSignal(window.resultReady, timeout=RUN_TIMEOUT):
        window.actions_["stop"].trigger()
    assert window.document.outcome.stopped_by == "user" and any("12 tiles" in n for n in notes)
    done = window.document.checkpoint["parts"]
    assert 3 <= len(done) < 12 and window.actions_["continue"].isEnabled()
    assert {p["index"] for p in done} != set(range(len(done)))   # shuffled, not the top rows first
    parts.clear()
    with qtbot.waitSignal(window.resultReady, timeout=RUN_TIMEOUT):
        window.actions_["continue"].trigger()
    assert any(f"{len(done)} of 12 parts are done" in n for n in notes)
    assert not {p["index"] for p in done} & {p for p in parts if p is not None}   # finished tiles stay done
    out = window.document.outcome
    assert out.stopped_by == "iterations" and out.progress.iteration == 12 * 50
    assert len(window.document.checkpoint["parts"]) == 12
    window.document.mark_saved()
