"""bench.ensemble: several seeds' results of one preset and the PSNR of their average."""
import json

from bench import ensemble


def test_each_seed_and_their_average_are_recorded(hill_data, tmp_path, capsys):
    out = tmp_path / "ensemble.jsonl"
    args = ["--cases", "val_hill_denoise", "--preset", "draft", "--seeds", "0,1,2", "--iters", "20", "--tile", "64",
            "--out", str(out)]
    assert ensemble.main(args) == 0
    (row,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert [s["seed"] for s in row["seeds"]] == [0, 1, 2] and all(s["wall_s"] > 0 for s in row["seeds"])
    a, b, _ = (s["psnr"] for s in row["seeds"])
    assert a != b                                   # two seeds, two different fits
    # the MSE is convex: the average of two results is never further from the truth than the worse one
    assert row["first_k_psnr"]["2"] > min(a, b)
    assert row["first_k_psnr"]["3"] == row["average_psnr"] and set(row["first_k_psnr"]) == {"2", "3"}
    assert "val_hill_denoise (draft): s0" in capsys.readouterr().out
