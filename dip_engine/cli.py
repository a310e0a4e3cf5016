"""`dip-engine`: restore a photo from the command line with the same engine as the app.

    dip-engine denoise INPUT -o OUTPUT [options]
    dip-engine jpeg    INPUT -o OUTPUT [options]
    dip-engine sr      INPUT -o OUTPUT --scale N [options]
    dip-engine inpaint INPUT --mask MASK -o OUTPUT [options]
    dip-engine resume  PROJECT -o OUTPUT [--iters N]   continue a run saved with --project
    dip-engine batch   TASK INPUT... -o OUTDIR [options]   many photos (dip_engine/batch)

Exit status: 0 done, 2 bad usage or bad input (one line on stderr), 1 the run itself failed.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

from . import __version__, imageio, physics, presets, restore
from . import confidence as confidences
from . import project as projects
from . import variations

OUTPUT_TYPES = imageio.SAVE_SUFFIXES


class UsageError(Exception):
    """Bad usage or input: printed as one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line instead of argparse's usage block
        raise UsageError(f"{message} (see '{self.prog} --help')")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="dip-engine", description="Restore a photo with Deep Image Prior (no training data, fully offline).")
    p.add_argument("--version", action="version", version=f"dip-engine {__version__}")
    p.add_argument("--selftest", action="store_true",
                   help="restore a tiny built-in image in a few iterations, check the result and exit (0 = ok)")
    sub = p.add_subparsers(dest="task", metavar="TASK", parser_class=_Parser)
    helps = {"denoise": "remove noise", "jpeg": "remove JPEG artefacts",
             "sr": "super-resolution: make the photo N times larger", "inpaint": "fill the masked parts"}
    for task in presets.TASKS:
        s = sub.add_parser(task, help=helps[task], description=helps[task])
        s.add_argument("input", metavar="INPUT", type=Path, help="the photo to restore")
        s.add_argument("-o", "--output", required=True, type=Path,
                       help="where to write the result (.png lossless default, .tif, .jpg, .webp, .heic, .avif)")
        if task == "sr":
            s.add_argument("--scale", type=int, required=True, help="enlargement factor, 2 to 8")
        if task == "inpaint":
            s.add_argument("--mask", required=True, type=Path, help="mask image of the same size: white = fill")
        s.add_argument("--preset", default=presets.DEFAULT, choices=presets.names(task),
                       help=f"settings (default {presets.DEFAULT}; 'paper' = the authors' slow reference)")
        s.add_argument("--iters", type=int, help="maximum iterations (default: the preset's)")
        s.add_argument("--seed", type=int, default=0, help="random seed (default 0): same seed, same result")
        s.add_argument("--stop", choices=("auto", "never"), default="auto",
                       help="auto: stop at the detected quality peak (default); never: run all iterations")
        s.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto")
        _precision_option(s)
        s.add_argument("--threads", type=int, help="CPU threads for the fit (default: all cores)")
        s.add_argument("--workers", type=int, help="tiles or separate crops fitted at once, each in its own "
                       "process (default: as many as cores and memory allow)")
        s.add_argument("--lr", type=float, help="learning rate (default: the preset's)")
        s.add_argument("--channels", type=int, help="network width (default: the preset's)")
        if task != "inpaint":
            s.add_argument("--tile", type=int, metavar="PX",
                           help="fit in overlapping tiles of PX pixels (default: the preset's tiles, 128 px for "
                                "'fast' denoising; otherwise only when memory or Stop needs them)")
        s.add_argument("--snapshots", type=Path, metavar="DIR", help="also write a PNG every --every iterations here")
        s.add_argument("--every", type=int, default=100, metavar="N", help="snapshot interval (default 100)")
        s.add_argument("--project", type=Path, metavar="FILE",
                       help="also save a project (.dipproj: photo, mask, settings, history, run state) with a "
                            "checkpoint every --every iterations; 'dip-engine resume FILE' continues it")
        s.add_argument("--link-photo", action="store_true",
                       help="the project refers to INPUT by path and checksum instead of holding a copy")
        s.add_argument("--confidence", type=Path, metavar="FILE",
                       help="also write the confidence map, a 16-bit grayscale PNG: value / 4096 is how much "
                            "each pixel still varied at the end (standard deviation in 8-bit levels); 65535 "
                            "means 16 levels or more")
        s.add_argument("--variations", type=int, metavar="N",
                       help="run N seeds (--seed, --seed + 1, ...; a preset that averages k fits takes "
                            "every k-th seed) and write OUTPUT as NAME.v1.EXT ... "
                            "NAME.vN.EXT, each recording its seed")
        _common(s)
    s = sub.add_parser("resume", help="continue a run saved in a project file (--project)",
                       description="Continue a run saved in a project file from its last checkpoint: the "
                                   "result is the same as if the run had never stopped.")
    s.add_argument("project", metavar="PROJECT", type=Path, help="the project file (.dipproj)")
    s.add_argument("-o", "--output", required=True, type=Path, help="where to write the result")
    s.add_argument("--iters", type=int, help="maximum iterations in all (default: the project's)")
    s.add_argument("--stop", choices=("auto", "never"), help="auto-stop at the quality peak (default: the project's)")
    s.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto")
    _precision_option(s, resuming=True)
    s.add_argument("--threads", type=int, help="CPU threads for the fit (default: all cores)")
    s.add_argument("--every", type=int, default=100, metavar="N",
                   help="save a checkpoint into PROJECT every N iterations (default 100)")
    s.add_argument("--no-update", action="store_true", help="leave PROJECT as it is (no checkpoints written)")
    _common(s)
    from .batch import command as batch_command
    batch_command.add_parser(sub, _common)
    return p


