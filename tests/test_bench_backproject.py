"""bench.backproject: what back-projection adds to the Lanczos upscale and to an SR run's tiles."""
import json

from bench import backproject
from dip_engine import classical


def test_kernels_score_the_lanczos_upscale_and_its_gain_per_step(hill_data, tmp_path):
    out = tmp_path / "k.jsonl"
    assert backproject.main(["--kernels", "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["scale"], r["kernel"]) for r in rows] == [(s, k) for s in (2, 4, 8) for k in backproject.KERNELS]
    assert all(r["photo"] == "hill" and set(r["gain"]) == {"1", "3", "10"} for r in rows)
    # the small photo made the way our model assumes (nearly: Pillow's Lanczos-3): back-projection gains
    assert all(r["gain"]["3"] > 0 for r in rows if r["kernel"] == "lanczos")


def test_a_run_in_tiles_is_recomposed_as_the_engine_composes_it(hill_data, tmp_path, monkeypatch):
    out = tmp_path / "b.jsonl"
    args = ["--cases", "val_hill_sr4", "--seeds", "0", "--iters", "30", "--tile", "16", "--out", str(out)]
    assert backproject.main(args) == 0
    monkeypatch.setattr(classical, "usable_mse", lambda *a, **k: None)   # every tile keeps its network's image
    assert backproject.main(args) == 0
    kept, usable = [json.loads(line) for line in out.read_text().splitlines()]
    # 30 iterations: every tile keeps Lanczos, and the result is the Lanczos upscale back-projected
    assert kept["parts"] == 2 and kept["kept_lanczos"] == [0, 1] and set(kept["no_fallback"]) == {"0", "1", "3", "10"}
    assert kept["fallback"]["0"] == kept["lanczos"]["0"] != kept["no_fallback"]["0"]
    steps = str(classical.BACK_PROJECTION_STEPS)
    assert abs(kept["engine"] - kept["lanczos"][steps]) <= 0.01 and kept["lanczos"][steps] != kept["lanczos"]["0"]
    # a looser usable rule keeps the tiles whose data term is within k times Lanczos's
    assert [t["part"] for t in kept["tiles"]] == [0, 1] and all(t["ratio"] > 1 for t in kept["tiles"])
    for k, psnr in kept["ratio_rule"].items():
        n = sum(t["ratio"] <= float(k) for t in kept["tiles"])
        if n in (0, 2):
            assert psnr == (kept["lanczos"] if n == 0 else kept["no_fallback"])["1"]
    assert {t["ratio"] for t in kept["tiles"]} == {t["ratio"] for t in usable["tiles"]}
    # with every tile's network image: the engine's result is their composite back-projected
    assert usable["kept_lanczos"] == [] and usable["fallback"] == usable["no_fallback"]
    assert abs(usable["engine"] - usable["fallback"][steps]) <= 0.01 and usable["fallback"][steps] != usable["fallback"]["0"]


def test_no_data_is_said_plainly(tmp_path, monkeypatch, capsys):
    from bench import cases
    monkeypatch.setenv(cases.ENV, str(tmp_path))
    assert backproject.main(["--kernels", "--out", str(tmp_path / "k.jsonl")]) == 2
    assert "no validation/ folder" in capsys.readouterr().err


def test_the_kept_lanczos_upscale_is_scored_plain_and_back_projected(hill_data, tmp_path):
    out = tmp_path / "kept.jsonl"
    assert backproject.main(["--kept", "--cases", "val_sr2,val_sr4", "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["case"] for r in rows] == ["val_hill_sr2", "val_hill_sr4"]
    assert all(r["kept_now"] > r["kept_plain"] for r in rows)   # what the engine now returns is better
