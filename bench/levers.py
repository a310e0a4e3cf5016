"""Speed levers of issue 12 side by side: each named variant of the default preset on each case
and seed, two single-thread runs at a time, every run capped in time, curves to a JSON-lines file.

    python -m bench.levers --cases f16_denoise,val_village_denoise --crop 256 --seeds 0,1 \\
        --variants fast,drp,unshuffle --seconds 300 --out bench/results/levers.jsonl
Prints, per variant, the mean best PSNR and the mean PSNR reached by 60 / 120 / 300 s.
"""
from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

# preset overrides per variant (bench.explore --set syntax)
VARIANTS = {
    "fast": [],
    # the net fitted from noise, as `fast` denoised until 2026-12-06 (auto-stop off in the sweep)
    "noise": ['input="noise"', "input_channels=32", 'loss="mse"', "reg_noise=0.03333", "iterations=1500", "es_patience=300"],
    # Deep Random Projector, the authors' denoising settings: one scale of 64 channels, convs
    # frozen, a 3-channel input and the batch norms fitted with lr 0.1, sqrt(MSE) + 0.45 TV.
    "drp": ['train="input"', 'loss="rmse"', "tv=0.45", "lr=0.1", "reg_noise=0.0", "scales=1",
            "channels=64", "input_channels=3"],
    "drp_tv0.1": ['train="input"', 'loss="rmse"', "tv=0.1", "lr=0.1", "reg_noise=0.0", "scales=1",
                  "channels=64", "input_channels=3"],
    "drp_tv0": ['train="input"', 'loss="rmse"', "tv=0.0", "lr=0.1", "reg_noise=0.0", "scales=1",
                "channels=64", "input_channels=3"],
    "drp_tv0.7": ['train="input"', 'loss="rmse"', "tv=0.7", "lr=0.1", "reg_noise=0.0", "scales=1",
                  "channels=64", "input_channels=3"],
    "drp_unshuffle": ['train="input"', 'loss="rmse"', "tv=0.45", "lr=0.1", "reg_noise=0.0", "scales=1",
                      "channels=64", "input_channels=3", "unshuffle=2"],
    "drp5": ['train="input"', 'loss="rmse"', "tv=0.45", "lr=0.1", "reg_noise=0.0", "input_channels=3"],
    # DIP-SURE (Jo, Chun, Choi, ICCV 2021): the noisy photo as input, perturbed by half the noise
    # level, and Stein's unbiased risk estimate as the loss, so the fit need not be stopped before
    # it takes in the noise (`fast` denoising since 2026-12-06; "fast" here is then the same).
    "sure": ['input="observation"', "input_channels=3", 'loss="sure"', "reg_noise=0.5"],
    "sure_lr0.03": ['input="observation"', "input_channels=3", 'loss="sure"', "reg_noise=0.5", "lr=0.03"],
    "sure64": ['input="observation"', "input_channels=3", 'loss="sure"', "reg_noise=0.5", "channels=64"],
    "sure16": ['input="observation"', "input_channels=3", 'loss="sure"', "reg_noise=0.5", "channels=16"],
    "unshuffle": ["unshuffle=2"],
    "unshuffle64": ["unshuffle=2", "channels=64"],
}
MARKS = (60, 120, 240, 600)         # seconds of fitting
ITER_MARKS = (200, 400, 800)        # iterations: the same work, e.g. in fp32 and in bf16


def summary(rows: list[dict], by_case: bool = False) -> str:
    if by_case:
        return "\n".join(f"{case}\n" + summary([r for r in rows if r["case"] == case])
                         for case in dict.fromkeys(r["case"] for r in rows))
    out = []
    for v in dict.fromkeys(r["variant"] for r in rows):
        rs = [r for r in rows if r["variant"] == v]
        line = f"{v:12s} runs {len(rs):2d}  best {sum(r['best_psnr'] for r in rs) / len(rs):6.2f} dB"
        line += f" (at {sum(r['best_t'] for r in rs) / len(rs):5.0f} s, it {sum(r['best_it'] for r in rs) / len(rs):5.0f})"
        for m in MARKS:
            got = [max((p for _, t, p, _ in r["curve"] if t <= m), default=None) for r in rs]
            if all(g is not None for g in got) and all(r["curve"][-1][1] >= m * 0.95 for r in rs):
                line += f"  {m}s {sum(got) / len(got):6.2f}"
        for m in ITER_MARKS:
            got = [next((p for i, _, p, _ in r["curve"] if i == m), None) for r in rs]
            if all(g is not None for g in got):
                line += f"  it{m} {sum(got) / len(got):6.2f}"
        out.append(line + f"  s/it {sum(r['s_per_iter'] for r in rs) / len(rs):.3f}")
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", help="required unless --summary")
    ap.add_argument("--crop", type=int)
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--variants", default="fast,drp", help="names from VARIANTS, each optionally +bf16 (in bfloat16) and @SECONDS")
    ap.add_argument("--seconds", type=float, default=300)
    ap.add_argument("--iters", type=int, default=4000)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", default="bench/results/levers.jsonl")
    ap.add_argument("--summary", action="store_true", help="only print the summary of --out")
    ap.add_argument("--by-case", action="store_true", help="the summary per case, then over all")
    a = ap.parse_args(argv)
    out = Path(a.out)
    if not a.summary and not a.cases:
        ap.error("--cases is required unless --summary")
    if not a.summary:
        runs = list(itertools.product(a.cases.split(","), a.variants.split(","), a.seeds.split(",")))

        def tmp(run):
            return f"{out}.{'.'.join(run)}.tmp"

        def one(run):
            case, spec, seed = run
            v, _, seconds = spec.partition("@")   # "variant@seconds": its own time cap
            v, _, precision = v.partition("+")    # "variant+bf16": in bfloat16
            cmd = [sys.executable, "-m", "bench.explore", case, "--preset", "fast", "--seed", seed,
                   "--precision", precision or "fp32",
                   "--seconds", seconds or str(a.seconds), "--iters", str(a.iters), "--every", "25", "--out", tmp(run),
                   "--set", *VARIANTS[v], f"description={v!r}"]
            if a.crop:
                cmd[4:4] = ["--crop", str(a.crop)]
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        with ThreadPoolExecutor(a.jobs) as pool:
            list(pool.map(one, runs))
        with open(out, "a") as g:
            for run in runs:
                r = json.loads(Path(tmp(run)).read_text())
                g.write(json.dumps({**r, "variant": run[1].partition("@")[0]}) + "\n")
                Path(tmp(run)).unlink()
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    if a.by_case:
        print(summary(rows, by_case=True) + "\nall cases")
    print(summary(rows))


if __name__ == "__main__":
    sys.exit(main())
