"""Replay stopping rules on the curves `bench.stopping` recorded and score each against the
best PSNR of the run and against running to the budget.

    python -m bench.stopping_rules results/stopping_128.json results/stopping_256.json --budget 1500
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from bench import cases
from bench.stopping import ROOT, load
from dip_engine.noise import estimate_sigma


def es_wmv_stop(variance: list, patience: int) -> tuple[int | None, int | None]:
    """(stop iteration, peak iteration) of ES-WMV with this patience, from the per-iteration statistic."""
    best, peak, since = float("inf"), None, 0
    for i, v in enumerate(variance, start=1):
        if v is None:
            continue
        if v < best:
            best, peak, since = v, i, 0
        else:
            since += 1
        if peak is not None and since >= patience:
            return i, peak
    return None, peak


def at(samples, it: int) -> float:
    """PSNR of the sample at or just before iteration `it`."""
    ok = [s for s in samples if s[0] <= it]
    return (ok[-1] if ok else samples[0])[1]


def first_below(samples, level: float) -> int | None:
    for it, _, mse in samples:
        if mse <= level:
            return it
    return None


GATES = (0.9, 1.0, 1.1)
PATIENCES = (200, 300, 400)


def rules(run: dict, sigma2: float, budget: int) -> dict[str, tuple[int, float]]:
    """Rule -> (stop iteration, PSNR of the result it returns)."""
    s = [x for x in run["samples"] if x[0] <= budget]
    out = {"budget": (budget, at(s, budget))}
    stop, peak = es_wmv_stop(run["variance"][:budget], 200)
    out["es-wmv"] = (stop, at(s, min(peak + 100, stop))) if stop else out["budget"]
    for c in (1.0, 1.1, 1.2):
        it = first_below(s, c * sigma2)
        out[f"resid<={c}s2"] = (it, at(s, it)) if it else out["budget"]
    # ES-WMV, but only once the smoothed output has explained the photo down to the noise level
    for c in GATES:
        gate = first_below(s, c * sigma2)
        for pat in PATIENCES:
            key = f"gate{c}/p{pat}"
            if gate is None:
                out[key] = out["budget"]
                continue
            var = [None if i < gate else v for i, v in enumerate(run["variance"][:budget], start=1)]
            stop, peak = es_wmv_stop(var, pat)
            out[key] = (stop, at(s, min(peak + 100, stop))) if stop else out["budget"]
    # the usable level (classical.usable_mse): where the result first beats the noisy photo by 3 dB
    out["usable@1.5s2"] = (first_below(s, 1.5 * sigma2) or budget, at(s, first_below(s, 1.5 * sigma2) or budget))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("--budget", type=int, default=1500)
    cases.add_data_option(ap)
    a = ap.parse_args(argv)
    cases.use_data(a.data)
    table = {}
    for f in a.files:
        for run in json.loads((ROOT / "bench" / f).read_text()):
            gt, noisy = load(run["photo"], run["crop"])
            sig = estimate_sigma(noisy)
            best = max((x for x in run["samples"] if x[0] <= a.budget), key=lambda x: x[1])
            r = rules(run, sig ** 2, a.budget)
            key = f"{run['photo']}@{run['crop'] or 'full'} s{run['seed']}"
            table[key] = r
            print(f"{key:34s} noisy {run['noisy_psnr']:.2f} sigma^ {sig * 255:4.1f} best {best[1]:.2f}@{best[0]:<5d} "
                  + " ".join(f"{k} {v[1]:.2f}@{v[0]}" for k, v in r.items()))
    names = next(iter(table.values())).keys()
    print("\nmean dB vs budget end, worst case, share of runs within 0.1 dB of the budget or better:")
    for n in names:
        d = np.array([t[n][1] - t["budget"][1] for t in table.values()])
        its = np.array([t[n][0] for t in table.values()])
        print(f"  {n:14s} {d.mean():+.2f} dB (worst {d.min():+.2f}), {np.mean(d >= -0.1) * 100:.0f} % ok, "
              f"mean stop {its.mean():.0f}")


if __name__ == "__main__":
    sys.exit(main())
