"""The restore layer: any size, gray/RGB/RGBA, 8/16-bit, faithful compositing."""
import time

import numpy as np
import pytest
import torch

from dip_engine import memory, presets, regions, restore
from dip_engine.fit import Step
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
ONE = dict(FAST, preset="draft")   # denoising with one fit (`fast` fits twice, Preset.fits)


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
    (dict(task="denoise", precision="fp16"), "unknown precision 'fp16': choose one of auto, fp32, bf16"),
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
    assert m["dip:task"] == "denoise" and m["dip:seed"] == "7" and m["dip:iterations"] == "6"
    assert m["dip:stopped_by"] == "iterations" and m["dip:software"].startswith("DIP Studio")
    # `fast` fits the photo twice, with seeds 7 and 8: two parts, no tiles
    assert (m["dip:fits"], m["dip:parts"], m["dip:max_iterations"]) == ("2", "2", "3") and "dip:tile" not in m
    one = restore.Job("denoise", p, seed=7, **ONE)
    assert not {"dip:fits", "dip:parts"} & set(restore.metadata(one, run(one)))


# --- big photos: the plan, tiles, crops per cluster, memory limits ---------------------------------

def gradient_photo(h=96, w=80):
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([0.2 + 0.6 * x / w, 0.2 + 0.6 * y / h, 0.5 + 0.2 * np.sin((x + y) / 30)], -1)
    return Photo(data=np.rint(img * 255).astype(np.uint8))


def seams(tiles, axis):
    """Output rows (axis 0) or columns (axis 1) where a tile starts or ends inside the photo."""
    lo, hi = (0, 2) if axis == 0 else (1, 3)
    end = max(t[hi] for t in tiles)
    return sorted({t[lo] for t in tiles if t[lo]} | {t[hi] for t in tiles if t[hi] < end})


def test_plan_small_photo_fits_at_once():
    p = photo()
    pl = restore.plan(restore.Job("denoise", p, **ONE))
    assert pl.fits and not pl.tiled and pl.regions == [(0, 0, 37, 45)]
    assert 0 < pl.estimate_bytes == pl.whole_bytes < pl.budget_bytes
    assert "at once" in pl.notes[0]


def test_plan_tiles_when_over_budget_and_says_so(monkeypatch):
    p = photo(h=300, w=400)
    job = restore.Job("denoise", p, preset="paper")   # our denoising presets have tiles of their own (below)
    tile_cost = memory.estimate(job.settings(), 160, 160, 3, "cpu")
    monkeypatch.setattr(restore.memory, "budget", lambda device: restore._host_bytes(job) + tile_cost)
    pl = restore.plan(job)
    assert pl.fits and pl.tiled and pl.whole_bytes > pl.budget_bytes >= pl.estimate_bytes
    assert pl.tile <= 160 and pl.overlap >= 16 and len(pl.tiles) == len(pl.regions) > 1
    assert pl.regions == pl.tiles  # denoise: output tiles are the input tiles
    cover = np.zeros((300, 400), bool)
    for t, l, b, r in pl.tiles:
        cover[t:b, l:r] = True
    assert cover.all()
    note = pl.notes[0]
    assert note.startswith("Photo too large to fit at once") and f"{len(pl.tiles)} tiles" in note
    assert "overlap" in note and ("GB" in note or "MB" in note)


def test_plan_sr_tiles_low_res_and_scales_them(monkeypatch):
    p = photo(h=100, w=120)
    job = restore.Job("sr", p, scale=4, preset="fast")
    cost = memory.estimate(job.settings(), 64 * 4, 64 * 4, 3, "cpu")
    monkeypatch.setattr(restore.memory, "budget", lambda device: restore._host_bytes(job) + cost)
    pl = restore.plan(job)
    assert pl.tiled and pl.fits
    assert pl.regions == [regions.scaled(t, 4) for t in pl.tiles]
    assert max(r for *_, r in pl.regions) == 480 and max(b for _, _, b, _ in pl.regions) == 400


