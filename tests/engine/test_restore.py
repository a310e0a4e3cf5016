"""The restore layer: any size, gray/RGB/RGBA, 8/16-bit, faithful compositing."""
import numpy as np
import pytest

from dip_engine import restore
from dip_engine.imageio import Photo
from tests.conftest import smooth_image


def photo(h=37, w=45, c=3, bits=8, alpha=False):
    img = smooth_image(h, w, c)
    top = 255 if bits == 8 else 65535
    data = np.rint(img * top).astype(np.uint8 if bits == 8 else np.uint16)
    if alpha:
        a = np.linspace(0, top, w, dtype=np.float64)[None, :].repeat(h, 0)
        data = np.concatenate([data, a.astype(data.dtype)[..., None]], axis=2)
    return Photo(data=data)


def run(job):
    last = None
    for last in restore.run(job):
        pass
    return last


FAST = dict(preset="fast", iters=3, channels=8)


@pytest.mark.parametrize("c,bits,alpha", [(1, 8, False), (3, 16, False), (3, 8, True), (1, 16, True)])
def test_denoise_keeps_shape_dtype_and_alpha(c, bits, alpha):
    p = photo(c=c, bits=bits, alpha=alpha)
    last = run(restore.Job("denoise", p, **FAST))
    out = last.result
    assert out.data.shape == p.data.shape and out.data.dtype == p.data.dtype
    if alpha:
        assert np.array_equal(out.data[..., -1], p.data[..., -1])


def test_sr_output_is_scale_times_larger_with_alpha():
    p = photo(h=20, w=26, alpha=True)
    last = run(restore.Job("sr", p, scale=3, **FAST))
    assert last.result.data.shape == (60, 78, 4)
    assert restore.output_size(restore.Job("sr", p, scale=3)) == (78, 60)


def test_inpaint_changes_only_masked_pixels_bit_exact():
    p = photo(h=80, w=90, bits=16, alpha=True)
    mask = np.zeros((80, 90), bool)
    mask[30:40, 40:55] = True
    job = restore.Job("inpaint", p, mask=mask, **FAST)
    last = run(job)
    out = last.result.data
    assert np.array_equal(out[~mask], p.data[~mask])
    assert np.array_equal(out[..., -1], p.data[..., -1])  # alpha untouched everywhere
    assert not np.array_equal(out[mask], p.data[mask])
    # The default presets fit a crop around the mask, not the whole photo.
    t, l, b, r = last.region
    assert t <= 30 and l <= 40 and b >= 40 and r >= 55 and (b - t) * (r - l) < 80 * 90


def test_preview_images_are_composited_in_their_region():
    p = photo(h=80, w=90)
    mask = np.zeros((80, 90), bool)
    mask[30:40, 40:55] = True
    job = restore.Job("inpaint", p, mask=mask, preset="fast", iters=4, channels=8, preview_every=2)
    steps = [s for s in restore.run(job) if s.image is not None]
    t, l, b, r = steps[0].region
    known = ~mask[t:b, l:r]
    assert steps[0].image.shape == (b - t, r - l, 3)
    assert np.allclose(steps[0].image[known], p.pixels[t:b, l:r][known])


@pytest.mark.parametrize("kw,message", [
    (dict(task="inpaint"), "needs a mask"),
    (dict(task="inpaint", mask=np.zeros((37, 45), bool)), "empty"),
    (dict(task="inpaint", mask=np.ones((37, 45), bool)), "whole photo"),
    (dict(task="inpaint", mask=np.ones((10, 10), bool)), "same size"),
    (dict(task="sr", scale=9), "2 to 8"),
    (dict(task="denoise", scale=2), "super-resolution only"),
    (dict(task="denoise", preset="nope"), "unknown preset"),
    (dict(task="blur"), "unknown task"),
    (dict(task="denoise", iters=0), "at least 1"),
])
def test_check_rejects_bad_jobs(kw, message):
    with pytest.raises(restore.JobError, match=message):
        restore.check(restore.Job(photo=photo(), **kw))


def test_compose_any_snapshot():
    p = photo()
    job = restore.Job("denoise", p)
    img = np.full((37, 45, 3), 0.5, np.float32)
    out = restore.compose(job, img, (0, 0, 37, 45))
    assert (out.data == 128).all()


def test_metadata_records_settings():
    p = photo()
    job = restore.Job("denoise", p, seed=7, **{k: v for k, v in FAST.items()})
    last = run(job)
    m = restore.metadata(job, last)
    assert m["dip:task"] == "denoise" and m["dip:seed"] == "7" and m["dip:iterations"] == "3"
    assert m["dip:stopped_by"] == "iterations" and m["dip:software"].startswith("DIP Studio")
