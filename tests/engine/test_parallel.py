"""Parts of one photo fitted on several cores at once give what one worker gives."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from dip_engine import parallel, restore
from dip_engine.imageio import Photo
from tests.conftest import smooth_image


def noisy(h=96, w=80, seed=0):
    rng = np.random.default_rng(seed)
    img = np.clip(smooth_image(h, w) + rng.normal(0, 0.1, (h, w, 3)), 0, 1)
    return Photo(data=np.rint(img * 255).astype(np.uint8))


def test_workers_follow_cores_parts_and_memory(monkeypatch):
    monkeypatch.setattr(parallel, "cores", lambda: 8)
    cpu = torch.device("cpu")
    assert parallel.plan_workers(6, cpu, 100, 10_000) == (6, 1)
    assert parallel.plan_workers(20, cpu, 100, 10_000) == (8, 1)
    assert parallel.plan_workers(20, cpu, 100, 250) == (2, 4)        # memory for two fits only
    assert parallel.plan_workers(1, cpu, 100, 10_000) == (1, None)
    assert parallel.plan_workers(6, cpu, 100, 10_000, asked=3, threads=2) == (3, 2)
    assert parallel.plan_workers(6, torch.device("meta"), 100, 10_000) == (1, None)


def test_two_workers_give_the_same_result_as_one():
    p = noisy()
    kw = dict(preset="draft", iters=40, channels=8, tile=48, overlap=16, stop="never", threads=1, seed=3)
    one = list(restore.run(restore.Job("denoise", p, workers=1, **kw)))
    two = list(restore.run(restore.Job("denoise", p, workers=2, **kw)))
    assert one[-1].extra["parts"] == two[-1].extra["parts"] == 6
    assert two[0].extra["notes"][-1].startswith("Fitting 2 parts at a time")
    assert one[-1].iteration == two[-1].iteration == 6 * 40
    assert one[-1].extra["unfinished_parts"] == two[-1].extra["unfinished_parts"]
    assert np.abs(one[-1].result.data.astype(int) - two[-1].result.data.astype(int)).max() <= 1
    progress = [s.progress for s in two]
    assert progress == sorted(progress) and {s.total for s in two} == {240}


def test_stop_reaches_every_worker_and_unstarted_parts_keep_the_input():
    p = noisy()
    control = restore.Control()
    steps = []
    for s in restore.run(restore.Job("denoise", p, preset="fast", iters=400, channels=8, tile=48, overlap=16,
                                     workers=2, threads=1), control):
        steps.append(s)
        if s.iteration >= 10:
            control.stop()
    last = steps[-1]
    assert last.done and last.stopped_by == "user" and last.iteration < 6 * 400
    assert set(last.extra["unfinished_parts"]) >= {2, 3, 4, 5}   # never started
    assert np.array_equal(last.result.data[-8:, -8:], p.data[-8:, -8:])


def _die(item, control):
    import os
    os._exit(3)
    yield


def test_a_worker_killed_mid_fit_is_reported_as_such_not_as_a_hang():
    with pytest.raises(parallel.WorkerDied, match="exit code 3"):
        list(parallel.in_processes([1, 2], _die, workers=1, threads=1, control=restore.Control()))


def test_a_killed_worker_reaches_the_user_as_a_run_error_naming_the_likely_cause(monkeypatch):
    def killed(*a, **k):
        raise parallel.WorkerDied("a fitting process ended without a word (exit code -9)")
        yield
    monkeypatch.setattr(parallel, "fit_parts", killed)
    job = restore.Job("denoise", noisy(), preset="fast", iters=5, channels=8, tile=48, overlap=16, workers=2, threads=1)
    with pytest.raises(restore.RunError, match=r"exit code -9\) while fitting \d+x\d+ pixels.*memory.*--workers 1"):
        list(restore.run(job))


def _linger(pid_file, control):
    """A part that never ends by itself (up to a minute): it only writes down its process id."""
    Path(pid_file).write_text(str(os.getpid()))
    for _ in range(600):
        time.sleep(0.1)
    yield from ()


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"   # a zombie has stopped; whoever adopted it may not reap it at once


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc")
def test_workers_end_when_the_app_is_killed(tmp_path):
    """Killed from a task manager, the app gets no chance to stop its workers: they notice and end
    instead of holding the cores for the rest of the photo."""
    pid_file = tmp_path / "worker.pid"
    script = ("from dip_engine import parallel, restore\n"
              "from tests.engine.test_parallel import _linger\n"
              "if __name__ == '__main__':\n"
              f"    list(parallel.in_processes([{str(pid_file)!r}], _linger, workers=1, threads=1,"
              " control=restore.Control()))\n")
    app = subprocess.Popen([sys.executable, "-c", script], cwd=Path(__file__).parents[2])
    try:
        for _ in range(600):
            if pid_file.exists() and pid_file.read_text():
                break
            assert app.poll() is None, "the parent ended before its worker started"
            time.sleep(0.1)
        worker = int(pid_file.read_text())
        assert _running(worker)
        app.send_signal(signal.SIGKILL)
        app.wait()
        for _ in range(100):   # POLL_S is 0.1 s
            if not _running(worker):
                break
            time.sleep(0.1)
        assert not _running(worker)
    finally:
        app.kill()
        if pid_file.exists() and pid_file.read_text() and _running(int(pid_file.read_text())):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
