"""bench.precision: s/iteration in fp32 and bf16 per preset and size."""
import json

import pytest

from bench import precision


def test_times_both_precisions_per_preset_and_size(tmp_path, capsys):
    out = tmp_path / "precision.json"
    assert precision.main(["--sizes", "32", "--presets", "fast", "--iters", "4", "--out", str(out)]) == 0
    (row,) = json.loads(out.read_text())["results"]
    assert row["preset"] == "fast" and row["size"] == 32
    assert row["fp32_s_per_iter"] > 0 and row["bf16_s_per_iter"] > 0
    assert row["speedup"] == pytest.approx(row["fp32_s_per_iter"] / row["bf16_s_per_iter"], abs=0.01)
    assert "| fast | 32² |" in capsys.readouterr().out


def test_too_few_iterations_to_time_is_refused():
    with pytest.raises(SystemExit):
        precision.main(["--iters", "3"])