def test_plan_refuses_when_not_even_a_small_tile_fits(monkeypatch):
    monkeypatch.setattr(restore.memory, "budget", lambda device: 1000)
    pl = restore.plan(restore.Job("denoise", photo(), **FAST))
    assert not pl.fits and "not enough memory" in pl.error and "fast" in pl.error
    with pytest.raises(restore.RunError, match="not enough memory"):
        next(restore.run(restore.Job("denoise", photo(), **FAST)))


def _fake_fit(offsets, drift=0.0):
    """A stand-in for fit.fit: each part's result is its observation plus a constant of its own,
    the worst case for a seam; `drift` per iteration makes each preview differ from the last."""
    calls = []

    def fake(problem, preset, *, iterations, seed, auto_stop, preview_every, control, device, confidence=True,
             precision="fp32"):
        k = len(calls)
        calls.append(problem.size)
        img = problem.observation[0].permute(1, 2, 0).numpy() + offsets[k % len(offsets)]
        for i in range(1, iterations + 1):
            yield Step(i, iterations, 0.1, 0.01 * i, 0.01, 0.01 * (iterations - i),
                       img + drift * i if i % preview_every == 0 else None)
        img = img + drift * iterations
        yield Step(iterations, iterations, 0.1, 0.01 * iterations, 0.01, None, img, done=True,
                   stopped_by="iterations")
    return fake, calls


def test_tiles_blend_without_seams_even_when_tiles_disagree(monkeypatch):
    p = gradient_photo()
    offsets = [0.0, 0.1, -0.05, 0.08, 0.02, -0.1]   # by the order the parts are fitted in (shuffled)
    fake, calls = _fake_fit(offsets)
    monkeypatch.setattr(restore.parallel, "fit", fake)   # parts run in this process with one worker
    job = restore.Job("denoise", p, preset="draft", iters=2, tile=48, overlap=16, preview_every=1, workers=1)
    steps = list(restore.run(job))
    pl = steps[0].extra["plan"]
    assert len(calls) == 6 and all(s == (43, 48) for s in calls[:1])
    turn = {part: k for k, part in enumerate(restore.eta.order(6))}
    top_left, bottom_right = offsets[turn[0]], offsets[turn[5]]
    diff = steps[-1].result.pixels - p.pixels  # only the tiles' offsets, blended
    # The offsets differ by up to 0.2 between tiles; blended over >= 16 px no step exceeds ~0.2 * pi / 32.
    limit = 0.2 * np.pi / 32 + 2 / 255
    assert np.abs(np.diff(diff, axis=1)).max() < limit and np.abs(np.diff(diff, axis=0)).max() < limit
    assert np.abs(diff[:20, :20] - top_left).max() <= 1 / 255
    assert np.abs(diff[-10:, -10:] - bottom_right).max() <= 1 / 255
    assert all(s.region == (0, 0, 96, 80) for s in steps)
    assert all(s.image.shape == (96, 80, 3) for s in steps if s.image is not None)
    assert pl.tiled and len(pl.tiles) == 6


def test_tiled_frames_show_each_tiles_latest_preview(monkeypatch):
    fake, _ = _fake_fit([0.0, 0.1, -0.05, 0.08, 0.02, -0.1], drift=0.01)
    monkeypatch.setattr(restore.parallel, "fit", fake)
    # every frame, however busy the machine: thinning them has a test of its own (below)
    monkeypatch.setattr(restore, "FRAME_FREE_S", 10.0)
    job = restore.Job("denoise", gradient_photo(), preset="draft", iters=3, tile=48, overlap=16, preview_every=1,
                      workers=1)
    steps = list(restore.run(job))
    frames = [s.image for s in steps[1:-1] if s.image is not None]
    assert len(frames) == 6 * 4   # every preview and every tile's end
    # the frames are kept up to date tile by tile; the result is composed afresh and agrees
    assert np.abs(frames[-1] - steps[-1].image).max() < 1e-5


