"""Run the bench's cases with chosen presets and record quality, time and memory, with the
classical methods (bench/classical.py) measured on the same cases in the same run.

    python -m bench.run                                  # default preset, the paper's cases
    python -m bench.run --cases val_sr4 --crop 64        # a group: all validation SR x4 cases
    python -m bench.run --presets fast,balanced --cases f16_denoise --crop 256
    python -m bench.run --reference --crop 256           # the `paper` preset to completion,
                                                         # its PSNR curve -> results/reference.json

Every case x preset runs in its own process so peak memory is its own. The `paper` preset's
seconds per iteration are measured in the same run (a few iterations after a warm-up), so
speed is always a ratio measured side by side.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from bench import cases as bench_cases
from bench import classical
from bench.record import RESULTS, crop_for, machine
from bench.record import crops as _crops, write_atomic as _write_atomic  # names other bench scripts import
from dip_engine import presets, restore
from dip_engine.imageio import Photo


def _photo(a: np.ndarray) -> Photo:
    return Photo(data=np.clip(np.rint(a * 255), 0, 255).astype(np.uint8))


def _score(case: bench_cases.Case, img: np.ndarray) -> tuple[float, float]:
    s = bench_cases.score(case, img)
    return s["psnr"], s["ssim"]


def _peak_rss() -> int:
    """Peak resident memory of this process image in bytes (VmHWM: ru_maxrss survives exec and can
    report the parent's size at fork time)."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_one(case_name: str, preset: str, crop: int | None, iters: int | None, curve_every: int,
            stop: str, probe: int | None = None, threads: int | None = None,
            on_curve: Callable[[dict], None] | None = None, device: str = "cpu", seed: int = 0) -> dict:
    """One case with one preset in this process. `probe`: only time that many iterations.
    `on_curve`: called with the row so far after every curve sample (a reference run that is interrupted
    keeps its curve). `seed`: the net's and its input's seed. `device`: where it runs; the authors'
    configuration always runs in fp32 (on a CUDA GPU with torch's defaults, i.e. TF32 convolutions),
    ours in the device's default precision."""
    case = bench_cases.build(case_name, crop)
    paper = preset == "paper"
    preset = case.paper_preset if paper else preset
    job = restore.Job(case.task, _photo(case.observed), mask=case.mask, scale=case.scale, preset=preset,
                      iters=(probe + 1) if probe else iters, stop="never" if probe else stop,
                      threads=threads, preview_every=curve_every or 10 ** 9, device=device, seed=seed,
                      precision="fp32" if paper else "auto",
                      responsive=not preset.startswith("paper"))  # the notebooks fit the whole photo
    base = case.observed if case.task != "sr" else None
    curve = []
    t0 = time.perf_counter()
    first_iter_s = None
    last = None
    suggested = None   # where auto-stop would have ended the run (a --stop never run goes on)
    for step in restore.run(job):
        if step.iteration == 1 and first_iter_s is None:
            first_iter_s = step.elapsed_s
        if step.stop_suggested and suggested is None:
            suggested = step.iteration
        if step.image is not None and not step.done and curve_every:
            full = step.image
            if base is not None:
                t, l, b, r = step.region
                full = base.copy()
                full[t:b, l:r] = step.image
            curve.append([step.iteration, round(_score(case, full)[0], 3)])
            print(f"{case_name} {preset} it {step.iteration} {step.elapsed_s:.0f}s psnr {curve[-1][1]} "
                  f"peak {step.peak_iteration}", file=sys.stderr, flush=True)
            if on_curve:
                on_curve({"case": case_name, "preset": preset, "task": case.task, "crop": crop,
                          "size": list(case.truth.shape[1::-1]), "iterations": step.iteration,
                          "wall_s": round(time.perf_counter() - t0, 2),
                          "s_per_iter": round(step.elapsed_s / max(step.iteration, 1), 4),
                          "threads": torch.get_num_threads(), "device": device, "curve": curve,
                          "interrupted": True})
        last = step
    wall = time.perf_counter() - t0
    out = {"case": case_name, "preset": preset, "task": case.task, "crop": crop,
           "size": list(case.truth.shape[1::-1]), "iterations": last.iteration,
           "stopped_by": last.stopped_by, "peak_iteration": last.peak_iteration, "restarts": last.restarts,
           "usable": last.usable,   # False: the result is the classical answer (restore keeps it)
           "stop_suggested_at": suggested,
           "wall_s": round(wall, 2), "s_per_iter": round(last.elapsed_s / max(last.iteration, 1), 4),
           "peak_rss_mb": round(_peak_rss() / 2 ** 20, 1),
           "threads": torch.get_num_threads(), "device": device, "seed": seed}
    if probe:
        # Skip the warm-up iteration: steady-state seconds per iteration.
        out["s_per_iter"] = round((last.elapsed_s - first_iter_s) / max(last.iteration - 1, 1), 4)
        return out
    s = bench_cases.score(case, last.result.pixels)
    out.update(psnr=round(s["psnr"], 3), ssim=round(s["ssim"], 4), curve=curve)
    if "mask_psnr" in s:
        out["mask_psnr"] = round(s["mask_psnr"], 3)
    if case.task == "denoise":
        out["input_psnr"] = round(_score(case, case.observed)[0], 3)
    return out


