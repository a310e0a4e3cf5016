"""Variations' seeds: one run per seed, and no two variations share a fit."""
from __future__ import annotations

import numpy as np
import pytest

from dip_engine import restore, variations
from dip_engine.imageio import Photo


def _job(task="denoise", preset="fast", seed=5):
    photo = Photo(data=np.zeros((24, 32, 3), np.uint8))
    mask = np.zeros((24, 32), bool) if task == "inpaint" else None
    if mask is not None:
        mask[10:14, 10:20] = True
    return restore.Job(task, photo, seed=seed, preset=preset, mask=mask)


def test_a_preset_of_two_fits_gives_every_second_seed_so_no_fit_is_shared():
    job = _job()
    assert job.settings().fits == 2                       # fast denoising: seeds s and s + 1 averaged
    assert variations.seeds(job, 3) == [5, 7, 9]
    assert [j.seed for j in variations.jobs(job, 3)] == [5, 7, 9]


@pytest.mark.parametrize("task, preset", [("denoise", "draft"), ("inpaint", "fast"), ("sr", "fast")])
def test_one_fit_presets_take_consecutive_seeds(task, preset):
    job = _job(task, preset, seed=0)
    if task == "sr":
        job = restore.Job("sr", job.photo, seed=0, preset=preset, scale=4)
    assert variations.seeds(job, 3) == [0, 1, 2]


def test_fewer_than_one_variation_is_refused():
    with pytest.raises(restore.JobError, match="at least 1"):
        variations.seeds(_job(), 0)