def test_tiled_eta_expects_whole_budgets_when_parts_cannot_auto_stop(monkeypatch):
    """Before any tile ends, the ETA guesses how long the tiles will run: about halfway to an
    early auto-stop where they may stop, their whole budget where they may not (SR, inpainting,
    Stop "never"); guessing an early stop there made the ETA of SR x4 in tiles 25-38 % early."""
    fake, _ = _fake_fit([0.0])
    monkeypatch.setattr(restore.parallel, "fit", fake)

    def first_eta(stop):
        job = restore.Job("denoise", gradient_photo(), preset="paper", iters=1000, tile=48, overlap=16,
                          preview_every=10 ** 6, workers=1, stop=stop)
        step = next(s for s in restore.run(job) if s.iteration == 100)
        return step.eta_s, step.eta_range

    never, (low, high) = first_eta("never")
    assert never == pytest.approx(high) and low == pytest.approx(high)
    auto, (low, high) = first_eta("auto")
    assert auto < 0.8 * high   # (1000 + 350) / 2 of 1000 iterations per tile


def test_tiled_frames_are_thinned_when_composing_them_is_slow(monkeypatch):
    """A photo of ~1000 tiles takes about a second to compose: frames then take at most a small
    share of the run's time, and the result is still complete."""
    fake, _ = _fake_fit([0.0, 0.1, -0.05, 0.08, 0.02, -0.1], drift=0.01)
    monkeypatch.setattr(restore.parallel, "fit", fake)
    slow = restore.confidence.mosaic

    def mosaic(*a, **k):
        time.sleep(0.03)
        return slow(*a, **k)
    monkeypatch.setattr(restore.confidence, "mosaic", mosaic)
    p = gradient_photo()
    job = restore.Job("denoise", p, preset="draft", iters=3, tile=48, overlap=16, preview_every=1, workers=1)
    steps = list(restore.run(job))
    assert len(steps) == 1 + 6 * 4 + 1
    assert 1 <= sum(s.image is not None for s in steps[1:-1]) <= 3
    last = steps[-1]
    assert last.done and last.image is not None and last.result.data.shape == p.data.shape
    assert last.extra["unfinished_parts"] == []


def test_tiled_denoise_is_seam_free_and_counts_iterations_across_tiles(monkeypatch):
    # every tile counts as usable, so the blend (not the classical fallback) is what is tested
    monkeypatch.setattr(restore.classical, "usable_mse", lambda *a, **k: None)
    p = gradient_photo()
    job = restore.Job("denoise", p, preset="draft", iters=4, channels=8, tile=48, overlap=16, stop="never",
                      preview_every=2)
    steps = list(restore.run(job))
    last = steps[-1]
    pl = steps[0].extra["plan"]
    assert pl.tiled and len(pl.tiles) == 6 and "6 tiles" in steps[0].extra["notes"][0]
    out = last.result
    assert out.data.shape == p.data.shape and out.data.dtype == p.data.dtype
    # Progress runs across tiles: 6 x 4 iterations, one done step at the end.
    assert last.done and last.iteration == last.total == 24 and last.stopped_by == "iterations"
    assert [s.iteration for s in steps] == sorted(s.iteration for s in steps)
    assert sum(s.done for s in steps) == 1 and {s.total for s in steps} == {24}
    assert last.extra["kept"] is None and last.extra["unfinished_parts"] == []
    assert not np.array_equal(out.data, p.data)
    assert all(s.region == (0, 0, 96, 80) and s.image.shape == (96, 80, 3) for s in steps if s.image is not None)
    assert steps[-2].eta_s is not None and last.eta_s is None
    # No step along the tile borders: the mean absolute gradient across seams is like elsewhere.
    img = out.pixels
    for axis in (0, 1):
        g = np.abs(np.diff(img, axis=axis)).mean(axis=(1 - axis, 2))  # g[j]: between j and j + 1
        at = [g[s - 1] for s in seams(pl.tiles, axis)]
        assert max(at) < 1.5 * np.median(g) + 2 / 255, (axis, at, np.median(g))
    assert restore.metadata(job, last)["dip:parts"] == "6"


