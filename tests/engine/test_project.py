"""Project files: round trip, photo by reference, clear errors, atomic writes, resumable runs."""
from __future__ import annotations

import dataclasses
import errno
import io
import json
import os
import signal
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch

from dip_engine import imageio, project, restore
from dip_engine.imageio import Photo
from dip_engine.project import HistoryItem, Project, ProjectError, load_project, save_project
from tests.conftest import REPO, smooth_image

FAST = dict(preset="fast", channels=8, stop="never")
ONE_FIT = dict(FAST, preset="draft")   # denoising with one fit, resumed from the fit's own state


def photo_file(tmp_path, bits=8, name="photo.png", h=24, w=28):
    top = 255 if bits == 8 else 65535
    data = np.rint(smooth_image(h, w) * top).astype(np.uint8 if bits == 8 else np.uint16)
    path = tmp_path / name
    imageio.save_image(Photo(data, dpi=(150.0, 150.0), text={"Comment": "hello"}), path, overwrite=True)
    return imageio.load_image(path), path


def stopped_at(job, k):
    """Run `job`, stop at iteration k: the final Step (it carries the checkpoint)."""
    control, last = restore.Control(), None
    for last in restore.run(job, control):
        if last.iteration == k:
            control.stop()
    return last


def full_project(tmp_path, bits=8):
    ph, path = photo_file(tmp_path, bits)
    mask = np.zeros((ph.height, ph.width), bool)
    mask[5:12, 8:20] = True
    job = restore.Job("inpaint", ph, mask=mask, iters=30, seed=7, lr=0.02, **FAST)
    last = stopped_at(job, 4)
    rng = np.random.default_rng(1)
    hist = [HistoryItem(2, rng.random((10, 12, 3), np.float32), (1, 2, 11, 14), 0.5),
            HistoryItem(4, last.image, last.region, float(last.loss), final=True)]
    return Project.from_job(job, history=hist, checkpoint=last.checkpoint, result=last.result,
                            result_meta=restore.metadata(job, last), photo_path=str(path), name="My photo",
                            extra={"ui": {"zoom": 2}}), job


