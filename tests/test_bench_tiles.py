"""bench.tiles: a photo fitted in tiles against the whole-photo fit, at its end and at the tiles' time."""
import json

import pytest

from bench import tiles


def test_tiles_and_the_whole_fit_are_recorded_side_by_side(hill_data, tmp_path, capsys):
    out = tmp_path / "tiles.jsonl"
    args = ["--cases", "val_hill_denoise", "--tile", "64", "--iters", "30", "--seeds", "0,1", "--whole-seeds", "0",
            "--out", str(out)]
    assert tiles.main(args) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["seed"] for r in rows] == [0, 1] and all(r["size"] == [96, 64] for r in rows)
    assert all(r["overlap"] == 16 for r in rows)
    for r in rows:
        t = r["tiled"]   # `fast`: 2 tiles, each fitted twice
        assert t["parts"] == 4 and t["iterations"] == 120 and t["psnr"] > r["input_psnr"]
        # the progress bar's promise at 5, 25 and 50 %, and how far the end it promised was off
        assert [e[0] >= m for e, m in zip(t["eta"], (0.05, 0.25, 0.5))] == [True] * 3
        for progress, elapsed, eta, low, high, error in t["eta"]:
            assert 0 < elapsed < t["wall_s"] and low <= eta <= high
            # every figure is rounded to 0.1 s, which weighs on these few-second runs
            slack = 0.15 / t["wall_s"] * (1 + abs(error)) + 1e-3
            assert error == pytest.approx((elapsed + eta) / t["wall_s"] - 1, abs=slack)
    w = rows[0]["whole"]
    assert w["parts"] == 2 and w["iterations"] == 60 and w["stopped_by"] == "iterations"   # fitted twice
    assert rows[1]["whole"] is None   # seed 1: tiles only
    assert w["curve"][-1][:1] + w["curve"][-1][2:] == [60, w["psnr"]]   # ends with the result itself
    by_then = [c for c in w["curve"] if c[1] <= rows[0]["tiled"]["wall_s"]] or w["curve"][:1]
    assert w["at_tiles_time"] == {"iteration": by_then[-1][0], "psnr": by_then[-1][2]}
    assert w["best"]["psnr"] == max(c[2] for c in w["curve"])
    table = capsys.readouterr().out
    assert "| val_hill_denoise s1 |" in table and "not run" in table
    assert "mean tiles - whole's result over 1 runs" in table and "mean tiles - input over 2 runs" in table
    assert "ETA shown at 5 % of the tiles: its end" in table and "over 2 runs" in table
    assert tiles.main(["--summary", str(out)]) == 0
    assert capsys.readouterr().out == table
    # BM3D beside them, from bench.classical's results: each photo once, its seeds averaged
    classical = tmp_path / "classical.json"
    classical.write_text(json.dumps({"results": [{"case": "val_hill_denoise", "crop": None, "methods": [
        {"method": "bm3d", "psnr": 25.0}]}, {"case": "val_hill_denoise", "crop": 128, "methods": [
        {"method": "bm3d", "psnr": 99.0}]}]}))
    assert tiles.main(["--summary", str(out), "--classical", str(classical)]) == 0
    table = capsys.readouterr().out
    assert "| val_hill_denoise s0 | " in table and " | 25.00 | " in table and "99.00" not in table
    gap = (rows[0]["tiled"]["psnr"] + rows[1]["tiled"]["psnr"]) / 2 - 25.0
    assert f"mean tiles - BM3D over 1 photos (seeds averaged): {gap:+.2f} dB" in table


def test_sr_tiles_start_from_lanczos(hill_data, tmp_path):
    """SR cases tile the small photo; the "input" they are measured against is its Lanczos upscale."""
    out = tmp_path / "tiles.jsonl"
    assert tiles.main(["--cases", "val_hill_sr4", "--tile", "16", "--iters", "20", "--whole-seeds", "99",
                       "--out", str(out)]) == 0
    row = json.loads(out.read_text())
    case = tiles.bench_cases.build("val_hill_sr4")
    lanczos = tiles.bench_cases.score(case, tiles.bench_classical.restore(case, "lanczos"))["psnr"]
    assert row["input_psnr"] == pytest.approx(lanczos, abs=1e-3) and row["whole"] is None
    t = row["tiled"]
    assert t["parts"] == 2 and t["iterations"] == 40 and set(t["classical_parts"]) <= {0, 1}
    assert row["overlap"] == t["overlap"] == 8   # the engine's 16, at most half the tile


def test_only_denoising_and_sr_cases_are_compared(hill_data, tmp_path):
    with pytest.raises(SystemExit, match="inpaint case"):
        tiles.main(["--cases", "val_hill_inpaint", "--out", str(tmp_path / "t.jsonl")])


def test_no_fallback_keeps_every_tiles_network_result(hill_data, tmp_path, capsys):
    """20 iterations are far from Lanczos: the usable rule keeps it in both tiles, unless told not to."""
    out = tmp_path / "tiles.jsonl"
    common = ["--cases", "val_hill_sr4", "--tile", "16", "--iters", "20", "--whole-seeds", "99", "--out", str(out)]
    assert tiles.main(common) == 0 and tiles.main(common + ["--no-fallback"]) == 0
    kept, net = (json.loads(line)["tiled"] for line in out.read_text().splitlines())
    assert kept["fallback"] and kept["classical_parts"] == [0, 1] and not kept["usable"]
    assert not net["fallback"] and net["classical_parts"] == [] and net["usable"]
    assert kept["psnr"] != net["psnr"]
    assert "| 16 px, no fallback: " in capsys.readouterr().out


def test_set_tries_a_lever_through_the_whole_restore_path(hill_data, tmp_path, capsys):
    """--set overrides the preset of every tile's fit (here: the SURE loss on the noisy photo)."""
    out = tmp_path / "tiles.jsonl"
    sets = ['input="observation"', "input_channels=3", 'loss="sure"', "reg_noise=0.05", "iterations=25"]
    assert tiles.main(["--cases", "val_hill_denoise", "--tile", "64", "--whole-seeds", "99", "--out", str(out),
                       "--set", *sets]) == 0
    row = json.loads(out.read_text())
    assert row["set"] == sets
    assert row["tiled"]["parts"] == 4 and row["tiled"]["iterations"] == 100 and row["tiled"]["psnr"] > row["input_psnr"]
    assert '64 px, input="observation", input_channels=3, loss="sure"' in capsys.readouterr().out