def test_tiled_sr_gives_scale_times_size():
    p = photo(h=20, w=26, alpha=True)
    job = restore.Job("sr", p, scale=2, tile=16, overlap=4, preset="fast", iters=2, channels=8)
    steps = list(restore.run(job))
    pl = steps[0].extra["plan"]
    assert len(pl.tiles) == 4 and pl.regions == [regions.scaled(t, 2) for t in pl.tiles]
    assert steps[-1].result.data.shape == (40, 52, 4)
    assert all(s.image.shape == (40, 52, 3) for s in steps if s.image is not None)


def test_stopping_a_tiled_run_still_gives_a_full_result():
    p = gradient_photo()
    control = restore.Control()
    job = restore.Job("denoise", p, preset="fast", iters=50, channels=8, tile=48, overlap=16)
    steps = []
    for s in restore.run(job, control):
        steps.append(s)
        if s.iteration >= 4:
            control.stop()
    last = steps[-1]
    assert last.done and last.stopped_by == "user" and last.iteration < 300
    assert last.result.data.shape == p.data.shape
    # Tiles never fitted keep the input.
    assert np.array_equal(last.result.data[-10:, -10:], p.data[-10:, -10:])


def test_tile_only_for_denoise_jpeg_sr():
    mask = np.zeros((37, 45), bool)
    mask[5:9, 5:9] = True
    with pytest.raises(restore.JobError, match="tiling applies"):
        restore.check(restore.Job("inpaint", photo(), mask=mask, tile=32))
    with pytest.raises(restore.JobError, match="at least 16"):
        restore.check(restore.Job("denoise", photo(), tile=8))
    with pytest.raises(restore.JobError, match="overlap"):
        restore.check(restore.Job("denoise", photo(), tile=32, overlap=20))
    pl = restore.plan(restore.Job("denoise", photo(), tile=64))  # larger than the photo: at once (twice)
    assert not pl.tiled and pl.regions == [(0, 0, 37, 45)] * 2


def test_over_budget_inpaint_raises_before_fitting(monkeypatch):
    p = photo(h=200, w=240)
    mask = np.zeros((200, 240), bool)
    mask[40:160, 50:200] = True
    monkeypatch.setattr(restore.memory, "budget", lambda device: 1 << 20)
    monkeypatch.setattr(restore, "fit", lambda *a, **k: pytest.fail("must not fit"))
    job = restore.Job("inpaint", p, mask=mask, **FAST)
    pl = restore.plan(job)
    assert not pl.fits
    with pytest.raises(restore.RunError) as e:
        for _ in restore.run(job):
            pass
    msg = str(e.value)
    assert "px" in msg and "budget" in msg and "MB" in msg and "smaller parts" in msg and "\n" not in msg


def test_inpaint_narrows_the_margin_when_the_crop_is_over_budget(monkeypatch):
    p = photo(h=200, w=240)
    mask = np.zeros((200, 240), bool)
    mask[80:120, 100:140] = True
    job = restore.Job("inpaint", p, mask=mask, preset="fast")
    preset = job.settings()
    t, l, b, r = regions.crop_around(mask, preset.margin)
    full = memory.estimate(preset, b - t, r - l, 3, "cpu")
    monkeypatch.setattr(restore, "_host_bytes", lambda job: 0)
    monkeypatch.setattr(restore.memory, "budget", lambda device: full - 1)
    pl = restore.plan(job)
    assert pl.fits and len(pl.regions) == 1
    nt, nl, nb, nr = pl.regions[0]
    assert regions.area(pl.regions[0]) < (b - t) * (r - l)
    assert nt <= 80 and nl <= 100 and nb >= 120 and nr >= 140
    assert "narrower context margin" in pl.notes[0]