def _precision_option(s, resuming: bool = False) -> None:
    s.add_argument("--precision", choices=restore.devices.PRECISIONS, default=None if resuming else "auto",
                   help=("default: the project's; " if resuming else "") +
                        "auto: bfloat16 on a CUDA GPU that has it for fits of 1 MP or more, else fp32; bf16: also on a CPU "
                        "(faster where it has AVX512-BF16 or AMX, slower where it has not; bench/README.md)")


def _common(s) -> None:
    s.add_argument("--quality", type=int, default=95, help="JPEG/WebP/HEIC/AVIF quality 1-100 (default 95)")
    s.add_argument("--overwrite", action="store_true", help="replace OUTPUT (and --project FILE) if it exists")
    s.add_argument("--strip-metadata", action="store_true", help="do not copy EXIF/ICC/DPI or write settings")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.add_argument("--json", action="store_true", help="print one JSON summary object at the end")


def _check_output(out: Path, inp: Path, overwrite: bool) -> None:
    if out.suffix.lower() not in OUTPUT_TYPES:
        raise UsageError(f"{out}: unsupported output type '{out.suffix or '(none)'}': use .png, .tif, .jpg, .webp, .heic or .avif")
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        raise UsageError(f"{out}: the folder {folder} does not exist: create it or choose another output")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"{out}: the folder {folder} is not writable: choose another output")
    if out.exists() and inp.exists() and out.resolve() == inp.resolve():
        raise UsageError(f"{out}: the output would overwrite the input photo: choose another name")
    if out.exists() and not overwrite:
        raise UsageError(f"{out}: already exists: choose another name or pass --overwrite")


def _check_numbers(args) -> None:
    for name in ("iters", "threads", "every", "variations"):
        v = getattr(args, name, None)
        if v is not None and v < 1:
            raise UsageError(f"--{name} must be at least 1, not {v}")
    if not 1 <= args.quality <= 100:
        raise UsageError(f"--quality must be 1 to 100, not {args.quality}")


def _job(args) -> restore.Job:
    _check_numbers(args)
    if args.task == "sr" and args.scale not in physics.SCALES:
        raise UsageError(f"--scale must be a whole number from 2 to 8, not {args.scale}")
    photo = imageio.load_image(args.input)
    if photo.developed and not args.quiet:   # a camera RAW file: say how it was developed
        print(f"dip-engine: {photo.developed}", file=sys.stderr)
    mask = None
    if args.task == "inpaint":
        mask = imageio.load_mask(args.mask, size=(photo.width, photo.height))
        if not mask.any():
            raise UsageError(f"{args.mask}: the mask is empty: paint white over the parts to fill")
        if mask.all():
            raise UsageError(f"{args.mask}: the mask is all white: nothing is left to learn from")
    for out in outputs(args):
        _check_output(out, args.input, args.overwrite)
    if confidence_outputs(args) and not confidences.tracks(args.task):
        raise UsageError(f"--confidence: {args.task} has no confidence map (on the bench it told no more than "
                         "the fill's edges do, bench/README.md): use --variations N to see alternative fills")
    for out in confidence_outputs(args):
        if out.suffix.lower() != ".png":
            raise UsageError(f"{out}: the confidence map is a 16-bit PNG: use a name ending in .png")
        _check_output(out, args.input, args.overwrite)
    if args.project is not None:
        args.project = _check_project_output(args.project, args.overwrite)
    job = restore.Job(args.task, photo, mask=mask, scale=getattr(args, "scale", 1), preset=args.preset,
                      iters=args.iters, seed=args.seed, stop=args.stop, device=args.device, precision=args.precision,
                      threads=args.threads, workers=getattr(args, "workers", None), lr=args.lr, channels=args.channels,
                      tile=getattr(args, "tile", None),
                      preview_every=args.every if args.snapshots or args.project else 10 ** 9)
    try:
        restore.check(job)
    except restore.JobError as e:
        raise UsageError(f"{args.input}: {e}") from None
    return job


