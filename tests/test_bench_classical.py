"""The classical baselines (bench.classical) and their place beside DIP in bench.run's table."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from bench import cases, classical, run
from dip_engine import metrics
from tests.conftest import smooth_image


@pytest.fixture
def data(hill_data):
    return hill_data


def test_bm3d_removes_most_of_the_noise(data):
    c = cases.build("val_hill_denoise")
    out = classical.restore(c, "bm3d")
    assert metrics.psnr(out, c.truth) > metrics.psnr(c.observed, c.truth) + 8
    assert np.allclose(out * 255, np.round(out * 255), atol=1e-4)   # quantised like a saved result


def test_upscalers_beat_nearest_neighbour(data):
    c = cases.build("val_hill_sr4")
    h, w = c.truth.shape[:2]
    nearest = np.asarray(Image.fromarray((c.observed * 255).round().astype(np.uint8)).resize((w, h), Image.NEAREST))
    rows = {r["method"]: r for r in classical.run_case(c)}
    assert set(rows) == {"lanczos", "bicubic"}
    for r in rows.values():
        assert r["psnr"] > metrics.psnr_y(nearest, c.truth) + 1


def test_fills_score_inside_the_mask_and_keep_the_rest(data):
    c = cases.build("val_hill_inpaint")
    rows = {r["method"]: r for r in classical.run_case(c)}
    assert set(rows) == {"telea", "ns"}
    black = metrics.psnr(c.observed[c.mask], c.truth[c.mask])
    for method, r in rows.items():
        assert r["mask_psnr"] > black + 10
        out = classical.restore(c, method)
        assert np.abs(out[~c.mask] - c.truth[~c.mask]).max() <= 0.5 / 255 + 1e-6
    assert classical.best(list(rows.values()))["psnr"] == max(r["psnr"] for r in rows.values())


def test_command_writes_every_case_and_method(data, tmp_path, capsys):
    out = tmp_path / "c.json"
    assert classical.main(["--data", str(data), "--cases", "val", "--crop", "val_sr4=8", "--out", str(out)]) == 0
    got = json.loads(out.read_text())
    assert [r["case"] for r in got["results"]] == ["val_hill_denoise", "val_hill_sr4", "val_hill_inpaint"]
    assert [[m["method"] for m in r["methods"]] for r in got["results"]] == [["bm3d"], ["lanczos", "bicubic"],
                                                                           ["telea", "ns"]]
    assert got["results"][1]["size"] == [32, 32]
    assert all(m["wall_s"] >= 0 for r in got["results"] for m in r["methods"])
    means = capsys.readouterr().out
    assert "| val_sr4 | lanczos | 1 |" in means


def test_bench_table_shows_the_best_classical_method_beside_ours():
    row = {"case": "val_hill_inpaint", "preset": "fast", "size": [96, 64], "psnr": 31.2, "mask_psnr": 20.1,
           "paper_psnr": None, "ssim": 0.9, "iterations": 500, "stopped_by": "iterations", "wall_s": 30.0,
           "s_per_iter": 0.06, "paper_s_per_iter": 0.5, "time_ratio": 0.01, "peak_rss_mb": 400,
           "classical": [{"method": "telea", "psnr": 30.1, "mask_psnr": 18.0, "ssim": 0.9, "wall_s": 0.05},
                         {"method": "ns", "psnr": 30.4, "mask_psnr": 18.3, "ssim": 0.9, "wall_s": 0.03}]}
    line = run.table([row]).splitlines()[-1]
    assert "| 31.2 | 20.1 | — | ns 30.4 / 18.3 (0.03 s) |" in line


def test_rescore_adds_the_classical_rows_to_an_earlier_run(data, tmp_path):
    row = {"case": "val_hill_sr4", "preset": "fast", "crop": 8, "size": [32, 32], "psnr": 25.0, "ssim": 0.7,
           "iterations": 600, "stopped_by": "iterations", "wall_s": 9.0, "s_per_iter": 0.015,
           "paper_s_per_iter": 0.1, "time_ratio": 0.045, "peak_rss_mb": 400, "paper_psnr": None}
    out = tmp_path / "latest.json"
    out.write_text(json.dumps({"machine": {}, "command": "python -m bench.run", "results": [row]}))
    assert run.rescore(out, {"val_hill_sr4@8": {"best_psnr": 26.5}}, with_classical=True) == 0
    got = json.loads(out.read_text())
    (r,) = got["results"]
    assert r["paper_psnr"] == 26.5 and [m["method"] for m in r["classical"]] == ["lanczos", "bicubic"]
    assert got["command"].endswith("; python -m bench.run --rescore")