def equal_nested(a, b):
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(equal_nested(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(equal_nested(x, y) for x, y in zip(a, b))
    return a == b or (a != a and b != b)


@pytest.mark.parametrize("bits", [8, 16])
def test_round_trip_gives_every_field_back(tmp_path, bits):
    p, job = full_project(tmp_path, bits)
    out = save_project(p, tmp_path / "a.dipproj")
    q = load_project(out)
    assert np.array_equal(q.photo.data, p.photo.data) and q.photo.data.dtype == p.photo.data.dtype
    assert (q.photo.dpi, q.photo.icc_profile, q.photo.exif, q.photo.format) == \
        (p.photo.dpi, p.photo.icc_profile, p.photo.exif, p.photo.format)
    assert q.settings == p.settings and q.settings["seed"] == 7 and q.settings["lr"] == 0.02
    assert np.array_equal(q.mask, p.mask) and q.mask.dtype == bool
    top = 255 if bits == 8 else 65535
    assert [(h.iteration, h.region, h.loss, h.final) for h in q.history] == \
        [(h.iteration, tuple(h.region), h.loss, h.final) for h in p.history]
    for a, b in zip(q.history, p.history):
        assert a.image.shape == b.image.shape and np.abs(a.image - b.image).max() <= 0.5 / top + 1e-7
    assert equal_nested(q.checkpoint, p.checkpoint)
    assert np.array_equal(q.result.data, p.result.data) and q.result_meta == p.result_meta
    assert (q.photo_path, q.embed_photo, q.name, q.extra) == (p.photo_path, True, "My photo", {"ui": {"zoom": 2}})
    assert q.program.startswith("DIP Studio") and q.checkpoint_iteration == 4
    assert q.job().task == "inpaint" and np.array_equal(q.job().mask, p.mask)
    # the original file's bytes are embedded, so the photo does not depend on the file any more
    with zipfile.ZipFile(out) as zf:
        assert zf.read("photo.png") == open(p.photo_path, "rb").read()
        m = json.loads(zf.read("manifest.json"))
        # a checkpoint is plain data: it loads without unpickling code
        torch.load(io.BytesIO(zf.read("checkpoint.pt")), weights_only=True)
    assert m["version"] == project.FORMAT_VERSION and m["checkpoint"]["iteration"] == 4
    os.remove(p.photo_path)
    assert np.array_equal(load_project(out).photo.data, p.photo.data)


def test_a_changed_photo_is_embedded_as_itself_not_as_its_file(tmp_path):
    ph, path = photo_file(tmp_path)
    edited = ph.with_data(255 - ph.data)          # e.g. a result made the photo; source still points at the file
    out = save_project(Project(edited, {"task": "denoise"}, photo_path=str(path)), tmp_path / "b.dipproj")
    assert np.array_equal(load_project(out).photo.data, edited.data)


def test_photo_by_reference_with_checksum(tmp_path):
    ph, path = photo_file(tmp_path)
    p = Project(ph, {"task": "denoise", "seed": 3}, photo_path=str(path), embed_photo=False)
    out = save_project(p, tmp_path / "ref.dipproj")
    with zipfile.ZipFile(out) as zf:
        assert not [n for n in zf.namelist() if n.startswith("photo")]
    q = load_project(out)
    assert not q.embed_photo and np.array_equal(q.photo.data, ph.data) and q.photo_path == str(path.resolve())
    # changed on disk: refused with a clear line
    imageio.save_image(ph.with_data(255 - ph.data), path, overwrite=True)
    with pytest.raises(ProjectError, match="has changed since the project was saved"):
        load_project(out)
    os.remove(path)
    with pytest.raises(ProjectError, match="is missing"):
        load_project(out)
    with pytest.raises(ProjectError, match="embed the photo"):     # nothing to refer to
        save_project(p, tmp_path / "ref2.dipproj")


def test_bad_files_give_one_line_errors(tmp_path):
    junk = tmp_path / "junk.dipproj"
    junk.write_bytes(b"hello, not a zip")
    bare = tmp_path / "bare.dipproj"
    with zipfile.ZipFile(bare, "w") as zf:
        zf.writestr("readme.txt", "x")
    newer = tmp_path / "newer.dipproj"
    ph, _ = photo_file(tmp_path)
    save_project(Project(ph, {"task": "denoise"}), newer)
    with zipfile.ZipFile(newer) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    m = json.loads(members["manifest.json"])
    m.update(version=project.FORMAT_VERSION + 1, program="DIP Studio 9.0")
    members["manifest.json"] = json.dumps(m).encode()
    with zipfile.ZipFile(newer, "w") as zf:
        for n, b in members.items():
            zf.writestr(n, b)
    damaged = tmp_path / "damaged.dipproj"
    full, _ = full_project(tmp_path)
    data = save_project(full, tmp_path / "ok.dipproj").read_bytes()
    damaged.write_bytes(data[: len(data) // 2])
    for path, needle in ((junk, "not a DIP Studio project"), (bare, "no manifest"),
                         (newer, "newer DIP Studio"), (damaged, "not a DIP Studio project|damaged"),
                         (tmp_path / "none.dipproj", "no such project")):
        with pytest.raises(ProjectError, match=needle) as e:
            load_project(path)
        assert "\n" not in str(e.value)


def test_a_failed_write_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    p, _ = full_project(tmp_path)
    out = save_project(p, tmp_path / "keep.dipproj")
    before = out.read_bytes()
    real = project._write_zip

    def disk_full(fp, members):
        real(fp, members[:2])                 # part of the file is written, then the disk is full
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(project, "_write_zip", disk_full)
    p.name = "changed"
    with pytest.raises(ProjectError, match="No space left") as e:
        save_project(p, out)
    assert "\n" not in str(e.value)
    assert out.read_bytes() == before and load_project(out).name == "My photo"
    assert sorted(f.name for f in tmp_path.iterdir() if f.name.endswith(".tmp")) == []


def test_a_read_only_folder_is_a_clear_error(tmp_path, monkeypatch):
    p, _ = full_project(tmp_path)
    folder = tmp_path / "ro"
    folder.mkdir()
    out = save_project(p, folder / "p.dipproj")
    if os.name == "posix" and os.geteuid() != 0:
        folder.chmod(0o500)
    else:                                  # root may write anywhere: refuse the temp file instead
        real_open = os.open
        monkeypatch.setattr(imageio.os, "open", lambda f, *a, **k: (_ for _ in ()).throw(
            PermissionError(errno.EACCES, os.strerror(errno.EACCES))) if str(f).endswith(".tmp")
            else real_open(f, *a, **k))
    try:
        with pytest.raises(ProjectError, match="cannot write in this folder"):
            save_project(p, out)
        assert load_project(out).name == "My photo"
    finally:
        folder.chmod(0o700)


KILL_SCRIPT = r"""
import sys, time
import numpy as np
from dip_engine import project
from dip_engine.imageio import Photo
real = project._write_zip
def slow(fp, members):
    real(fp, members[:1])
    fp.flush()
    print("WRITING", flush=True)
    time.sleep(120)
project._write_zip = slow
rng = np.random.default_rng(0)
p = project.Project(Photo(rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)), {"task": "denoise"}, name="new")
project.save_project(p, sys.argv[1])
"""


def test_a_process_killed_while_writing_leaves_the_previous_file_readable(tmp_path):
    ph, _ = photo_file(tmp_path)
    out = save_project(Project(ph, {"task": "denoise"}, name="old"), tmp_path / "auto.dipproj")
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(out)], cwd=REPO, stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout.readline().strip() == "WRITING"
        temps = [f for f in tmp_path.iterdir() if f.name.endswith(".tmp")]
        assert temps and temps[0].stat().st_size > 0            # the new file is half written...
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        proc.kill()
    assert load_project(out).name == "old"                       # ... and the old one is untouched
    save_project(Project(ph, {"task": "denoise"}, name="next"), out)
    assert load_project(out).name == "next"


def test_stopped_run_saved_loaded_and_resumed_equals_an_uninterrupted_run(tmp_path):
    ph, path = photo_file(tmp_path)
    job = restore.Job("denoise", ph, iters=12, seed=5, **ONE_FIT)
    *_, full = restore.run(job)
    first = stopped_at(job, 5)
    assert first.stopped_by == "user" and first.checkpoint["iteration"] == 5
    out = save_project(Project.from_job(job, checkpoint=first.checkpoint, photo_path=str(path)),
                       tmp_path / "run.dipproj")
    q = load_project(out)
    steps = list(restore.run(q.job(), resume=q.checkpoint))
    assert steps[0].iteration == 6 and "Continuing the saved run from iteration 5" in steps[0].extra["notes"][0]
    assert steps[-1].iteration == 12 and steps[-1].done
    np.testing.assert_allclose(steps[-1].image, full.image, atol=1e-5)
    assert np.array_equal(steps[-1].result.data, full.result.data)


def test_inpaint_resume_checks_the_mask_and_settings(tmp_path):
    p, job = full_project(tmp_path)
    q = load_project(save_project(p, tmp_path / "i.dipproj"))
    other = q.mask.copy()
    other[0, 0] = True
    with pytest.raises(restore.JobError, match="mask has changed"):
        next(restore.run(q.job(mask=other), resume=q.checkpoint))
    with pytest.raises(restore.JobError, match="seed"):
        next(restore.run(q.job(seed=8), resume=q.checkpoint))
    ckpt = dict(q.checkpoint)
    del ckpt["run"]                       # e.g. damaged
    with pytest.raises(restore.JobError, match="which photo and settings"):
        next(restore.run(q.job(), resume=ckpt))
    *_, last = restore.run(q.job(iters=6), resume=q.checkpoint)
    assert last.iteration == 6 and last.done


def test_confidence_and_variations_round_trip_with_the_chosen_one(tmp_path):
    p, job = full_project(tmp_path)
    rng = np.random.default_rng(3)
    h, w = p.result.height, p.result.width
    p.confidence = rng.random((h, w), np.float32) * 0.05
    for seed in (7, 8):
        vjob = dataclasses.replace(job, seed=seed)
        last = stopped_at(vjob, 3)
        p.variations.append(project.Variation(seed, last.result, restore.metadata(vjob, last),
                                              rng.random((h, w), np.float32)))
    p.variations[1].confidence = None
    out = save_project(p, tmp_path / "v.dipproj")
    q = load_project(out)
    assert np.array_equal(q.confidence, p.confidence) and q.confidence.dtype == np.float32
    # the snapshots keep their maps too (the first one has none)
    t, l, b, r_ = p.history[-1].region
    p.history[-1].confidence = rng.random((b - t, r_ - l), np.float32)
    s = load_project(save_project(p, tmp_path / "s.dipproj"))
    assert np.array_equal(s.history[-1].confidence, p.history[-1].confidence)
    assert all(h.confidence is None for h in s.history[:-1])
    assert [v.seed for v in q.variations] == [7, 8] and q.chosen is None
    assert [v.metadata["dip:seed"] for v in q.variations] == ["7", "8"]
    for a, b in zip(q.variations, p.variations):
        assert np.array_equal(a.result.data, b.result.data)
    assert np.array_equal(q.variations[0].confidence, p.variations[0].confidence)
    assert q.variations[1].confidence is None
    q.choose(1)
    r = load_project(save_project(q, tmp_path / "w.dipproj"))
    assert r.chosen == 1 and r.confidence is None and r.result_meta["dip:seed"] == "8"
    assert np.array_equal(r.result.data, p.variations[1].result.data)
    r.choose(0)
    assert np.array_equal(r.confidence, p.variations[0].confidence)
    with pytest.raises(ProjectError, match="no variation 3"):
        r.choose(2)


def test_a_project_without_confidence_or_variations_still_opens(tmp_path):
    p, _ = full_project(tmp_path)
    out = save_project(p, tmp_path / "old.dipproj")
    # an older project: its manifest has no confidence, variations or chosen keys
    with zipfile.ZipFile(out) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    m = json.loads(members["manifest.json"])
    for k in ("confidence", "variations", "chosen"):
        del m[k]
    members["manifest.json"] = json.dumps(m).encode()
    with zipfile.ZipFile(out, "w") as zf:
        for n, b in members.items():
            zf.writestr(n, b)
    q = load_project(out)
    assert q.confidence is None and q.variations == [] and q.chosen is None
    assert np.array_equal(q.result.data, p.result.data)


def test_a_run_in_tiles_saved_and_resumed_keeps_its_finished_tiles_and_equals_an_uninterrupted_run(tmp_path,
                                                                                                  monkeypatch):
    # every tile counts as usable, so the tiles' own images (not the classical answer) are compared
    monkeypatch.setattr(restore.classical, "usable_mse", lambda *a, **k: None)
    ph, path = photo_file(tmp_path, h=40, w=56)
    job = restore.Job("denoise", ph, iters=6, seed=5, tile=24, overlap=8, workers=1, **FAST)
    *_, full = restore.run(job)
    n = full.extra["parts"]
    assert n > 3 and [p["index"] for p in full.checkpoint["parts"]] == list(range(n))
    assert all("image" in p for p in full.checkpoint["parts"]) and full.usable   # each tile's own image
    turn = restore.eta.order(n)            # the order the tiles are fitted in (shuffled)
    control, steps = restore.Control(), []
    for s in restore.run(job, control):
        steps.append(s)
        if s.extra.get("part") == turn[2]:
            control.stop()                 # two tiles are done, the third is cut short
    first = steps[-1]
    assert first.stopped_by == "user"
    ckpt = first.checkpoint
    assert [p["index"] for p in ckpt["parts"]] == sorted(turn[:2]) and ckpt["iteration"] == 12
    out = save_project(Project.from_job(job, checkpoint=ckpt, photo_path=str(path)), tmp_path / "tiles.dipproj")
    q = load_project(out)
    assert q.checkpoint_iteration == 12
    resumed = list(restore.run(q.job(), resume=q.checkpoint))
    assert f"2 of {n} parts are done" in resumed[0].extra["notes"][0] and resumed[0].iteration == 12
    assert {s.extra["part"] for s in resumed[1:-1]} == set(range(n)) - set(turn[:2])   # done tiles stay done
    s = resumed[1]   # the pace (and so the ETA) counts only the iterations fitted in this run
    assert s.iteration == 13 and s.s_per_iter == pytest.approx(s.elapsed_s / 1, rel=1e-6)
    last = resumed[-1]
    assert last.done and last.iteration == full.iteration == 6 * n and last.stopped_by == "iterations"
    np.testing.assert_allclose(last.image, full.image, atol=1e-5)
    assert np.array_equal(last.result.data, full.result.data)
    # a run in parts checks what it resumes like a run in one piece
    with pytest.raises(restore.JobError, match="seed"):
        next(restore.run(q.job(seed=6), resume=q.checkpoint))
    data = ph.data.copy()
    data[0, 0] ^= 1
    with pytest.raises(restore.JobError, match="photo differs"):
        next(restore.run(dataclasses.replace(q.job(), photo=Photo(data)), resume=q.checkpoint))
    for broken in ({"index": n}, {"image": ckpt["parts"][0]["image"][1:]}):
        bad = dict(q.checkpoint, parts=[dict(q.checkpoint["parts"][0], **broken)])
        with pytest.raises(restore.JobError, match="damaged"):
            next(restore.run(q.job(), resume=bad))


def test_a_run_in_tiles_that_the_planner_would_now_cut_otherwise_resumes_its_own_tiles(tmp_path, monkeypatch):
    monkeypatch.setattr(restore.classical, "usable_mse", lambda *a, **k: None)   # the tiles' own images
    ph, _ = photo_file(tmp_path, h=40, w=56)
    job = restore.Job("denoise", ph, iters=4, seed=5, tile=24, overlap=8, workers=1, **FAST)
    *_, full = restore.run(job)
    ckpt = stopped_at(job, 8).checkpoint      # two tiles done
    resumed = list(restore.run(dataclasses.replace(job, tile=32), resume=ckpt))
    assert resumed[-1].extra["parts"] == full.extra["parts"]
    assert any("tiles of the saved run" in note for note in resumed[0].extra["notes"])
    np.testing.assert_allclose(resumed[-1].image, full.image, atol=1e-5)
