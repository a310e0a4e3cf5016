"""Batch restoration: inputs and masks, the manifest, resuming after kill -9, workers and Ray."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dip_engine import batch, cli, imageio
from dip_engine.batch import inputs, manifest

# a hang guard only: these runs start worker processes (each imports torch) and take seconds to a
# minute each on an idle 2-core machine, much longer when it is shared
pytestmark = pytest.mark.timeout(600)

ROOT = Path(__file__).resolve().parents[2]
FAST = ["--iters", "8", "--threads", "1", "--quiet"]


def photos(folder: Path, n: int, size: int = 32, seed: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        y, x = np.mgrid[0:size, 0:size]
        img = np.stack([x * 255 / size, y * 255 / size, (x + y) * 127 / size], -1) + rng.normal(0, 20, (size, size, 3))
        p = folder / f"p{i}.png"
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(p)
        out.append(p)
    return out


def mask_for(photo: Path, size: int = 32) -> Path:
    m = np.zeros((size, size), np.uint8)
    m[10:14, 6:26] = 255
    p = photo.with_name(f"{photo.stem}.mask.png")
    Image.fromarray(m).save(p)
    return p


def states(outdir: Path) -> dict[str, manifest.PhotoState]:
    return manifest.read(outdir)[1]


def leftovers(outdir: Path) -> list[str]:
    """Files in the output folder that are neither a recorded output nor the manifest."""
    done = {k for k, s in states(outdir).items() if s.state == "done"}
    return sorted(p.relative_to(outdir).as_posix() for p in outdir.rglob("*")
                  if p.is_file() and p.name != manifest.NAME and p.relative_to(outdir).as_posix() not in done)


def cli_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "dip_engine", "batch", *args]


# --------------------------------------------------------------------------- inputs and masks

def test_discover_folders_globs_masks_and_clashes(tmp_path):
    src = tmp_path / "in"
    a, b = photos(src, 2)
    mask_for(a)
    (src / "notes.txt").write_text("not a photo")
    (src / "sub").mkdir()
    (src / "sub" / "p0.jpg").write_bytes(a.read_bytes())
    (src / "p1.jpg").write_bytes(b.read_bytes())      # same stem as p1.png: same output name
    out = tmp_path / "out"
    items = batch.discover([str(src)], out, "inpaint")
    assert [i.input.name for i in items] == ["p0.png", "p1.jpg", "p1.png"]   # masks, text files skipped
    assert items[0].mask == src / "p0.mask.png" and items[0].problem is None
    assert "rename one" in items[2].problem
    assert "no mask found" in items[1].problem and "p1.mask.png" in items[1].problem
    rec = batch.discover([str(src)], out, "denoise", recursive=True, name="{stem}-{task}.webp")
    assert [i.key for i in rec] == ["p0-denoise.webp", "p1-denoise.webp", "p1-denoise.webp#2",
                                    "sub/p0-denoise.webp"]
    assert [i.input.name for i in batch.discover([str(src / "*.png")], out, "jpeg")] == ["p0.png", "p1.png"]
    masks = tmp_path / "masks"
    masks.mkdir()
    Image.fromarray(np.full((32, 32), 255, np.uint8)).save(masks / "p1.png")
    found = batch.discover([str(b)], out, "inpaint", masks=masks)
    assert found[0].mask == masks / "p1.png" and found[0].problem is None


@pytest.mark.parametrize("pattern, says", [("{name}.png", "unknown field"), ("{task}.png", "needs {stem}"),
                                           ("{stem}.gif", "unsupported output type"), ("{stem", "not a valid")])
def test_bad_name_pattern_is_one_clear_line(tmp_path, capsys, pattern, says):
    photos(tmp_path / "in", 1)
    assert cli.main(["batch", "denoise", str(tmp_path / "in"), "-o", str(tmp_path / "o"), "--name", pattern]) == 2
    err = capsys.readouterr().err.strip()
    assert says in err and err.count("\n") == 0 and "Traceback" not in err


@pytest.mark.parametrize("args, says", [
    (["denoise", "{tmp}/missing", "-o", "{tmp}/o"], "no such file or folder"),
    (["sr", "{tmp}/in", "-o", "{tmp}/o"], "--scale"),
    (["denoise", "{tmp}/in", "-o", "{tmp}/o", "--preset", "paper-holes"], "not a denoise preset"),
    (["denoise", "{tmp}/in", "-o", "{tmp}/o", "--workers", "0"], "--workers must be at least 1"),
    (["denoise", "{tmp}/empty", "-o", "{tmp}/o"], "no photos found"),
    pytest.param(["denoise", "{tmp}/in", "-o", "{tmp}/o", "--device", "mps"], "MPS is not available",
                 marks=pytest.mark.skipif(sys.platform == "darwin", reason="macOS may have MPS")),
])
def test_bad_usage_exits_2_with_one_line(tmp_path, capsys, args, says):
    photos(tmp_path / "in", 1)
    (tmp_path / "empty").mkdir()
    assert cli.main(["batch", *[a.format(tmp=tmp_path) for a in args]]) == 2
    err = capsys.readouterr().err.strip()
    assert says in err and err.count("\n") == 0


def test_workers_times_threads_never_exceed_the_cores(tmp_path, monkeypatch):
    monkeypatch.setattr(batch.runner, "cores", lambda: 4)
    spec = batch.Spec("denoise", [], tmp_path, device="cpu")
    items = [batch.Item(p.name, p, tmp_path / p.name) for p in photos(tmp_path / "in", 6)]
    w, t, notes = batch.plan_workers(spec, items)
    assert (w, t, notes) == (4, 1, [])                       # small photos: one per core
    assert batch.plan_workers(spec, items, workers=2)[:2] == (2, 2)
    w, t, notes = batch.plan_workers(spec, items, workers=2, threads=4)
    assert (w, t) == (2, 2) and "exceed the 4 cores" in notes[0]
    w, t, notes = batch.plan_workers(spec, items, workers=9)
    assert (w, t) == (4, 1) and "more than the 4 cores" in notes[0]
    monkeypatch.setattr(batch.runner.memory, "budget", lambda device="cpu": 3 * batch.runner.photo_bytes(spec, 32, 32))
    assert batch.plan_workers(spec, items)[0] == 3           # the memory plan bounds the workers
    assert batch.plan_workers(spec, items, workers=1) == (1, 4, [])   # one at a time: all cores


# --------------------------------------------------------------------------- manifest

def test_manifest_drops_a_torn_line_and_locks_the_folder(tmp_path):
    with manifest.Manifest(tmp_path) as m:
        m.begin({"task": "denoise"}, {"inputs": []})
        m.set("a.png", "pending")
        m.set("a.png", "done", sha256="x")
        with pytest.raises(manifest.ManifestError, match="another batch is writing"):
            manifest.Manifest(tmp_path)
        with pytest.raises(manifest.ManifestError, match="other settings"):
            m.begin({"task": "jpeg"}, {})
    with open(tmp_path / manifest.NAME, "ab") as f:
        f.write(b'{"photo":"b.png","state":"runn')      # a power cut mid-line
    (tmp_path / ".b.png.0123abcd.tmp").write_bytes(b"\x89PNG half")
    with manifest.Manifest(tmp_path) as m:
        assert m.removed_temp == 1 and not (tmp_path / ".b.png.0123abcd.tmp").exists()
        assert {k: s.state for k, s in m.photos.items()} == {"a.png": "done"}
        m.set("b.png", "failed", reason="r")
    lines = (tmp_path / manifest.NAME).read_text().splitlines()
    assert [json.loads(x).get("state") for x in lines] == [None, "pending", "done", "failed"]


# --------------------------------------------------------------------------- runs

def test_bad_file_and_missing_mask_are_reported_and_the_rest_is_done(tmp_path, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    good = photos(src, 2)
    for p in good:
        mask_for(p)
    photos(tmp_path / "nomask", 1)[0].rename(src / "lonely.png")
    (src / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is no jpeg")
    mask_for(src / "broken.jpg")
    code = cli.main(["batch", "inpaint", str(src), "-o", str(out), "--json", *FAST])
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert code == 1
    assert (summary["done"], summary["failed"], summary["left"]) == (2, 2, 0)
    reasons = {f["photo"]: f["reason"] for f in summary["failures"]}
    assert "broken.jpg" in reasons["broken_inpaint.png"] and "\n" not in reasons["broken_inpaint.png"]
    assert "no mask found" in reasons["lonely_inpaint.png"]
    assert "batch: 2 done, 2 failed of 4 photos" in captured.err
    for p in good:   # only the masked pixels changed
        before, after = imageio.load_image(p).data, imageio.load_image(out / f"{p.stem}_inpaint.png").data
        m = imageio.load_mask(p.with_name(f"{p.stem}.mask.png"))
        assert np.array_equal(before[~m], after[~m]) and not np.array_equal(before[m], after[m])
    assert leftovers(out) == []
    # again: done photos are not redone, failed ones are tried again (and fail again)
    assert cli.main(["batch", "inpaint", str(src), "-o", str(out), *FAST]) == 1
    st = states(out)
    assert [st[f"{p.stem}_inpaint.png"].runs for p in good] == [1, 1]
    assert "batch: 2 done (2 earlier), 2 failed" in capsys.readouterr().err


def test_two_workers_give_the_same_outputs_as_one(tmp_path):
    src = tmp_path / "in"
    photos(src, 3)
    sums = []
    for w in ("1", "2"):
        out = tmp_path / f"out{w}"
        assert cli.main(["batch", "denoise", str(src), "-o", str(out), "--workers", w, "--strip-metadata",
                         "--seed", "3", *FAST]) == 0
        sums.append({k: s.record["sha256"] for k, s in states(out).items()})
        assert {batch.read(out)[0][-1]["recipe"]["seed"]} == {3}
    assert len(sums[0]) == 3 and sums[0] == sums[1]


def _wait_for(pred, proc, timeout=120.0):
    t = time.monotonic()
    while time.monotonic() - t < timeout:
        if pred():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.05)
    return False


def test_resume_after_kill_9_mid_photo(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    photos(src, 2)
    args = cli_cmd("denoise", str(src), "-o", str(out), "--iters", "40", "--stop", "never", "--workers", "1",
                   "--threads", "1", "--quiet")
    proc = subprocess.Popen(args, cwd=ROOT, start_new_session=True, stderr=subprocess.PIPE)

    def one_done_one_running():
        s = [x.state for x in states(out).values()]
        return "done" in s and "running" in s
    try:
        assert _wait_for(one_done_one_running, proc), proc.stderr.read().decode()[-2000:]
    finally:
        os.killpg(proc.pid, signal.SIGKILL)    # the batch and its worker, like a power cut
        proc.wait()
    before = states(out)
    first = next(k for k, s in before.items() if s.state == "done")
    interrupted = next(k for k, s in before.items() if s.state == "running")
    stamp = (out / first).stat().st_mtime_ns
    assert not (out / interrupted).exists()
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    after = states(out)
    assert {k: s.state for k, s in after.items()} == {k: "done" for k in before}
    assert after[first].runs == 1 and (out / first).stat().st_mtime_ns == stamp     # not redone
    assert after[interrupted].runs == 2
    assert leftovers(out) == []
    assert "1 earlier" in done.stderr


KILL_ON_SECOND_RENAME = textwrap.dedent("""
    import os, signal, sys
    from dip_engine import cli
    outdir, real, n = os.path.abspath(sys.argv[1]), os.replace, [0]
    def replace(src, dst, *a, **k):
        # the second result: written to its temporary file, not yet renamed
        if os.path.dirname(os.path.abspath(dst)) == outdir and str(dst).endswith(".png"):
            n[0] += 1
            if n[0] == 2:
                os.kill(os.getpid(), signal.SIGKILL)
        return real(src, dst, *a, **k)
    os.replace = replace
    sys.exit(cli.main(sys.argv[2:]))