def outputs(args) -> list[Path]:
    """The result files: OUTPUT, or NAME.v1.EXT ... NAME.vN.EXT with --variations N."""
    n = getattr(args, "variations", None)
    if not n:
        return [args.output]
    return [args.output.with_name(f"{args.output.stem}.v{k}{args.output.suffix}") for k in range(1, n + 1)]


def confidence_outputs(args) -> list[Path]:
    """The confidence maps: --confidence FILE; with --variations N one per variation (FILE.v1.png
    ...) and, for N >= 2, FILE itself: the spread across the variations."""
    c, n = getattr(args, "confidence", None), getattr(args, "variations", None)
    if c is None:
        return []
    each = [c.with_name(f"{c.stem}.v{k}{c.suffix}") for k in range(1, n + 1)] if n else []
    return each + [c] if n != 1 else each


def full_confidence(step):
    """The final step's confidence map at the result's size, or None (the classical answer kept)."""
    if step.confidence is None or step.result is None:
        return None
    return confidences.full(step.confidence, step.region, (step.result.height, step.result.width))


def save_confidence(path: Path, job: restore.Job, step, overwrite: bool) -> Path | None:
    """Write the final step's confidence map at the result's size (`confidence.PNG_SCALE`);
    None when the run kept the classical answer (no fit to be unsure about)."""
    m = full_confidence(step)
    if m is None:
        return None
    photo = imageio.Photo(confidences.to_png16(m)[..., None], text={"Description": confidences.PNG_SCALE})
    meta = {**restore.metadata(job, step), "dip:confidence_scale": confidences.PNG_SCALE}
    return imageio.save_image(photo, path, overwrite=overwrite, metadata=meta)


def save_spread(path: Path, job: restore.Job, steps: list, seeds: list[int], overwrite: bool) -> Path:
    """Write the variations' maps and their spread together (`confidence.combined`) on the map's scale."""
    m = confidences.combined([x for x in map(full_confidence, steps) if x is not None], [s.result.pixels for s in steps])
    photo = imageio.Photo(confidences.to_png16(m)[..., None],
                          text={"Description": confidences.PNG_SCALE_ACROSS})
    meta = {**restore.metadata(job, steps[0]), "dip:confidence_scale": confidences.PNG_SCALE_ACROSS,
            "dip:seeds": ",".join(map(str, seeds))}
    return imageio.save_image(photo, path, overwrite=overwrite, metadata=meta)


def _check_project_output(path: Path, overwrite: bool) -> Path:
    if not path.suffix:
        path = path.with_suffix(projects.SUFFIX)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UsageError(f"{path}: the folder {folder} does not exist: create it or choose another project file")
    if path.exists() and not overwrite:
        raise UsageError(f"{path}: already exists: choose another name, pass --overwrite, "
                         f"or continue it with 'dip-engine resume {path}'")
    return path


def _resume_job(args) -> tuple[restore.Job, projects.Project]:
    _check_numbers(args)
    try:
        proj = projects.load_project(args.project)
    except projects.ProjectError as e:
        raise UsageError(str(e)) from None
    if proj.checkpoint is None:
        raise UsageError(f"{args.project}: holds no run state to continue (it was saved before the run had "
                         "one): start the run again")
    src = Path(proj.photo_path) if proj.photo_path else args.project
    _check_output(args.output, src, args.overwrite)
    over = {"device": args.device, "threads": args.threads, "preview_every": args.every}
    if args.precision:
        over["precision"] = args.precision
    if args.iters:
        over["iters"] = args.iters
    if args.stop:
        over["stop"] = args.stop
    job = proj.job(**over)
    try:
        restore.check(job)
    except restore.JobError as e:
        raise UsageError(f"{args.project}: {e}") from None
    args.task, args.preset, args.seed = job.task, job.preset, job.seed
    args.snapshots, args.input = None, src
    if not args.no_update:
        args.project_file = args.project
    return job, proj


