"""`dip-engine`: restore a photo from the command line with the same engine as the app.

    dip-engine denoise INPUT -o OUTPUT [options]
    dip-engine jpeg    INPUT -o OUTPUT [options]
    dip-engine sr      INPUT -o OUTPUT --scale N [options]
    dip-engine inpaint INPUT --mask MASK -o OUTPUT [options]

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

from . import __version__, imageio, presets, restore

OUTPUT_TYPES = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".webp")


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
                       help="where to write the result (.png lossless default, .tif, .jpg, .webp)")
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
        s.add_argument("--threads", type=int, help="CPU threads for the fit (default: all cores)")
        s.add_argument("--lr", type=float, help="learning rate (default: the preset's)")
        s.add_argument("--channels", type=int, help="network width (default: the preset's)")
        if task != "inpaint":
            s.add_argument("--tile", type=int, metavar="PX",
                           help="fit in overlapping tiles of PX pixels (default: only when memory needs it)")
        s.add_argument("--snapshots", type=Path, metavar="DIR", help="also write a PNG every --every iterations here")
        s.add_argument("--every", type=int, default=100, metavar="N", help="snapshot interval (default 100)")
        s.add_argument("--quality", type=int, default=95, help="JPEG/WebP quality 1-100 (default 95)")
        s.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
        s.add_argument("--strip-metadata", action="store_true", help="do not copy EXIF/ICC/DPI or write settings")
        s.add_argument("--quiet", action="store_true", help="no progress bar")
        s.add_argument("--json", action="store_true", help="print one JSON summary object at the end")
    return p


def _check_output(out: Path, inp: Path, overwrite: bool) -> None:
    if out.suffix.lower() not in OUTPUT_TYPES:
        raise UsageError(f"{out}: unsupported output type '{out.suffix or '(none)'}': use .png, .tif, .jpg or .webp")
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        raise UsageError(f"{out}: the folder {folder} does not exist: create it or choose another output")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"{out}: the folder {folder} is not writable: choose another output")
    if out.exists() and inp.exists() and out.resolve() == inp.resolve():
        raise UsageError(f"{out}: the output would overwrite the input photo: choose another name")
    if out.exists() and not overwrite:
        raise UsageError(f"{out}: already exists: choose another name or pass --overwrite")


def _job(args) -> restore.Job:
    for name in ("iters", "threads", "every"):
        v = getattr(args, name)
        if v is not None and v < 1:
            raise UsageError(f"--{name} must be at least 1, not {v}")
    if not 1 <= args.quality <= 100:
        raise UsageError(f"--quality must be 1 to 100, not {args.quality}")
    if args.task == "sr" and args.scale not in restore.SCALES:
        raise UsageError(f"--scale must be a whole number from 2 to 8, not {args.scale}")
    photo = imageio.load_image(args.input)
    mask = None
    if args.task == "inpaint":
        mask = imageio.load_mask(args.mask, size=(photo.width, photo.height))
        if not mask.any():
            raise UsageError(f"{args.mask}: the mask is empty: paint white over the parts to fill")
        if mask.all():
            raise UsageError(f"{args.mask}: the mask is all white: nothing is left to learn from")
    _check_output(args.output, args.input, args.overwrite)
    job = restore.Job(args.task, photo, mask=mask, scale=getattr(args, "scale", 1), preset=args.preset,
                      iters=args.iters, seed=args.seed, stop=args.stop, device=args.device,
                      threads=args.threads, lr=args.lr, channels=args.channels, tile=getattr(args, "tile", None),
                      preview_every=args.every if args.snapshots else 10 ** 9)
    try:
        restore.check(job)
    except restore.JobError as e:
        raise UsageError(f"{args.input}: {e}") from None
    return job


def _run(args) -> dict:
    job = _job(args)
    if args.snapshots:
        args.snapshots.mkdir(parents=True, exist_ok=True)
    control = restore.Control()
    # First Ctrl+C stops the fit and still saves the best result; a second one aborts.
    previous = signal.signal(signal.SIGINT, lambda *_: (control.stop(), signal.signal(signal.SIGINT, previous)))
    bar = None
    if not args.quiet:
        from tqdm import tqdm
        bar = tqdm(total=job.settings().iterations, unit="it", desc=args.task, file=sys.stderr,
                   dynamic_ncols=True, smoothing=0.1)
    start = time.perf_counter()
    last = None
    try:
        for step in restore.run(job, control):
            last = step
            if not args.quiet and step.extra.get("notes"):
                for note in step.extra["notes"]:
                    (bar.write if bar is not None else print)(note, file=sys.stderr)
            if bar is not None:
                bar.total = step.total  # tiled runs count iterations across all tiles
                bar.update(step.iteration - bar.n)
                bar.set_postfix(loss=f"{step.loss:.5f}", peak=step.peak_iteration or "-", refresh=False)
            if args.snapshots and step.image is not None and not step.done:
                snap = restore.compose(job, step.image, step.region)
                imageio.save_image(snap, args.snapshots / f"{args.input.stem}_{step.iteration:06d}.png",
                                   overwrite=True, strip_metadata=args.strip_metadata)
    finally:
        signal.signal(signal.SIGINT, previous)
        if bar is not None:
            bar.close()
    meta = None if args.strip_metadata else restore.metadata(job, last)
    out = imageio.save_image(last.result, args.output, quality=args.quality, overwrite=args.overwrite,
                             metadata=meta, strip_metadata=args.strip_metadata)
    wall = time.perf_counter() - start
    return {"task": args.task, "preset": args.preset, "input": str(args.input), "output": str(out),
            "iterations": last.iteration, "stopped_by": last.stopped_by, "peak_iteration": last.peak_iteration,
            "wall_s": round(wall, 3), "fit_s": round(last.elapsed_s, 3), "s_per_iter": round(last.s_per_iter, 5),
            "seed": job.seed, "device": str(restore.devices.pick(job.device)),
            "width": last.result.width, "height": last.result.height}


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
        summary = _run(args)
    except (UsageError, imageio.ImageError) as e:
        print(f"dip-engine: error: {e}", file=sys.stderr)
        return 2
    except FileExistsError as e:
        print(f"dip-engine: error: {e}", file=sys.stderr)
        return 2
    except restore.RunError as e:
        print(f"dip-engine: run failed: {e}", file=sys.stderr)
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