def test_inpaint_fits_one_crop_per_cluster_of_marks():
    p = photo(h=300, w=400, bits=16)
    mask = np.zeros((300, 400), bool)
    mask[10:16, 12:20] = True
    mask[280:288, 380:390] = True
    job = restore.Job("inpaint", p, mask=mask, preset="fast", iters=2, channels=8, preview_every=1)
    pl = restore.plan(job)
    assert len(pl.regions) == 2 and "2 separate crops" in pl.notes[0]
    steps = list(restore.run(job))
    last = steps[-1]
    assert last.iteration == 4 and last.done and sum(s.done for s in steps) == 1
    out = last.result.data
    assert np.array_equal(out[~mask], p.data[~mask])
    assert not np.array_equal(out[10:16, 12:20], p.data[10:16, 12:20])
    assert not np.array_equal(out[280:288, 380:390], p.data[280:288, 380:390])
    assert all(s.image.shape == (300, 400, 3) for s in steps if s.image is not None)


def test_small_photos_are_not_split_into_crops_per_mark():
    p = photo(h=128, w=128)
    mask = np.zeros((128, 128), bool)
    mask[2:10, 100:126] = True
    mask[110:126, 4:30] = True  # far apart, but the whole 128x128 fit is cheap and gives more context
    assert restore.plan(restore.Job("inpaint", p, mask=mask, preset="fast")).regions == [(0, 0, 128, 128)]


def test_whole_photo_presets_are_never_split_into_crops():
    p = photo(h=300, w=400)
    mask = np.zeros((300, 400), bool)
    mask[5:15, 5:15] = True
    mask[280:290, 380:390] = True  # two marks far apart
    assert len(restore.plan(restore.Job("inpaint", p, mask=mask, preset="fast")).regions) == 2
    plan = restore.plan(restore.Job("inpaint", p, mask=mask, preset="paper-holes"))
    assert plan.regions == [(0, 0, 300, 400)]


def _thin_lines(h=300, w=400):
    """Two 3-px lines across much of the photo: thin marks spread wider than `fast`'s tile."""
    mask = np.zeros((h, w), bool)
    mask[50:53, 20:380] = True
    mask[250:253, 20:200] = True
    return mask


def test_thin_marks_spread_wide_are_filled_in_tiles_that_hold_marks(monkeypatch):
    p, mask = photo(h=300, w=400), _thin_lines()
    pl = restore.plan(restore.Job("inpaint", p, mask=mask, preset="fast"))
    assert pl.tiled and pl.tile == 128 and pl.tiles == pl.regions
    assert all(b - t <= 128 and r - l <= 128 and mask[t:b, l:r].any() for t, l, b, r in pl.tiles)
    grid = regions.tiles(300, 400, 128, 16)
    assert len(pl.tiles) < len(grid)   # the tiles between the lines are not fitted
    assert f"{len(pl.tiles)} tiles of " in pl.notes[-1] and "without marks are left" in pl.notes[-1]
    # a GPU fits the whole area at once, as it does for denoising's tiles
    monkeypatch.setattr(restore.devices, "pick", lambda name: torch.device("cuda"))
    assert not restore.plan(restore.Job("inpaint", p, mask=mask, preset="fast")).tiled


def test_wider_inpainting_presets_and_small_areas_are_not_tiled():
    p, mask = photo(h=300, w=400), _thin_lines()
    assert not restore.plan(restore.Job("inpaint", p, mask=mask, preset="balanced")).tiled
    small = np.zeros((300, 400), bool)
    small[100:103, 150:230] = True   # its crop fits in one tile
    pl = restore.plan(restore.Job("inpaint", p, mask=small, preset="fast"))
    assert not pl.tiled and len(pl.regions) == 1


