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