class _ProjectWriter:
    """Keeps the project of a CLI run: history at doubling intervals, the newest checkpoint."""

    def __init__(self, path: Path, proj: projects.Project, every: int):
        self.path, self.proj = path, proj
        self.error: str | None = None
        done = proj.checkpoint_iteration or 0
        proj.history = [h for h in proj.history if h.iteration <= done and not h.final]
        self.next_mark = max(every, 2 * max([h.iteration for h in proj.history], default=0))

    def step(self, step, job: restore.Job, variation: int | None = None) -> None:
        if variation is not None:   # a variation: only its result, with its seed and recipe
            if step.done and step.result is not None:
                meta = restore.metadata(job, step)
                self.proj.variations.append(projects.Variation(job.seed, step.result, meta, full_confidence(step)))
                self.proj.variations.sort(key=lambda v: v.seed)
                self._save()
            return
        if step.image is not None and (step.done or step.iteration >= self.next_mark):
            self.proj.history = [h for h in self.proj.history if not h.final]
            self.proj.history.append(projects.HistoryItem(step.iteration, step.image, step.region,
                                                          float(step.loss), final=step.done))
            while self.next_mark <= step.iteration:
                self.next_mark *= 2
        if step.checkpoint is not None:
            self.proj.checkpoint = step.checkpoint
        if step.done:
            self.proj.result = step.result
            self.proj.result_meta = restore.metadata(job, step)
            self.proj.confidence = full_confidence(step)
        if step.checkpoint is not None or step.done:
            self._save()

    def _save(self) -> None:
        try:
            projects.save_project(self.proj, self.path)
            self.error = None
        except projects.ProjectError as e:   # keep fitting; the previous file stays intact
            if str(e) != self.error:
                print(f"dip-engine: warning: could not save the project: {e}", file=sys.stderr)
            self.error = str(e)


def _postfix(step) -> str:
    parts = [f"it {step.iteration}", f"loss {step.loss:.5f}"]
    if step.peak_iteration:
        parts.append(f"peak {step.peak_iteration}")
    if step.eta_range:
        lo, hi = step.eta_range
        parts.append(f"left {_duration(lo)}" if hi - lo < max(5.0, 0.1 * hi) else f"left {_duration(lo)}-{_duration(hi)}")
    return ", ".join(parts)


def _duration(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def _run(args) -> dict:
    resumed = None
    args.project_file = None
    if args.task == "resume":
        job, proj = _resume_job(args)
        resumed = proj.checkpoint
    else:
        job = _job(args)
        if args.project is not None:
            args.project_file = args.project
            proj = projects.Project.from_job(job, photo_path=str(args.input.resolve()),
                                             embed_photo=not args.link_photo, name=args.input.name)
    writer = _ProjectWriter(args.project_file, proj, args.every) if args.project_file else None
    if args.snapshots:
        args.snapshots.mkdir(parents=True, exist_ok=True)
    n = getattr(args, "variations", None) or 0
    jobs = variations.jobs(job, n) if n else [job]
    outs, maps = outputs(args), confidence_outputs(args)
    control = restore.Control()
    # First Ctrl+C stops the fit and still saves the best result; a second one aborts.
    previous = signal.signal(signal.SIGINT, lambda *_: (control.stop(), signal.signal(signal.SIGINT, previous)))
    bar = None
    if not args.quiet:
        from tqdm import tqdm
        # tqdm's own ETA assumes the whole budget runs; the engine's range knows about auto-stop
        bar = tqdm(total=job.settings().iterations * len(jobs), unit="it", desc=args.task, file=sys.stderr,
                   dynamic_ncols=True, smoothing=0.1,
                   bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}, {rate_fmt}{postfix}]")
    start = time.perf_counter()
    lasts, written, progress = {}, {}, [0.0] * len(jobs)
    stream = variations.run(job, n, control) if n else ((0, s) for s in restore.run(job, control, resume=resumed))
    try:
        for k, step in stream:
            if writer is not None:
                if not n and (step.iteration + 1) % args.every == 0 and not step.done:
                    control.request_checkpoint()     # arrives with the next step
                writer.step(step, jobs[k], variation=k if n else None)
            if not args.quiet and step.extra.get("notes") and k == 0:   # every variation has the same plan
                for note in step.extra["notes"]:
                    (bar.write if bar is not None else print)(note, file=sys.stderr)
            if bar is not None:
                progress[k] = (step.progress or 0.0) * step.total
                bar.total = step.total * len(jobs)  # fixed for the run: every part's budget
                bar.update(round(sum(progress)) - bar.n)
                bar.set_postfix_str((f"v{k + 1}, " if n else "") + _postfix(step), refresh=False)
            if args.snapshots and step.image is not None and not step.done and step.iteration > 0:
                snap = restore.compose(jobs[k], step.image, step.region)
                name = f"{args.input.stem}{f'.v{k + 1}' if n else ''}_{step.iteration:06d}.png"
                imageio.save_image(snap, args.snapshots / name, overwrite=True, strip_metadata=args.strip_metadata)
            if step.done and step.result is not None:
                lasts[k] = step
                written[k] = _save(args, jobs[k], step, outs[k], maps[k] if maps else None,
                                   f"{k + 1} of {n}" if n else None, bar)
    finally:
        signal.signal(signal.SIGINT, previous)
        if bar is not None:
            bar.close()
    if not lasts:
        raise restore.RunError("stopped before the first iteration: there is no result to save")
    spread = None
    if n >= 2 and maps and len(lasts) >= 2:
        spread = save_spread(maps[-1], job, [lasts[k] for k in sorted(lasts)], [jobs[k].seed for k in sorted(lasts)],
                             args.overwrite)
    wall = time.perf_counter() - start
    if writer is not None and writer.error:
        raise projects.ProjectError(f"{writer.error} (the result was written to {written[min(written)][0]})")
    k0 = min(lasts)
    last, (out, conf) = lasts[k0], written[k0]
    extra = {}
    if args.project_file:
        extra["project"] = str(args.project_file)
    if resumed is not None:
        extra["resumed_from"] = int(resumed["iteration"])
    if maps:
        extra["confidence"] = None if conf is None else str(conf)
    if spread is not None:
        extra["confidence_across_variations"] = str(spread)
    if n:
        extra["variations"] = [{"output": str(written[k][0]), "seed": jobs[k].seed,
                                "confidence": None if written[k][1] is None else str(written[k][1]),
                                "iterations": lasts[k].iteration, "kept": lasts[k].extra.get("kept")}
                               for k in sorted(lasts)]
    return {**extra, "task": args.task, "preset": args.preset, "input": str(args.input), "output": str(out),
            "iterations": last.iteration, "stopped_by": last.stopped_by, "peak_iteration": last.peak_iteration,
            "result_iteration": last.result_iteration, "kept": last.extra.get("kept"),
            "unfinished_parts": last.extra.get("unfinished_parts", []),
            "wall_s": round(wall, 3), "fit_s": round(last.elapsed_s, 3), "s_per_iter": round(last.s_per_iter, 5),
            "seed": jobs[k0].seed, "device": str(restore.devices.pick(job.device)),
            "width": last.result.width, "height": last.result.height}


