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
