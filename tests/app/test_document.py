"""The document model on its own: no widgets, no engine run."""
from types import SimpleNamespace

import numpy as np
import pytest

from app.model.document import Document
from app.model.task import TaskSettings


def _photo(w=40, h=30, value=0.5):
    data = np.full((h, w, 3), value, dtype=np.float32)
    data[:, : w // 2] = 0.0          # left half black, right half grey
    return SimpleNamespace(data=data, width=w, height=h, icc_profile=None)


def _recorder(doc):
    seen = []
    for ev in ("settings", "photo", "mask", "history", "result", "run"):
        doc.on(ev, lambda *a, ev=ev: seen.append((ev, a)))
    return seen


def _outcome(result, stopped_by="iterations", checkpoint=None, metadata=None):
    return SimpleNamespace(result=result, stopped_by=stopped_by, checkpoint=checkpoint, metadata=metadata or {})


def test_load_replaces_everything_and_says_so_once(tmp_path):
    doc = Document()
    seen = _recorder(doc)
    photo = _photo()
    doc.load(photo, str(tmp_path / "a" / ".." / "pic.png"))
    assert [ev for ev, _ in seen] == ["photo"]
    assert doc.photo is photo and doc.name == "pic.png" and doc.path == str(tmp_path / "pic.png")
    assert doc.display.dtype == np.uint8 and doc.display.shape == (30, 40, 3)
    assert doc.display[0, 0].tolist() == [0, 0, 0] and doc.display[0, -1].tolist() == [128, 128, 128]
    assert doc.thumb.shape[0] == 64 and doc.mask.array.shape == (30, 40) and not doc.mask.array.any()
    assert doc.result is None and not doc.unsaved_result and len(doc.history) == 0
    doc.load(_photo(), None, name="Pasted image")
    assert doc.path is None and doc.name == "Pasted image"
    with pytest.raises(ValueError):
        doc.on("frame", print)


def test_mask_edits_reach_listeners_with_their_box():
    doc = Document()
    doc.load(_photo())
    seen = _recorder(doc)
    doc.mask.set_mask(np.pad(np.ones((4, 5), bool), ((2, 24), (3, 32))), "Load mask")
    assert seen and all(ev == "mask" for ev, _ in seen)
    assert doc.mask.count() == 20


def test_settings_change_only_when_different():
    doc = Document()
    seen = _recorder(doc)
    doc.set_settings(TaskSettings())
    assert seen == []
    doc.set_settings(TaskSettings(task="sr", scale=4))
    assert [ev for ev, _ in seen] == ["settings"] and doc.settings.scale == 4


def test_a_run_from_start_to_result_to_saved():
    doc = Document()
    doc.load(_photo())
    seen = _recorder(doc)
    job = SimpleNamespace(task="sr", scale=2)
    doc.start_run(job, resume=False)
    assert doc.run_state == "running" and doc.out_size == (80, 60) and doc.out_scale == 2
    img = np.ones((60, 40, 3), np.float32)          # the right half of the 2x output, white
    snap = doc.snapshot(10, 0.1, img, (0, 40, 60, 80))
    doc.add_snapshot(snap)
    assert ("history", (snap, None)) in seen and doc.history.iterations() == [10]
    # the thumbnail is the whole picture: the photo's black left half, the white region on the right
    th = snap.thumb
    assert th[th.shape[0] // 2, 2].tolist() == [0, 0, 0] and th[th.shape[0] // 2, -2].tolist() == [255, 255, 255]
    result = object()
    doc.finish_run(_outcome(result, "auto", checkpoint={"iteration": 10}, metadata={"dip:iterations": "10"}))
    assert doc.result is result and doc.unsaved_result and doc.result_snapshot is None
    assert doc.checkpoint_iteration == 10 and doc.run_state == "auto"
    seen.clear()
    doc.mark_saved()
    doc.mark_saved()                                  # already saved: nothing to say
    assert [ev for ev, _ in seen] == ["result"] and not doc.unsaved_result


def test_a_snapshot_made_the_result_and_a_resumed_run():
    doc = Document()
    doc.load(_photo())
    doc.start_run(SimpleNamespace(task="denoise"), resume=False)
    snaps = [doc.snapshot(it, 0.1, np.zeros((30, 40, 3), np.float32), (0, 0, 30, 40)) for it in (10, 15)]
    for s in snaps:
        doc.add_snapshot(s)
    doc.finish_run(_outcome(object(), "user", checkpoint={"iteration": 15}, metadata={"dip:iterations": "15"}))
    doc.mark_saved()
    picked = object()
    doc.make_result(snaps[0], picked)
    assert doc.result is picked and doc.result_iteration == 10 and doc.unsaved_result
    assert doc.result_meta == {"dip:iterations": "10", "dip:stopped_by": "snapshot"}
    doc.start_run(doc.job, resume=True)               # continuing keeps history and checkpoint
    assert doc.history.iterations() == [10, 15] and doc.checkpoint_iteration == 15 and doc.result is None
    doc.start_run(doc.job, resume=False)              # a fresh run forgets them
    assert len(doc.history) == 0 and doc.checkpoint is None


def test_loading_a_saved_run():
    doc = Document()
    seen = _recorder(doc)
    img = np.ones((30, 40, 3), np.float32)
    result = object()
    doc.load(_photo(), None, "proj", settings=TaskSettings(task="denoise"), mask=np.ones((30, 40), bool),
             job=SimpleNamespace(task="denoise"), history=[(10, 0.2, img, (0, 0, 30, 40), False),
                                                           (20, 0.1, img, (0, 0, 30, 40), True)],
             result=result, result_iteration=10, result_saved=False, checkpoint={"iteration": 20},
             run_state="paused", project_path="/tmp/x.dipproj")
    assert [ev for ev, _ in seen] == ["settings", "photo"]
    assert doc.history.iterations() == [10, 20] and doc.history[1].final
    assert doc.history[0].image.dtype == np.float16 and doc.history[0].display.dtype == np.uint8
    assert doc.result_snapshot is doc.history[0] and doc.unsaved_result
    assert doc.resume_next and doc.checkpoint_iteration == 20 and doc.mask.count() == 30 * 40
    assert not doc.history.wants(20) and doc.history.wants(30)    # new snapshots come after the saved ones
    doc.load(_photo(), checkpoint={"iteration": 5}, run_state="failed")
    assert not doc.resume_next and doc.project_path is None
