"""`dip-studio --selftest` and a windowed build's missing stdout/stderr (sys.stdout is None there)."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import pytest

from app import selftest

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def no_streams(monkeypatch):
    """What a windowed PyInstaller build (Windows, macOS) gives the program: no stdout, no stderr."""
    monkeypatch.setattr(sys, "stdout", None)
    monkeypatch.setattr(sys, "stderr", None)


def test_selftest_through_main_runs_a_tiny_fit_in_the_window(qapp, capsys, monkeypatch):
    from app.main import main
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert main(["--selftest"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("selftest ok: window shown")
    assert "64x48 crop of chelsea.png in 10 iterations" in out[0]


def test_selftest_without_stdout_or_stderr(qapp, no_streams):
    assert selftest.run() == 0


def test_selftest_failure_is_one_line_and_exit_1(qapp, monkeypatch, capsys):
    def broken(t0):
        raise selftest.SelftestError("the sample photo is missing")
    monkeypatch.setattr(selftest, "_selftest", broken)
    assert selftest.run() == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        "selftest failed: SelftestError: the sample photo is missing"]
    monkeypatch.setattr(sys, "stderr", None)
    assert selftest.run() == 1                      # and no crash with nowhere to write it


def test_output_paths_the_app_uses_do_not_crash_without_streams():
    # In a fresh interpreter, so the default warning and logging handlers are the real ones.
    code = """if True:
        import logging, sys, traceback, warnings
        sys.stdout = sys.stderr = None
        print("progress")                                   # a no-op without sys.stdout
        logging.getLogger("dip-studio").error("no handler: lastResort writes to the missing stderr")
        logging.basicConfig()
        logging.getLogger("dip-studio").error("a StreamHandler made without a stream")
        warnings.warn("a warning goes to the missing stderr")
        try:
            raise ValueError("boom")
        except ValueError:
            traceback.print_exc(file=sys.stderr)            # what app.worker does on an unexpected error
        from app.selftest import _say, process_age
        _say("selftest ok"); _say("selftest failed", err=True)
        open(sys.argv[1], "w").write("survived")
    """
    with tempfile.TemporaryDirectory() as tmp:
        flag = os.path.join(tmp, "flag")
        r = subprocess.run([sys.executable, "-c", code, flag], capture_output=True, text=True, timeout=60,
                           check=False)
        assert r.returncode == 0, r.stderr
        with open(flag, encoding="utf-8") as f:
            assert f.read() == "survived"


def test_worker_error_path_without_streams(no_streams):
    from app.model.history import SnapshotPolicy
    from app.worker import FitWorker, _Mailbox

    def run_fn(job, control):
        raise RuntimeError("unexpected")
        yield  # pragma: no cover

    w = FitWorker(object(), None, None, _Mailbox(), SnapshotPolicy(), run_fn)
    w.run()                                          # prints a traceback to the missing stderr
    assert w.mailbox.outcome.error.startswith("The restoration failed (RuntimeError: unexpected)")
