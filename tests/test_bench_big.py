"""bench.big: how far the default plan gets on a big photo in a given time, and the end it predicts."""
import json

from bench import big


def test_a_probe_records_the_plan_the_pace_and_the_predicted_end(tmp_path, capsys):
    out = tmp_path / "big.jsonl"
    # 64x80 is one whole fit with `draft` (no worker processes); 2 s is a few dozen iterations here
    assert big.main(["--size", "64", "80", "--seconds", "2", "--device", "cpu", "--preset", "draft",
                     "--out", str(out)]) == 0
    (row,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert row["size"] == [64, 80] and row["parts"] == 1 and row["device"] == "cpu"
    assert row["iterations"] > 0 and 0 < row["progress"] < 1 and row["seconds"] >= 2
    assert row["eta_s"] > 0 and row["estimate_s"] > row["seconds"] * 0.5
    assert json.loads(capsys.readouterr().out) == row


def test_a_run_to_its_end_scores_the_ends_it_promised_along_the_way(tmp_path):
    out = tmp_path / "big.jsonl"
    assert big.main(["--size", "48", "48", "--seconds", "0", "--device", "cpu", "--preset", "draft",
                     "--out", str(out)]) == 0
    (row,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert row["done"] and row["progress"] == 1.0
    progress = [r["progress"] for r in row["readings"]]
    assert len(progress) == len(big.MARKS) and progress == sorted(progress) and progress[0] >= 0.01
    for r in row["readings"]:
        promised = r["elapsed_s"] + r["eta_s"]
        assert r["error"] == round(promised / row["seconds"] - 1, 3)
    assert row["peak_rss_mb"]["bench"] > 50
