"""bench.mark_tiles: thin marks filled in tiles, blended as the engine blends them, and scored."""
import json

import numpy as np

from bench import cases, mark_tiles
from dip_engine import regions


def test_fills_are_blended_into_the_marks_only(hill_data):
    case = cases.build("val_hill_inpaint")
    tiles = regions.tiles(*case.mask.shape, 48, 16)
    fitted = [i for i, (t, l, b, r) in enumerate(tiles) if case.mask[t:b, l:r].any()]
    fills = {i: np.full((b - t, r - l, 3), 0.5, np.float32) for i, (t, l, b, r) in enumerate(tiles) if i in fitted}
    out = mark_tiles._blend(case, tiles, fills)
    assert np.array_equal(out[~case.mask], case.observed[~case.mask])
    assert np.abs(out[case.mask] - 0.5).max() < 1e-6   # the fitted tiles' weights sum to 1 on every mark


def test_a_run_records_the_curve_of_the_tiles_and_of_one_whole_fit(hill_data, tmp_path):
    out = tmp_path / "m.jsonl"
    common = ["--case", "val_hill_inpaint", "--iters", "20", "--jobs", "1", "--channels", "8",
              "--data", str(hill_data), "--out", str(out)]
    mark_tiles.main([*common, "--tile", "48"])
    mark_tiles.main([*common, "--tile", "0"])
    tiled, whole = [json.loads(line) for line in out.read_text().splitlines()]
    assert tiled["tiles"] == 6 and 0 < tiled["fitted"] <= 6 and whole["tiles"] == whole["fitted"] == 1
    for row in (tiled, whole):
        assert set(row["curve"]) == {"20_net", "20_usable"}
        assert all(np.isfinite(v["mask_psnr"]) for v in row["curve"].values())
    assert tiled["curve"]["20_net"] != whole["curve"]["20_net"]


def _strokes(h: int, w: int) -> np.ndarray:
    """Two 6-px scratches, one across the photo and one short, away from any grid line."""
    m = np.zeros((h, w), bool)
    m[70:76, 10:w - 10] = True
    m[150:230, 200:206] = True
    return m


def test_cover_holds_every_mark_inside_a_tile_with_fewer_tiles_than_the_grid():
    mask = _strokes(256, 384)
    tiles = mark_tiles.cover(mask, 128, 16)
    grid = [t for t in regions.tiles(256, 384, 128, 16) if mask[t[0]:t[2], t[1]:t[3]].any()]
    assert len(tiles) < len(grid)
    assert all(b - t == 128 and r - l == 128 for t, l, b, r in tiles)
    inside = np.zeros_like(mask)
    for t, l, b, r in tiles:   # the margin applies to every side that is not the photo's border
        inside[t + 16 * (t > 0):b - 16 * (b < 256), l + 16 * (l > 0):r - 16 * (r < 384)] = True
    assert inside[mask].all()


def test_cover_weights_sum_to_one_on_every_mark():
    mask = _strokes(256, 384)
    tiles = mark_tiles.cover(mask, 128, 16)
    total = np.zeros(mask.shape)
    for (t, l, b, r), wgt in zip(tiles, mark_tiles.cover_weights(tiles, 256, 384, 16)):
        total[t:b, l:r] += wgt
    assert np.abs(total[mask] - 1).max() < 1e-5


def test_a_covered_run_fits_only_the_tiles_on_the_marks(hill_data, tmp_path):
    out = tmp_path / "m.jsonl"
    mark_tiles.main(["--case", "val_hill_inpaint", "--iters", "10", "--jobs", "1", "--channels", "8",
                     "--tile", "48", "--layout", "cover", "--data", str(hill_data), "--out", str(out)])
    row = json.loads(out.read_text())
    assert row["layout"] == "cover" and row["fitted"] == row["tiles"] >= 1
    assert np.isfinite(row["curve"]["10_net"]["psnr"])
