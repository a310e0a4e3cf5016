"""bench.ensemble: several seeds' results of one preset and the PSNR of their average."""
import json

from bench import ensemble


def test_each_seed_their_average_and_groups_are_recorded_and_kept_results_reused(hill_data, tmp_path, capsys):
    out, keep = tmp_path / "ensemble.jsonl", tmp_path / "kept"
    args = ["--cases", "val_hill_denoise", "--preset", "draft", "--iters", "20", "--tile", "64",
            "--out", str(out), "--keep", str(keep)]
    assert ensemble.main([*args, "--seeds", "0,1"]) == 0
    assert ensemble.main([*args, "--seeds", "0,1,2,3"]) == 0     # seeds 0 and 1 are read back
    first, row = [json.loads(line) for line in out.read_text().splitlines()]
    assert [s["seed"] for s in row["seeds"]] == [0, 1, 2, 3]
    assert [s["psnr"] for s in row["seeds"][:2]] == [s["psnr"] for s in first["seeds"]]
    assert [s["wall_s"] for s in row["seeds"][:2]] == [None, None] and all(s["wall_s"] > 0 for s in row["seeds"][2:])
    a, b, c, d = (s["psnr"] for s in row["seeds"])
    assert a != b                                   # two seeds, two different fits
    # the MSE is convex: the average of two results is never further from the truth than the worse one
    assert row["first_k_psnr"]["2"] > min(a, b) and row["first_k_psnr"]["2"] == first["average_psnr"]
    assert row["first_k_psnr"]["4"] == row["average_psnr"] and set(row["first_k_psnr"]) == {"2", "3", "4"}
    # consecutive pairs: what a preset of two fits returns at seeds 0 and 2
    assert row["groups_psnr"] == {"2": [first["average_psnr"], row["groups_psnr"]["2"][1]]}
    assert row["groups_psnr"]["2"][1] > min(c, d)
    text = capsys.readouterr().out
    assert "val_hill_denoise (draft): s0" in text and "(kept)" in text
