"""How right is the time left that a run in tiles shows? Record runs, then replay their logs
through the engine's estimate (`dip_engine.eta`) to see what it promised and when the run ended.

    python -m bench.eta --cases val_wheat_field_denoise --seeds 1 --out bench/results/eta     # record
    python -m bench.eta --replay bench/results/eta                                            # score
    python -m bench.eta --simulate bench/results/eta --grid 27x36                             # 12 MP

Recording runs the default preset in tiles, as a user would (every core busy), and logs every
part's iterations, which parts had ended and the wall time, about twice a second (one JSON file
per case and seed). Replaying feeds each logged moment to `eta.estimate` and reports, at 5, 25
and 50 % of the run's progress, the end it promised against the real end: the same readings as
`bench.tiles`' "eta", but for the estimate as the code now stands, so a change to it can be
judged on runs already recorded.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from unittest import mock

import numpy as np

from bench import cases as bench_cases
from bench.record import machine, write_atomic
from bench.run import _photo
from dip_engine import eta, restore

MARKS = (0.05, 0.25, 0.5)


def record(case_name: str, seed: int, out: Path, every_s: float = 0.5) -> Path:
    case = bench_cases.build(case_name, None)
    job = restore.Job(case.task, _photo(case.observed), seed=seed, device="cpu",
                      scale=case.scale if case.task == "sr" else 1, preview_every=10 ** 9)
    preset = job.settings()
    log: list[dict] = []
    t_start = time.perf_counter()
    inner = restore._parts_step
    meta: dict = {}

    def logged(step, i, n, per, iters, ended, t0, preset_, stops, workers, *a, **k):
        now = time.perf_counter()
        meta.update(n=n, per=per, stops=stops, workers=workers, t0=t0 - t_start)
        changed = not log or len(ended) != len(log[-1]["ended"])
        if changed or now - t_start - log[-1]["t"] >= every_s:
            log.append({"t": round(now - t_start, 3), "iters": list(iters),
                        "ended": {str(k): v for k, v in ended.items()}})
        return inner(step, i, n, per, iters, ended, t0, preset_, stops, workers, *a, **k)

    with mock.patch.object(restore, "_parts_step", logged):
        for last in restore.run(job):
            pass
    meta["regions"] = [list(r) for r in restore.plan(job).regions]
    wall = time.perf_counter() - t_start
    path = out / f"{case_name}_s{seed}.json"
    write_atomic(path, json.dumps({
        "case": case_name, "seed": seed, "preset": preset.name, "wall_s": round(wall, 2),
        "prior": vars(eta.prior(preset, meta["per"], meta["stops"])), **meta,
        "iterations": last.iteration, "machine": machine(), "log": log}))
    return path


def replay(path: Path) -> list[list[float]]:
    """[progress, seconds so far, promised end / real end - 1] at each mark of one recorded run."""
    r = json.loads(path.read_text())
    per, wall = r["per"], r["wall_s"]
    out, marks, started = [], list(MARKS), None
    for e in r["log"]:
        iters, ended = e["iters"], {int(k): v for k, v in e["ended"].items()}
        if started is None and sum(iters):
            started = (e["t"] - r["t0"], sum(iters))
        progress = eta.progress(iters, ended, per)
        if not marks or progress < marks[0]:
            continue
        marks.pop(0)
        left = eta.estimate(iters, ended, per, eta.Prior(**r["prior"]), r["workers"], e["t"] - r["t0"], started=started)
        out.append([round(progress, 3), e["t"], round((e["t"] + left.mid) / wall - 1, 3),
                    round((e["t"] + left.soon) / wall - 1, 3), round((e["t"] + left.late) / wall - 1, 3)])
    return out


def simulate(lengths: list[int], order: list[int], workers: int, per: int, before: eta.Prior,
             step: int = 10) -> list[float]:
    """A run in parts of these `lengths` (iterations), fitted in `order` on `workers` at one
    iteration per worker and time unit: the estimate's error (promised end / real end - 1) at
    each mark. Time here is iterations, so only the estimate's reading of the parts is tested."""
    n = len(lengths)
    iters, ended, queue, lanes = [0] * n, {}, list(order), [None] * workers
    t, done_fraction, snaps = 0, 0.0, []
    marks = list(MARKS)
    while len(ended) < n:
        lanes = [k if k is not None else (queue.pop(0) if queue else None) for k in lanes]
        t += step
        for w, k in enumerate(lanes):
            if k is None:
                continue
            before_k = iters[k]
            iters[k] = min(iters[k] + step, lengths[k])
            done_fraction += (iters[k] - before_k) / per / n
            if iters[k] >= lengths[k]:
                ended[k] = lengths[k]
                done_fraction += (per - lengths[k]) / per / n   # an ended part counts whole
                lanes[w] = None
        if marks and done_fraction >= marks[0]:
            marks.pop(0)
            snaps.append((t, eta.estimate(iters, ended, per, before, workers, t).mid))
    return [round((s + left) / t - 1, 3) for s, left in snaps]


