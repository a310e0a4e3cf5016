"""bench.run's table: when a preset first reaches the paper configuration's best (issue 12's ratio)."""
import json

import pytest

from bench import run

ROW = {"case": "f16_denoise", "preset": "fast", "size": [512, 512], "psnr": 31.0, "paper_psnr": 31.5,
       "ssim": 0.9, "iterations": 2000, "stopped_by": "iterations", "wall_s": 2000.0, "s_per_iter": 1.0,
       "paper_s_per_iter": 4.0, "paper_iterations": 3000, "time_ratio": 0.1667, "peak_rss_mb": 900,
       "curve": [[500, 30.0], [1000, 31.6], [1500, 31.8], [2000, 31.0]]}


def test_reach_ratio_is_the_first_curve_point_at_the_paper_best_over_the_paper_full_run():
    assert run.reach_ratio(ROW) == round(1000 * 1.0 / (4.0 * 3000), 4)
    assert f"| {round(1000 / 12000, 4)} |" in run.table([ROW]).splitlines()[-1]


def test_a_preset_that_never_reaches_the_paper_best_says_so():
    row = {**ROW, "paper_psnr": 32.0}
    assert run.reach_ratio(row) is None
    assert "| never |" in run.table([row]).splitlines()[-1]
    assert "| — |" in run.table([{**ROW, "paper_psnr": None}]).splitlines()[-1]


def _reference(tmp_path, monkeypatch) -> list[str]:
    monkeypatch.setattr(run, "RESULTS", tmp_path / "results")
    (tmp_path / "results").mkdir()
    return ["--one", "val_hill_denoise", "paper", "--reference", "--stop", "never", "--iters", "4",
            "--curve-every", "1", "--crop", "32", "--threads", "1"]


def test_a_reference_run_records_its_curve_and_best_point(hill_data, tmp_path, monkeypatch):
    assert run.main(_reference(tmp_path, monkeypatch)) == 0
    row = json.loads((tmp_path / "results" / "reference.json").read_text())["val_hill_denoise@32"]
    assert row["iterations"] == 4 and [i for i, _ in row["curve"]] == [0, 1, 2, 3]
    assert row["best_psnr"] == max(p for i, p in row["curve"] if i > 0) and "interrupted" not in row
    assert row["stop_suggested_at"] is None   # the paper preset has no auto-stop


def test_a_reference_run_writes_the_file_it_is_given(hill_data, tmp_path, monkeypatch):
    """Several reference runs at once (one GPU, five cases) each keep their own file."""
    own = tmp_path / "ref_hill.json"
    assert run.main(_reference(tmp_path, monkeypatch) + ["--reference-file", str(own)]) == 0
    row = json.loads(own.read_text())["val_hill_denoise@32"]
    assert row["device"] == "cpu" and row["iterations"] == 4
    assert not (tmp_path / "results" / "reference.json").exists()


def test_an_interrupted_reference_run_keeps_the_curve_it_had(hill_data, tmp_path, monkeypatch):
    args = _reference(tmp_path, monkeypatch)
    keep = run.record_reference

    def ctrl_c_after_two(path, key, row):
        keep(path, key, row)
        if len(row["curve"]) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(run, "record_reference", ctrl_c_after_two)
    with pytest.raises(KeyboardInterrupt):
        run.main(args)
    row = json.loads((tmp_path / "results" / "reference.json").read_text())["val_hill_denoise@32"]
    assert row["interrupted"] is True and row["iterations"] == 1
    assert (row["best_iteration"], row["best_psnr"]) == tuple(row["curve"][1])


def test_a_reference_cut_before_its_peak_is_no_paper_best():
    curve = [[0, 20.35], [50, 19.0], [100, 21.0]]
    running = {"curve": curve, "best_psnr": 21.0, "best_iteration": 100, "interrupted": True}
    assert run.paper_best(running) is None                      # still climbing: only a lower bound
    assert run.paper_best({"curve": curve[:1], "best_psnr": 20.35, "best_iteration": 0,
                           "interrupted": True}) is None        # nothing but the noisy photo
    past_peak = {**running, "curve": curve + [[150, 20.5]]}
    assert run.paper_best(past_peak) == 21.0                    # cut after its peak, as the bench asks
    assert run.paper_best({**running, "interrupted": False}) == 21.0
    assert run.paper_best({}) is None


def test_a_reference_best_is_never_the_photo_it_starts_from(tmp_path):
    row = {"iterations": 100, "psnr": 22.0, "curve": [[0, 24.3], [50, 14.0], [100, 22.0]]}
    best = run.record_reference(tmp_path / "reference.json", "val_street_sr4@48", row)
    assert (best["best_psnr"], best["best_iteration"]) == (22.0, 100)