def test_tiled_fill_blends_only_the_marks_and_keeps_every_other_pixel(monkeypatch):
    """Every tile answers 0.5 everywhere: the marks come out exactly 0.5, overlaps included (the
    weights of the fitted tiles sum to 1 on every mark), and no other pixel moves, in the
    frames shown while the tiles run nor in the result."""
    def flat(problem, preset, *, iterations, seed, auto_stop, preview_every, control, device, confidence=True,
             precision="fp32"):
        img = np.full((*problem.size, 3), 0.5, np.float32)
        for i in range(1, iterations + 1):
            yield Step(i, iterations, 0.1, 0.01 * i, 0.01, 0.01, img if i % preview_every == 0 else None)
        yield Step(iterations, iterations, 0.1, 0.01, 0.01, None, img, done=True, stopped_by="iterations")
    monkeypatch.setattr(restore.parallel, "fit", flat)
    monkeypatch.setattr(restore, "FRAME_FREE_S", 10.0)   # every frame, however busy the machine
    p, mask = photo(h=300, w=400), _thin_lines()
    steps = list(restore.run(restore.Job("inpaint", p, mask=mask, preset="fast", iters=2, preview_every=1,
                                         workers=1)))
    assert steps[0].extra["plan"].tiled
    frames = [s.image for s in steps if s.image is not None]
    assert len(frames) > 2 and all(np.abs(f[~mask] - p.pixels[~mask]).max() < 1e-5 for f in frames)
    last = steps[-1]
    assert last.done and last.usable and last.extra["kept"] is None
    assert np.array_equal(last.result.data[~mask], p.data[~mask])
    assert np.all(np.abs(last.result.data[mask].astype(int) - 128) <= 1)


def test_thick_marks_get_the_large_hole_network_and_thin_ones_the_skip_network():
    p = photo(h=96, w=96)
    thin = np.zeros((96, 96), bool)
    thin[40:43, 10:80] = True
    thick = np.zeros((96, 96), bool)
    thick[30:70, 30:70] = True
    for preset in ("fast", "balanced", "quality"):
        text = restore.Job("inpaint", p, mask=thin, preset=preset).settings()
        hole = restore.Job("inpaint", p, mask=thick, preset=preset).settings()
        assert text.skip_channels and text.scales == 5
        assert hole.skip_channels == 0 and hole.scales == 6 and hole.iterations < text.iterations
    assert restore.Job("inpaint", p, mask=thick, preset="paper").settings() == presets.get("inpaint", "paper")
    job = restore.Job("inpaint", p, mask=thick, preset="fast", iters=3)
    last = list(restore.run(job))[-1]
    assert last.done and not np.array_equal(last.result.data[thick], p.data[thick])


def test_plan_tiles_a_photo_that_fits_memory_when_one_layer_would_keep_stop_waiting(monkeypatch):
    # JPEG: `fast` denoise has tiles of its own, smaller than the cap
    monkeypatch.setattr(restore.memory, "budget", lambda device: 1 << 40)
    job = restore.Job("jpeg", photo(h=600, w=800), preset="fast", device="cpu")
    cap = restore.latency.max_pixels(job.settings(), 3, "cpu")
    assert 600 * 800 <= cap < 1000 * 1000
    assert not restore.plan(job).tiled  # under the cap: one piece
    job = restore.Job("jpeg", photo(h=1000, w=1000), preset="fast", device="cpu")
    pl = restore.plan(job)
    assert pl.tiled and pl.fits and pl.whole_bytes <= pl.budget_bytes
    assert all((b - t) * (r - l) <= cap for t, l, b, r in pl.regions)
    assert "Stop acts within 2 s" in pl.notes[0] and f"{len(pl.tiles)} tiles" in pl.notes[0]
    # the bench's runs of the authors' configuration fit the whole photo, as the notebooks do
    assert not restore.plan(restore.Job("jpeg", photo(h=1000, w=1000), preset="fast", device="cpu",
                                        responsive=False)).tiled


def test_plan_says_when_tiles_are_smaller_than_memory_needs_for_stop(monkeypatch):
    job = restore.Job("jpeg", photo(h=1400, w=1400), preset="fast", device="cpu")
    roomy = memory.estimate(job.settings(), 1100, 1100, 3, "cpu")   # memory alone: tiles of ~1100 px
    monkeypatch.setattr(restore.memory, "budget", lambda device: restore._host_bytes(job) + roomy)
    pl = restore.plan(job)
    assert pl.whole_bytes > pl.budget_bytes and pl.tile < 1100
    assert pl.notes[0].startswith("Photo too large") and pl.notes[0].endswith("Stop to act within 2 s.")