def _key(name: str, crop: int | None) -> str:
    return f"{name}@{crop or 'full'}"


def _subprocess(args: list[str]) -> dict:
    # stderr passes through: an hours-long run shows its curve as it goes, and its error if it fails
    cmd = [sys.executable, "-m", "bench.run", "--one", *args]
    res = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[1])
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed (exit status {res.returncode}; its error is above)")
    return json.loads(res.stdout.strip().splitlines()[-1])


def record_reference(path: Path, key: str, row: dict) -> dict:
    """Put a reference row (interrupted or complete) into `path` under `key`, with its best point."""
    row = dict(row)
    # Iteration 0 is the photo the run starts from, not the net's output.
    curve = [c for c in row.get("curve") or [] if c[0] > 0]
    row["best_psnr"] = max(p for _, p in curve) if curve else row.get("psnr")
    row["best_iteration"] = max(curve, key=lambda c: c[1])[0] if curve else row["iterations"]
    row["machine"] = machine()
    # Re-read: reference runs of other cases may have finished meanwhile in parallel.
    reference = json.loads(path.read_text()) if path.exists() else {}
    reference[key] = row
    _write_atomic(path, json.dumps(reference, indent=1))
    return row


def paper_best(ref: dict) -> float | None:
    """The paper preset's best PSNR from its reference row; None while it is unknown: no reference,
    or one cut (interrupted) before its curve turned down, whose best is only a lower bound."""
    if ref.get("interrupted"):
        last = max((i for i, _ in ref.get("curve") or []), default=0)
        if not 0 < (ref.get("best_iteration") or 0) < last:
            return None
    return ref.get("best_psnr")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default="paper",
                    help="case names and groups: paper, val, val_denoise, val_sr4, val_inpaint, all")
    ap.add_argument("--presets", default=presets.DEFAULT)
    ap.add_argument("--crop", type=_crops, default={},
                    help="centre crop side in pixels (SR: of the low-resolution input); per case or group "
                         "with e.g. 128,zebra_sr4=48,val_sr4=32")
    ap.add_argument("--iters", type=int, help="override the iteration budget")
    ap.add_argument("--stop", default="auto", choices=("auto", "never"))
    ap.add_argument("--curve-every", type=int, default=50, help="PSNR curve sampling (0: none)")
    ap.add_argument("--probe", type=int, default=4, help="iterations timed for the paper preset's s/iter")
    ap.add_argument("--threads", type=int)
    ap.add_argument("--seed", type=int, default=0, help="seed of our presets' runs (the paper probe keeps 0)")
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda", "mps"),
                    help="where every run fits (default cpu: the bench's ratios are measured there)")
    ap.add_argument("--reference-file", type=Path, default=RESULTS / "reference.json",
                    help="where --reference runs record their rows (several runs at once: one file each)")
    ap.add_argument("--reference", action="store_true", help="run `paper` to completion into reference.json")
    ap.add_argument("--out", type=Path, default=RESULTS / "latest.json")
    ap.add_argument("--update", action="store_true",
                    help="replace only this run's case x preset rows in --out, keep the others")
    ap.add_argument("--rescore", action="store_true",
                    help="refill paper_psnr in --out from reference.json (after a later --reference run) "
                         "and, unless --no-classical, the classical methods' rows")
    ap.add_argument("--classical", action=argparse.BooleanOptionalAction, default=True,
                    help="run the classical methods on each case too (default: yes)")
    bench_cases.add_data_option(ap)
    ap.add_argument("--one", nargs=2, metavar=("CASE", "PRESET"), help=argparse.SUPPRESS)
    ap.add_argument("--probe-only", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    bench_cases.use_data(a.data)  # the subprocesses inherit it
    passed_on = (["--threads", str(a.threads)] if a.threads else []) + ["--device", a.device]

    def crop(name: str) -> int | None:
        return crop_for(a.crop, name)

    def common(name: str) -> list[str]:
        return (["--crop", str(crop(name))] if crop(name) else []) + passed_on

    ref_path = a.reference_file
    if a.one:
        key = _key(a.one[0], crop(a.one[0]))
        keep = (lambda row: record_reference(ref_path, key, row)) if a.reference else None
        r = run_one(a.one[0], a.one[1], crop(a.one[0]), a.iters, a.curve_every, a.stop,
                    probe=a.probe if a.probe_only else None, threads=a.threads, on_curve=keep,
                    device=a.device, seed=a.seed)
        if a.reference:
            r = record_reference(ref_path, key, r)
        print(json.dumps(r))
        return 0
    reference = json.loads(ref_path.read_text()) if ref_path.exists() else {}
    if a.rescore:
        return rescore(a.out, reference, a.classical)
    try:
        names = bench_cases.select(a.cases)
        for name in names:  # every case can be built before hours are spent on the first
            bench_cases.build(name, crop(name))
    except (bench_cases.MissingData, KeyError) as e:
        print(f"bench: {e.args[0]}", file=sys.stderr)
        return 2
    if a.reference:
        for name in names:
            # --iters cuts a reference short (recorded in its "iterations") where the full run is too long.
            # The run records itself as it goes ("interrupted": true until it ends), so it may be cut
            # (Ctrl+C) once past its peak.
            r = _subprocess([name, "paper", "--reference", "--reference-file", str(ref_path), "--stop", "never",
                             "--curve-every",
                             str(a.curve_every or 50), *(["--iters", str(a.iters)] if a.iters else []),
                             *common(name)])
            print(f"{name}: paper best {r['best_psnr']} dB at {r['best_iteration']}, {r['s_per_iter']} s/it", file=sys.stderr)
        return 0
    rows = []
    for name in names:
        paper = _subprocess([name, "paper", "--probe-only", "--probe", str(a.probe), *common(name)])
        ref = reference.get(_key(name, crop(name)), {})
        case = bench_cases.build(name, crop(name))
        baselines = classical.run_case(case) if a.classical else []
        for preset in a.presets.split(","):
            r = _subprocess([name, preset, "--stop", a.stop, "--curve-every", str(a.curve_every), "--seed", str(a.seed),
                             *(["--iters", str(a.iters)] if a.iters else []), *common(name)])
            r["paper_s_per_iter"] = paper["s_per_iter"]
            r["paper_iterations"] = case.paper_iterations
            r["paper_psnr"] = paper_best(ref)
            r["paper_peak_rss_mb"] = paper["peak_rss_mb"]
            r["time_ratio"] = round(r["wall_s"] / (r["paper_s_per_iter"] * r["paper_iterations"]), 4)
            r["classical"] = baselines
            rows.append(r)
            print(f"{name} {preset}: {r['psnr']} dB (paper {r['paper_psnr']}), {r['iterations']} it, "
                  f"{r['wall_s']} s, ratio {r['time_ratio']}", file=sys.stderr)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    command = " ".join(["python -m bench.run", *(argv if argv is not None else sys.argv[1:])])
    if a.update and a.out.exists():
        old = json.loads(a.out.read_text())
        done = {(r["case"], r["preset"]) for r in rows}
        order = {n: i for i, n in enumerate(bench_cases.NAMES)}
        rows = sorted([r for r in old["results"] if (r["case"], r["preset"]) not in done] + rows,
                      key=lambda r: (order.get(r["case"], len(order)), r["case"], r["preset"]))
        command = f"{old.get('command', '')}; {command}"
    _write_atomic(a.out, json.dumps({"machine": machine(), "command": command, "results": rows}, indent=1))
    print(table(rows))
    if a.out == RESULTS / "latest.json":
        _update_readme(rows, command)
    return 0


def _update_readme(rows: list[dict], command: str, m: dict | None = None) -> None:
    """Replace the results table in bench/README.md (between its markers) with this run's
    (`m`: the machine and date the rows were measured on; default: this one, today)."""
    readme = Path(__file__).parent / "README.md"
    text = readme.read_text() if readme.exists() else "<!-- results -->\n<!-- /results -->\n"
    head, _, rest = text.partition("<!-- results -->")
    _, _, tail = rest.partition("<!-- /results -->")
    m = m or machine()
    commands = ", then ".join(f"`{c}`" for c in command.split("; "))
    body = (f"\nMachine: {m['cores']} cores ({m['cpu']}), torch {m['torch']}, {m['date']}. Commands: {commands}\n\n"
            f"{table(rows)}\n")
    readme.write_text(f"{head}<!-- results -->{body}<!-- /results -->{tail}")


def rescore(out: Path, reference: dict, with_classical: bool = False) -> int:
    """Refill paper_psnr from reference.json; `with_classical`: also (re)run the classical methods
    on each row's case and crop (rows recorded before they existed; their times are from now)."""
    data = json.loads(out.read_text())
    baselines: dict = {}
    try:
        for r in data["results"]:
            r["paper_psnr"] = paper_best(reference.get(_key(r["case"], r["crop"]), {}))
            if with_classical:
                key = _key(r["case"], r["crop"])
                if key not in baselines:
                    baselines[key] = classical.run_case(bench_cases.build(r["case"], r["crop"]))
                r["classical"] = baselines[key]
    except (bench_cases.MissingData, KeyError) as e:
        print(f"bench: {e.args[0]}", file=sys.stderr)
        return 2
    if with_classical:
        data["command"] = f"{data.get('command', '')}; python -m bench.run --rescore"
    _write_atomic(out, json.dumps(data, indent=1))
    print(table(data["results"]))
    if out == RESULTS / "latest.json":
        _update_readme(data["results"], data.get("command", "python -m bench.run"), data.get("machine"))
    return 0


def _classical_cell(r: dict) -> str:
    """The best classical method of the row's case: 'bm3d 30.47 (33.8 s)'; inpainting adds the PSNR
    inside the mask: 'ns 30.67 / 18.24 (0.03 s)'."""
    b = classical.best(r.get("classical") or [])
    if b is None:
        return "—"
    inside = f" / {b['mask_psnr']}" if "mask_psnr" in b else ""
    return f"{b['method']} {b['psnr']}{inside} ({b['wall_s']} s)"


def reach_ratio(r: dict) -> float | None:
    """When the row's curve first reaches the paper preset's best PSNR, as a fraction of the paper
    preset's full-run time (issue 12's target: <= 1/20); None where it never does or is unknown."""
    if not r.get("paper_psnr") or not r.get("curve"):
        return None
    it = next((i for i, p in r["curve"] if p >= r["paper_psnr"]), None)
    return None if it is None else round(it * r["s_per_iter"] / (r["paper_s_per_iter"] * r["paper_iterations"]), 4)


def _reach_cell(r: dict) -> str:
    if not r.get("paper_psnr") or not r.get("curve"):
        return "—"
    ratio = reach_ratio(r)
    return "never" if ratio is None else str(ratio)


def table(rows: list[dict]) -> str:
    head = ("| case | preset | size | PSNR dB | PSNR in mask dB | paper best dB | classical dB (s) | SSIM | iters | "
            "stopped by | wall s | s/it | paper s/it | time ratio | reaches paper best (ratio) | peak RSS MB |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        lines.append(f"| {r['case']} | {r['preset']} | {r['size'][0]}x{r['size'][1]} | {r['psnr']} | "
                     f"{r.get('mask_psnr', '—')} | {r['paper_psnr'] or '—'} | {_classical_cell(r)} | "
                     f"{r['ssim']} | {r['iterations']} | {r['stopped_by']} | {r['wall_s']} | {r['s_per_iter']} | "
                     f"{r['paper_s_per_iter']} | {r['time_ratio']} | {_reach_cell(r)} | {r['peak_rss_mb']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
