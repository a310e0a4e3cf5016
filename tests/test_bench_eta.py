"""bench.eta: replaying recorded runs in parts through the time-left estimate, and simulating big ones."""
import json

from bench import eta as bench_eta
from dip_engine import eta


def _log(path, lengths, per=1500, workers=1):
    """A recorded run of parts with these lengths, one above the other, fitted one after another at
    0.01 s per iteration."""
    n, iters, ended, log, t = len(lengths), [0] * len(lengths), {}, [], 0.0
    for k, length in enumerate(lengths):
        for i in range(10, length + 1, 10):
            iters[k], t = i, t + 0.1
            if i == length:
                ended[str(k)] = length
            log.append({"t": round(t, 3), "iters": list(iters), "ended": dict(ended)})
    path.write_text(json.dumps({"case": "x", "seed": 0, "n": n, "per": per, "workers": workers, "t0": 0.0,
                                "wall_s": t, "prior": {"guess": 900.0, "soonest": 350.0},
                                "regions": [[64 * k, 0, 64 * k + 64, 64] for k in range(n)], "log": log}))


def test_a_replay_scores_what_the_estimate_promised_against_the_real_end(tmp_path):
    _log(tmp_path / "even.json", [900] * 8)
    marks = bench_eta.replay(tmp_path / "even.json")
    assert len(marks) == 3 and all(m[0] >= mark for m, mark in zip(marks, bench_eta.MARKS))
    assert all(abs(m[2]) < 0.02 for m in marks)   # parts as long as the guess: the promised end is right
    _log(tmp_path / "long.json", [1500] * 8)
    long = bench_eta.replay(tmp_path / "long.json")   # longer than the guess: early at first, less so later
    assert long[0][2] < -0.05 and abs(long[-1][2]) < abs(long[0][2])


def test_a_big_photo_laid_out_like_a_recorded_one_is_simulated_row_by_row_and_shuffled(tmp_path):
    # the top half of the photo (parts in a column) stops at 400, the rest runs 1400: row by row, the first
    # parts to end make the estimate early; shuffled, they are a fair sample
    _log(tmp_path / "halves.json", [400, 400, 1400, 1400])
    lengths = bench_eta.enlarge(tmp_path / "halves.json", 10, 40, spread=0.0)
    assert len(lengths) == 400 and lengths[:10] == [400] * 10 and lengths[-10:] == [1400] * 10
    before = eta.Prior(900.0, 350.0)
    by_rows = bench_eta.simulate(lengths, list(range(400)), 2, 1500, before)
    shuffled = bench_eta.simulate(lengths, eta.order(400), 2, 1500, before)
    assert len(by_rows) == len(shuffled) == 3
    assert max(abs(e) for e in shuffled) < 0.1 < max(abs(e) for e in by_rows)