def test_plan_fits_fast_sr_in_tiles_of_its_own_size(monkeypatch):
    """`fast` SR fits in tiles of 192 px out (48 px of the small photo at x4, 96 at x2),
    overlapping by 32 px out: whole photos of 512 px out ended under Lanczos, tiles above it
    (bench/README.md, "SR in tiles")."""
    monkeypatch.setattr(restore.memory, "budget", lambda dev: 1 << 40)
    pl = restore.plan(restore.Job("sr", photo(h=96, w=128), scale=4, preset="fast"))
    assert pl.tiled and pl.tile == 48 and pl.overlap == 8 and len(pl.tiles) == 9
    assert all(b - t <= 48 and r - l <= 48 for t, l, b, r in pl.tiles)
    assert all(b - t <= 192 and r - l <= 192 for t, l, b, r in pl.regions)   # the regions are in output px
    assert "9 tiles" in pl.notes[0] and "8 px overlap" in pl.notes[0] and "sharper" in pl.notes[0]
    asked = restore.plan(restore.Job("sr", photo(h=96, w=128), scale=4, preset="fast", tile=48))
    assert asked.overlap == 16   # a tile asked for keeps the engine's own overlap rule
    assert not restore.plan(restore.Job("sr", photo(h=40, w=48), scale=4, preset="fast")).tiled
    x2 = restore.plan(restore.Job("sr", photo(h=96, w=128), scale=2, preset="fast"))
    assert x2.tiled and x2.tile == 96 and x2.overlap == 16 and len(x2.tiles) == 2
    assert "(96x96 px out)" not in x2.notes[0]
    assert all(r - l <= 192 for t, l, b, r in x2.regions)
    x8 = restore.plan(restore.Job("sr", photo(h=48, w=64), scale=8, preset="fast"))
    assert x8.tile == 24 and x8.overlap == 4
    paper = restore.plan(restore.Job("sr", photo(h=96, w=128), scale=4, preset="paper"))
    assert not any("sharper" in n for n in paper.notes)   # only Stop's latency may tile it


def test_plan_fits_fast_denoise_in_tiles_of_its_own_size(monkeypatch):
    """On a CPU, `fast` denoise fits any photo bigger than 128 px in 128-px tiles: it reaches a
    sharper result on small pieces (bench/README.md, "Tiles"). A GPU, which would idle on each
    small tile, fits the photo whole. A tile asked for wins."""
    monkeypatch.setattr(restore.memory, "budget", lambda dev: 1 << 40)
    pl = restore.plan(restore.Job("denoise", photo(h=300, w=400), preset="fast"))
    assert pl.device == "cpu"
    assert pl.fits and pl.tiled and pl.tile == 128 and pl.overlap == 16 and len(set(pl.tiles)) == 12
    assert len(pl.tiles) == len(pl.regions) == 24 and "fitted 2 times" in pl.notes[-1]   # each tile twice
    assert all(b - t <= 128 and r - l <= 128 for t, l, b, r in pl.tiles)
    assert "12 tiles" in pl.notes[0] and "'fast' network" in pl.notes[0] and "sharper" in pl.notes[0]
    # a roomy GPU, without needing one: only the planner's view of the device changes
    cpu = restore.devices.pick
    monkeypatch.setattr(restore.devices, "pick", lambda name: torch.device("cuda"))
    pl = restore.plan(restore.Job("denoise", photo(h=300, w=400), preset="fast"))
    assert pl.device == "cuda" and not pl.tiled and pl.notes[0].startswith("Fitting all 400x300 px at once")
    assert restore.plan(restore.Job("denoise", photo(h=300, w=400), preset="fast", tile=128)).tiled
    monkeypatch.setattr(restore.devices, "pick", cpu)
    assert not restore.plan(restore.Job("denoise", photo(h=128, w=96), preset="fast")).tiled
    assert not restore.plan(restore.Job("denoise", photo(h=300, w=400), preset="fast", tile=400)).tiled
    assert restore.plan(restore.Job("denoise", photo(h=300, w=400), preset="fast", tile=200)).tile == 200
    assert restore.plan(restore.Job("denoise", photo(h=300, w=400), preset="balanced")).tile == 128
    for task, preset in (("jpeg", "fast"), ("denoise", "paper")):
        pl = restore.plan(restore.Job(task, photo(h=300, w=400), preset=preset))
        assert not any("sharper" in n for n in pl.notes), (task, preset)   # only Stop's latency may tile them