def _save(args, job: restore.Job, step, output: Path, conf: Path | None, variation: str | None,
          bar) -> tuple[Path, Path | None]:
    """Write one run's result (and its confidence map): (result path, map path or None)."""
    say = (bar.write if bar is not None else print) if not args.quiet else (lambda *a, **k: None)
    if step.extra.get("kept"):
        say(f"dip-engine: {f'variation {variation}: ' if variation else ''}{step.extra['kept_message']}",
            file=sys.stderr)
    meta = None if args.strip_metadata else restore.metadata(job, step)
    if meta is not None and variation:
        meta["dip:variation"] = variation
    out = imageio.save_image(step.result, output, quality=args.quality, overwrite=args.overwrite,
                             metadata=meta, strip_metadata=args.strip_metadata)
    written = save_confidence(conf, job, step, args.overwrite) if conf is not None else None
    if conf is not None and written is None:
        say(f"dip-engine: no confidence map written to {conf}: the result is the classical answer", file=sys.stderr)
    return out, written


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.selftest:
            from .selftest import main as selftest
            return selftest()
        if not args.task:
            parser.print_help(sys.stderr)
            return 2
        if args.task == "batch":
            from .batch.command import main as batch
            return batch(args)
        summary = _run(args)
    except (UsageError, imageio.ImageError) as e:
        print(f"dip-engine: error: {e}", file=sys.stderr)
        return 2
    except FileExistsError as e:
        print(f"dip-engine: error: {e}", file=sys.stderr)
        return 2
    except restore.JobError as e:           # e.g. a saved run that does not belong to its project
        print(f"dip-engine: error: {e}", file=sys.stderr)
        return 2
    except restore.RunError as e:
        print(f"dip-engine: run failed: {e}", file=sys.stderr)
        return 1
    except projects.ProjectError as e:       # the project could not be written (disk full, ...)
        print(f"dip-engine: could not save the project: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(summary))
    elif not args.quiet:
        print(f"wrote {summary['output']} ({summary['width']}x{summary['height']}) after "
              f"{summary['iterations']} iterations, stopped by {summary['stopped_by']}, "
              f"{summary['wall_s']:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
