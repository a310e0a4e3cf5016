"""`dip-engine batch TASK INPUT... -o OUTDIR`: the batch's command line (options, progress, summary).

Exit status: 0 every photo done, 1 some failed or were not finished, 2 bad usage (one line).
"""
from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

from .. import presets
from .inputs import DEFAULT_NAME

HELP = "restore many photos with one task: files, folders or globs into one folder"


def add_parser(sub, common) -> None:
    """Add the `batch` subcommand to the CLI's subparsers; `common` adds the shared output options."""
    s = sub.add_parser("batch", help=HELP, description=HELP + ". A manifest in OUTDIR records every photo: "
                       "the same command continues a stopped batch and never redoes a done photo.")
    s.add_argument("batch_task", metavar="TASK", choices=presets.TASKS, help=" | ".join(presets.TASKS))
    s.add_argument("inputs", metavar="INPUT", nargs="+", help="photo files, folders or globs ('scans/*.jpg')")
    s.add_argument("-o", "--output", required=True, type=Path, metavar="OUTDIR",
                   help="the folder for the results and the manifest (created if missing)")
    s.add_argument("--name", default=DEFAULT_NAME, metavar="PATTERN",
                   help=f"output file name with {{stem}} and {{task}} (default {DEFAULT_NAME}; the extension "
                        "picks the format)")
    s.add_argument("-r", "--recursive", action="store_true", help="also photos in subfolders (mirrored in OUTDIR)")
    s.add_argument("--masks", type=Path, metavar="DIR",
                   help="inpaint: masks with the photos' stems here (default: photo.mask.png beside photo.jpg)")
    s.add_argument("--scale", type=int, help="sr: enlargement factor, 2 to 8")
    names = sorted({n for t in presets.TASKS for n in presets.names(t)})
    s.add_argument("--preset", default=presets.DEFAULT, choices=names, help=f"settings (default {presets.DEFAULT})")
    s.add_argument("--iters", type=int, help="maximum iterations per photo (default: the preset's)")
    s.add_argument("--seed", type=int, default=0, help="random seed (default 0): same seed and threads, same results")
    s.add_argument("--stop", choices=("auto", "never"), default="auto", help="auto-stop at the quality peak (default)")
    s.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto")
    s.add_argument("--lr", type=float, help="learning rate (default: the preset's)")
    s.add_argument("--channels", type=int, help="network width (default: the preset's)")
    s.add_argument("--tile", type=int, metavar="PX", help="denoise/jpeg/sr: fit in tiles of PX pixels")
    s.add_argument("--workers", type=int, metavar="N",
                   help="photos fitted at once (default: from the cores and the memory the photos need)")
    s.add_argument("--threads", type=int, help="CPU threads per worker (default: the cores shared by the workers)")
    s.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="fit on a Ray cluster (default address: RAY_ADDRESS, else a local Ray); needs "
                        "pip install 'dip-studio[cluster]'")
    s.set_defaults(every=None)
    common(s)


def main(args) -> int:
    from .. import cli
    from . import BatchControl, BatchError, RayPool, Spec, run, summary_line
    try:
        cli._check_numbers(args)
        if args.workers is not None and args.workers < 1:
            raise cli.UsageError(f"--workers must be at least 1, not {args.workers}")
        task = args.batch_task
        if task == "sr" and args.scale is None:
            raise cli.UsageError("sr needs --scale N (2 to 8)")
        if args.scale is not None and task != "sr":
            raise cli.UsageError(f"--scale applies to sr only, not to {task}")
        if args.preset not in presets.names(task):
            raise cli.UsageError(f"--preset {args.preset} is not a {task} preset: choose one of "
                                 f"{', '.join(presets.names(task))}")
        if args.masks is not None and task != "inpaint":
            raise cli.UsageError(f"--masks applies to inpaint only, not to {task}")
        spec = Spec(task, [str(i) for i in args.inputs], args.output, name=args.name, recursive=args.recursive,
                    masks=args.masks, scale=args.scale or 1, preset=args.preset, iters=args.iters, seed=args.seed,
                    stop=args.stop, lr=args.lr, channels=args.channels, tile=args.tile, device=args.device,
                    quality=args.quality, strip_metadata=args.strip_metadata, overwrite=args.overwrite)
        pool = None if args.ray is None else RayPool(args.ray or None, args.workers, args.threads)
        control = BatchControl()
        display = _Display(args.quiet)
        # First Ctrl+C: finish the running photos and start no more; a second one stops them too.
        def on_int(*_):
            if control.stopping:
                control.abort()
            else:
                control.stop()
                display.write("stopping after the running photos (Ctrl+C again: stop them now; "
                              "the same command continues the batch)")
        previous = signal.signal(signal.SIGINT, on_int)
        try:
            summary = run(spec, workers=args.workers, threads=args.threads, pool=pool, control=control,
                          on_event=display.event)
        finally:
            signal.signal(signal.SIGINT, previous)
            display.close()
    except (cli.UsageError, BatchError) as e:
        print(f"dip-engine: error: {e}", file=sys.stderr)
        return 2
    print(summary_line(summary), file=sys.stderr)
    if args.json:
        print(json.dumps(summary))
    return 0 if summary["failed"] == 0 and summary["left"] == 0 else 1


class _Display:
    """One overall bar (done, failed, running, ETA) and, on a terminal, one line per running photo."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.bar = None
        self.lines: dict[str, object] = {}
        self.done = self.failed = 0
        self.running: set[str] = set()
        self.tty = sys.stderr.isatty()

    def write(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        elif not self.quiet:
            print(text, file=sys.stderr)

    def event(self, ev) -> None:
        if self.quiet:
            return
        from tqdm import tqdm
        if ev.kind == "plan":
            todo = sum(ev.states.get(it.key) != "done" for it in ev.items)
            self.bar = tqdm(total=todo, unit="photo", desc="batch", file=sys.stderr, dynamic_ncols=True, position=0)
        elif ev.kind == "note":
            self.write(ev.message)
        elif ev.kind == "start":
            self.running.add(ev.key)
        if ev.kind == "start" and self.tty:
            free = min(set(range(1, len(self.lines) + 2)) - {b.pos for b in self.lines.values()})
            self.lines[ev.key] = tqdm(total=1, desc=ev.item.input.name[:30], unit="it", file=sys.stderr,
                                      position=free, leave=False, dynamic_ncols=True)
        if ev.kind == "progress" and ev.key in self.lines:
            line = self.lines[ev.key]
            line.total = ev.progress["total"]
            line.update(ev.progress["iteration"] - line.n)
        elif ev.kind in ("done", "failed"):
            self.running.discard(ev.key)
            line = self.lines.pop(ev.key, None)
            if line is not None:
                line.close()
            self.done += ev.kind == "done"
            self.failed += ev.kind == "failed"
            self.write(f"done   {ev.item.input.name} -> {ev.message}" if ev.kind == "done"
                       else f"failed {ev.item.input.name}: {ev.message}")
            if self.bar is not None:
                self.bar.update(1)
        elif ev.kind in ("paused", "resumed"):
            self.write(f"batch {ev.kind}")
        if self.bar is not None and ev.kind in ("start", "done", "failed"):
            self.bar.set_postfix(done=self.done, failed=self.failed, running=len(self.running), refresh=True)

    def close(self) -> None:
        for line in self.lines.values():
            line.close()
        if self.bar is not None:
            self.bar.close()