@pytest.mark.parametrize("tile", [48, None])
def test_fast_denoising_is_the_average_of_two_draft_fits_with_seeds_s_and_s_plus_1(monkeypatch, tile):
    """`fast` fits every tile (or a photo it fits whole) twice (Preset.fits): what two `draft`
    runs with seeds s and s + 1 give, averaged."""
    monkeypatch.setattr(restore.classical, "usable_mse", lambda *a, **k: None)
    p = gradient_photo() if tile else photo()
    kw = dict(iters=3, channels=8, tile=tile, overlap=16 if tile else None, stop="never", workers=1)
    once = [run(restore.Job("denoise", p, preset="draft", seed=s, **kw)).result.pixels for s in (5, 6)]
    steps = list(restore.run(restore.Job("denoise", p, preset="fast", seed=5, **kw)))
    pl, last = steps[0].extra["plan"], steps[-1]
    n = 6 if tile else 1
    assert len(pl.regions) == len(pl.tiles) == 2 * n and pl.tiled == bool(tile)
    assert any("fitted 2 times, with seeds 5, 6, and the fits averaged" in note for note in steps[0].extra["notes"])
    assert last.iteration == last.total == 2 * n * 3 and last.extra["unfinished_parts"] == []
    assert np.abs(last.result.pixels - np.mean(once, axis=0)).max() <= 1 / 255 + 1e-6


def test_seeds_count_up_over_the_same_region():
    a, b = (0, 0, 8, 8), (0, 4, 8, 12)
    assert restore.seeds([a, a, b, b, a], 7) == [7, 8, 7, 8, 9]
    assert restore.seeds([a, b], 0) == [0, 0]


def _fits_at(offsets):
    """A stand-in for fit.fit whose k-th fit gives its observation plus offsets[k] at every step,
    and ends early, stopped by the user, once the control says stop."""
    def fake(problem, preset, *, iterations, seed, auto_stop, preview_every, control, device, confidence=True,
             precision="fp32"):
        img = problem.observation[0].permute(1, 2, 0).numpy() + offsets[fake.calls]
        fake.calls += 1
        for i in range(1, iterations + 1):
            if control.stopped:
                yield Step(i - 1, iterations, 0.1, 0.01, 0.01, None, img, done=True, stopped_by="user")
                return
            yield Step(i, iterations, 0.1, 0.01 * i, 0.01, 0.01, img)
        yield Step(iterations, iterations, 0.1, 0.01, 0.01, None, img, done=True, stopped_by="iterations")
    fake.calls = 0
    return fake


def test_a_tile_fitted_twice_shows_its_finished_fit_while_the_second_runs(monkeypatch):
    """Never half a fit: the view shows the first fit alone until the second has finished too,
    then their mean; a second fit the user stops early is left out of the result."""
    monkeypatch.setattr(restore.classical, "usable_mse", lambda *a, **k: None)
    p = photo()
    monkeypatch.setattr(restore.parallel, "fit", _fits_at([0.1, -0.05]))
    steps = list(restore.run(restore.Job("denoise", p, preset="fast", iters=3, preview_every=1, workers=1)))
    shift = [round(float(np.mean(s.image - p.pixels)), 3) for s in steps[1:] if s.image is not None]
    assert shift == [0.1] * 4 + [0.1] * 3 + [0.025, 0.025]   # fit 1 and its end; fit 2 under way; the mean
    monkeypatch.setattr(restore.parallel, "fit", _fits_at([0.1, -0.05]))
    control = restore.Control()
    for last in restore.run(restore.Job("denoise", p, preset="fast", iters=3, preview_every=1, workers=1), control):
        if last.iteration == 5:   # fit 2 at its second iteration
            control.stop()
    assert last.stopped_by == "user" and last.usable and last.extra["unfinished_parts"] == []
    assert np.mean(last.result.pixels - p.pixels) == pytest.approx(0.1, abs=2 / 255)