def enlarge(path: Path, rows: int, cols: int, spread: float = 0.15, seed: int = 0) -> list[int]:
    """Part lengths for a photo of rows x cols parts, from a recorded run's: each recorded part's
    length over its share of the bigger grid, times a random factor (log-normal, `spread`), so
    the big photo has the recorded photo's layout (sky at the top, say)."""
    r = json.loads(path.read_text())
    tops = sorted({t for t, *_ in r["regions"]})
    lefts = sorted({l for _, l, *_ in r["regions"]})
    ended = r["log"][-1]["ended"]
    grid = np.array([ended[str(k)] for k in range(r["n"])], float).reshape(len(tops), len(lefts))
    big = grid[np.arange(rows) * len(tops) // rows][:, np.arange(cols) * len(lefts) // cols]
    big *= np.random.default_rng(seed).lognormal(0.0, spread, big.shape)
    return [int(v) for v in np.clip(np.rint(big), r["prior"]["soonest"], r["per"]).ravel()]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.eta", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default="val_wheat_field_denoise")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--out", type=Path, default=Path("bench/results/eta"))
    ap.add_argument("--replay", type=Path, metavar="DIR", help="score the runs recorded in DIR and exit")
    ap.add_argument("--simulate", type=Path, metavar="DIR",
                    help="for each run recorded in DIR, simulate a photo of --grid parts laid out like it, "
                         "fitted row by row and shuffled, and score the estimate on both")
    ap.add_argument("--grid", default="27x36", help="rows x columns of parts for --simulate (27x36: 12 MP in "
                                                      "tiles of 128 px)")
    bench_cases.add_data_option(ap)
    a = ap.parse_args(argv)
    if a.simulate:
        rows, cols = (int(v) for v in a.grid.split("x"))
        for path in sorted(a.simulate.glob("*.json")):
            r = json.loads(path.read_text())
            for seed in (0, 1):
                lengths = enlarge(path, rows, cols, seed=seed)
                for name, order in (("row by row", list(range(len(lengths)))), ("shuffled", eta.order(len(lengths)))):
                    errs = simulate(lengths, order, r["workers"], r["per"], eta.Prior(**r["prior"]))
                    print(f"{path.stem:32s} seed {seed} {name:10s} " + "  ".join(
                        f"{m:.0%}: {e:+.1%}" for m, e in zip(MARKS, errs)))
        return 0
    if a.replay:
        rows = []
        for path in sorted(a.replay.glob("*.json")):
            marks = replay(path)
            rows.append([m[2] for m in marks])
            print(f"{path.stem:40s} " + "  ".join(f"{m[0]:.0%}: {m[2]:+.0%} ({m[3]:+.0%}..{m[4]:+.0%})" for m in marks))
        for k, mark in enumerate(MARKS):
            errs = [row[k] for row in rows if len(row) > k]
            if errs:
                print(f"at {mark:.0%}: mean {np.mean(errs):+.1%}, from {min(errs):+.1%} to {max(errs):+.1%} "
                      f"({len(errs)} runs; + is late)")
        return 0
    bench_cases.use_data(a.data)
    a.out.mkdir(parents=True, exist_ok=True)
    for name in a.cases.split(","):
        for seed in (int(s) for s in a.seeds.split(",")):
            path = record(name, seed, a.out)
            print(f"{name} seed {seed}: {path}; " + "; ".join(
                f"{m[0]:.0%}: {m[2]:+.0%}" for m in replay(path)), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
