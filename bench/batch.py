"""Batch throughput: the same folder of small noisy photos with `dip-engine batch --workers 1`
and `--workers 2` (each run in a fresh output folder), wall time and speed-up.

    python -m bench.batch                      # 8 crops of 48x48 px, 200 iterations each
    python -m bench.batch --size 96 --iters 500 --workers 1 2

The photos are crops of the bundled CC0 samples (resources/samples) with Gaussian noise
(sigma 25), made afresh each time, so the bench needs no data folder. Results go to
bench/results/batch.json.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "resources" / "samples"


def make_photos(folder: Path, n: int, size: int, sigma: float = 25.0, seed: int = 0) -> list[Path]:
    """n noisy size x size crops of the sample photos, spread over both of them."""
    rng = np.random.default_rng(seed)
    sources = [np.asarray(Image.open(p).convert("RGB"), np.float32) for p in sorted(SAMPLES.glob("*.png"))]
    out = []
    for i in range(n):
        src = sources[i % len(sources)]
        h, w = src.shape[:2]
        t, l = int(rng.integers(0, h - size)), int(rng.integers(0, w - size))
        crop = src[t:t + size, l:l + size] + rng.normal(0, sigma, (size, size, 3))
        p = folder / f"crop{i}.png"
        Image.fromarray(np.clip(np.rint(crop), 0, 255).astype(np.uint8)).save(p)
        out.append(p)
    return out


def run(folder: Path, out: Path, workers: int, iters: int, threads: int | None) -> dict:
    cmd = [sys.executable, "-m", "dip_engine", "batch", "denoise", str(folder), "-o", str(out),
           "--workers", str(workers), "--iters", str(iters), "--stop", "never", "--quiet", "--json"]
    if threads:
        cmd += ["--threads", str(threads)]
    load = os.getloadavg()[0]
    t = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if done.returncode != 0:
        raise SystemExit(f"bench.batch: the batch failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    summary = json.loads(done.stdout)
    fits = [json.loads(line) for line in (out / "dip-batch.jsonl").read_text().splitlines()]
    fit_s = [r["fit_s"] for r in fits if r.get("state") == "done"]
    return {"workers": summary["workers"], "threads": summary["threads"], "wall_s": round(wall, 1),
            "photos": summary["done"], "mean_fit_s": round(float(np.mean(fit_s)), 2),
            "s_per_iter": round(float(np.mean(fit_s)) / iters, 4),
            "load_avg_before": round(load, 1), "load_avg_after": round(os.getloadavg()[0], 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.batch", description=__doc__.split("\n\n")[0])
    ap.add_argument("--photos", type=int, default=8)
    ap.add_argument("--size", type=int, default=48)
    ap.add_argument("--iters", type=int, default=200)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--threads", type=int, help="threads per worker (default: the batch's choice)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "batch.json")
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="dip-bench-batch-") as tmp:
        folder = Path(tmp) / "photos"
        folder.mkdir()
        make_photos(folder, args.photos, args.size)
        for i, w in enumerate(args.workers):
            row = run(folder, Path(tmp) / f"out{i}", w, args.iters, args.threads)
            rows.append(row)
            print(f"--workers {w}: {row['workers']} x {row['threads']} threads, {row['photos']} photos in "
                  f"{row['wall_s']} s ({row['mean_fit_s']} s per photo's fit, {row['s_per_iter']} s/it; load "
                  f"{row['load_avg_before']} -> {row['load_avg_after']})", flush=True)
    base = min(rows, key=lambda r: (r["workers"], -r["wall_s"]))["wall_s"]   # against the fewest workers
    for r in rows:
        r["speedup"] = round(base / r["wall_s"], 2)
    result = {"photos": args.photos, "size": args.size, "iters": args.iters, "cores": os.cpu_count(), "date": time.strftime("%Y-%m-%d %H:%M"), "runs": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print("speed-up against the fewest workers: " + ", ".join(f"{r['workers']} workers {r['speedup']}x" for r in rows)
          + f" (wrote {args.out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