""")


def test_resume_after_kill_9_mid_write(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    photos(src, 2)
    args = ["batch", "denoise", str(src), "-o", str(out), "--workers", "1", *FAST]
    killed = subprocess.run([sys.executable, "-c", KILL_ON_SECOND_RENAME, str(out), *args], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    st = states(out)
    assert sorted(s.state for s in st.values()) == ["done", "running"]
    partial = [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
    assert len(partial) == 1      # the half-finished output, under its temporary name only
    first = next(k for k, s in st.items() if s.state == "done")
    resumed = subprocess.run(cli_cmd(*args[1:]), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    after = states(out)
    assert all(s.state == "done" for s in after.values()) and after[first].runs == 1
    assert leftovers(out) == []
    for k in after:
        assert imageio.load_image(out / k).width == 32


@pytest.mark.timeout(240)   # a local Ray instance starts in seconds; bounded so CI can always run it
def test_ray_gives_the_same_outputs_as_local_workers(tmp_path):
    pytest.importorskip("ray", reason="Ray is not installed (the optional 'cluster' extra): "
                                      "pip install -c constraints.txt -e '.[cluster]' to run this test")
    import ray
    src = tmp_path / "in"
    photos(src, 2)
    common = dict(iters=8, strip_metadata=True, seed=1)
    local = batch.run(batch.Spec("jpeg", [str(src)], tmp_path / "local", **common), workers=2, threads=1)
    events = []
    try:
        on_ray = batch.run(batch.Spec("jpeg", [str(src)], tmp_path / "ray", **common),
                           pool=batch.RayPool(threads=1, init={"num_cpus": 2}), on_event=events.append)
    finally:
        ray.shutdown()
    assert (local["done"], on_ray["done"], on_ray["backend"]) == (2, 2, "ray")
    sums = [{k: s.record["sha256"] for k, s in states(tmp_path / d).items()} for d in ("local", "ray")]
    assert sums[0] == sums[1]
    assert {e.key for e in events if e.kind == "progress"} <= set(sums[1])
    # a batch started on Ray continues locally: nothing is redone
    photos(tmp_path / "more", 1, seed=7)[0].rename(src / "p9.png")
    again = batch.run(batch.Spec("jpeg", [str(src)], tmp_path / "ray", **common), workers=1, threads=1)
    assert (again["done_earlier"], again["done_now"], again["backend"]) == (2, 1, "local")


def test_without_ray_the_cluster_option_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)      # as if the extra were not installed
    photos(tmp_path / "in", 1)
    assert cli.main(["batch", "denoise", str(tmp_path / "in"), "-o", str(tmp_path / "o"), "--ray", *FAST]) == 2
    assert "pip install 'dip-studio[cluster]'" in capsys.readouterr().err
