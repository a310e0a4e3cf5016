"""Regions: crops around masks, clusters of marks, tiles and their feathered blend weights."""
import itertools

import numpy as np
import pytest

from dip_engine import regions

CASES = [(96, 80, 48, 16), (37, 45, 64, 8), (64, 64, 64, 16), (65, 64, 64, 16), (1000, 731, 256, 32),
         (130, 17, 40, 0), (50, 300, 33, 16)]


@pytest.mark.parametrize("h,w,tile,overlap", CASES)
def test_tiles_cover_every_pixel_with_the_overlap_asked(h, w, tile, overlap):
    ts = regions.tiles(h, w, tile, overlap)
    cover = np.zeros((h, w), int)
    for t, l, b, r in ts:
        assert 0 <= t < b <= h and 0 <= l < r <= w
        assert b - t <= tile and r - l <= tile
        cover[t:b, l:r] += 1
    assert (cover >= 1).all()
    assert len({(b - t, r - l) for t, l, b, r in ts}) == 1  # all tiles the same size
    rows = sorted({(t, b) for t, _, b, _ in ts})
    cols = sorted({(l, r) for _, l, _, r in ts})
    for spans in (rows, cols):
        for (_, e0), (s1, _) in itertools.pairwise(spans):
            assert e0 - s1 >= overlap  # neighbours overlap by at least `overlap`
    assert len(ts) == len(rows) * len(cols)


def test_tiles_are_few():
    assert len(regions.tiles(96, 80, 48, 16)) == 6
    assert regions.tiles(40, 40, 64, 16) == [(0, 0, 40, 40)]
    assert len(regions.tiles(4000, 6000, 512, 64)) == 9 * 14  # ceil(3936 / 448) x ceil(5936 / 448)


@pytest.mark.parametrize("tile,overlap", [(16, 16), (0, 0), (16, -1)])
def test_tiles_reject_bad_sizes(tile, overlap):
    with pytest.raises(ValueError):
        regions.tiles(50, 50, tile, overlap)


@pytest.mark.parametrize("h,w,tile,overlap", CASES)
def test_feather_weights_sum_to_one_and_are_smooth(h, w, tile, overlap):
    ts = regions.tiles(h, w, tile, overlap)
    ws = regions.weights(ts, h, w)
    total = np.zeros((h, w))
    for (t, l, b, r), wt in zip(ts, ws):
        assert wt.shape == (b - t, r - l) and wt.dtype == np.float32
        assert wt.min() >= 0 and wt.max() <= 1 + 1e-6
        total[t:b, l:r] += wt
        if overlap >= 8:  # a raised cosine over >= overlap px: no step anywhere
            step = np.pi / 2 / overlap + 1e-3
            assert np.abs(np.diff(wt, axis=0)).max() <= step
            assert np.abs(np.diff(wt, axis=1)).max() <= step
    np.testing.assert_allclose(total, 1, atol=1e-6)


def test_feather_is_one_away_from_overlaps():
    ts = regions.tiles(96, 80, 48, 16)
    w0 = regions.weights(ts, 96, 80)[0]
    assert (w0[:20, :30] == 1).all()  # top-left corner of the photo: only tile 0 covers it
    assert w0[-1, -1] < 0.01


def test_crop_around_unchanged():
    mask = np.zeros((200, 300), bool)
    mask[90:110, 140:160] = True
    assert regions.crop_around(mask, 0.5) == (66, 116, 134, 184)
    assert regions.crop_around(np.ones((50, 50), bool), 0.5) == (0, 0, 50, 50)
    big = np.zeros((100, 100), bool)
    big[20:80, 20:80] = True
    assert regions.crop_around(big, 0.5) == (0, 0, 100, 100)
    assert regions.crop_around(big, 0.5, worth=None) == (0, 0, 100, 100)  # the margin reaches the edges anyway
    assert regions.crop_around(big, 0.0, min_margin=4, worth=None) == (16, 16, 84, 84)


def test_clusters_split_far_marks_and_merge_near_ones():
    mask = np.zeros((400, 600), bool)
    mask[20:40, 30:50] = True       # top left
    mask[350:370, 540:560] = True   # bottom right, far away
    mask[30:35, 60:70] = True       # next to the first: same crop
    groups = regions.clusters(mask, 0.5)
    assert len(groups) == 2
    full = []
    for (t, l, b, r), local in groups:
        assert local.shape == (b - t, r - l)
        m = np.zeros_like(mask)
        m[t:b, l:r] = local
        full.append(m)
    m0, m1 = full
    assert not (m0 & m1).any() and np.array_equal(m0 | m1, mask)
    assert m0[25, 35] and m0[32, 65] and m1[360, 550]
    assert sum(regions.area(r) for r, _ in groups) < 0.1 * 400 * 600
    assert regions.clusters(np.zeros((5, 5), bool), 0.5) == []
    # Crops that would overlap are merged into one.
    mask2 = np.zeros((200, 200), bool)
    mask2[50:60, 50:60] = True
    mask2[50:60, 90:100] = True
    assert len(regions.clusters(mask2, 0.5)) == 1


def test_scaled_and_area():
    assert regions.scaled((1, 2, 3, 4), 3) == (3, 6, 9, 12)
    assert regions.area((1, 2, 3, 5)) == 6


def test_thickness_is_the_radius_of_the_largest_disc_inside_the_marks():
    mask = np.zeros((60, 80), bool)
    assert regions.thickness(mask) == 0.0
    mask[10:13, 5:70] = True           # a 3 px stroke, like text or a scratch
    assert 1 <= regions.thickness(mask) <= 2.5
    mask[30:58, 40:68] = True          # a 28 px blob, like an object
    assert 13 <= regions.thickness(mask) <= 15
