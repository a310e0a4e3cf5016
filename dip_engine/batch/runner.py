"""Run a batch: find the photos, skip those the manifest has done, hand the rest to workers (local
processes or Ray), write each result atomically and record it, whatever fails on the way."""
from __future__ import annotations

import hashlib
import os
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

from .. import imageio, memory, presets, restore
from .inputs import DEFAULT_NAME, InputError, Item, discover
from .manifest import Manifest, ManifestError, read
from .workers import LocalPool, one_line

RECIPE_KEYS = ("task", "name", "scale", "preset", "iters", "seed", "stop", "lr", "channels", "tile", "quality",
               "strip_metadata")


class BatchError(ValueError):
    """The batch cannot start (no photos, a folder that cannot be written, other settings in the
    manifest, Ray missing); str() is one line."""


@dataclass
class Spec:
    """What a batch does: the task and its settings for every photo, the inputs and the output folder."""
    task: str
    inputs: list[str]
    outdir: Path
    name: str = DEFAULT_NAME
    recursive: bool = False
    masks: Path | None = None
    scale: int = 1
    preset: str = presets.DEFAULT
    iters: int | None = None
    seed: int = 0
    stop: str = "auto"
    lr: float | None = None
    channels: int | None = None
    tile: int | None = None
    device: str = "auto"
    quality: int = 95
    strip_metadata: bool = False
    overwrite: bool = False

    def recipe(self) -> dict:
        """The settings every output of the batch is made with (the manifest keeps them)."""
        return {k: getattr(self, k) for k in RECIPE_KEYS}

    def job(self, photo, mask=None) -> restore.Job:
        return restore.Job(self.task, photo, mask=mask, scale=self.scale if self.task == "sr" else 1,
                           preset=self.preset, iters=self.iters, seed=self.seed, stop=self.stop, device=self.device,
                           lr=self.lr, channels=self.channels, tile=self.tile, preview_every=10 ** 9)

    @classmethod
    def from_manifest(cls, outdir: Path) -> "Spec":
        """The batch recorded in `outdir`'s manifest, to continue it (BatchError if there is none)."""
        headers, _ = read(Path(outdir))
        if not headers:
            raise BatchError(f"{outdir}: holds no batch (no manifest): start one with its photos")
        last = headers[-1]
        rec = dict(headers[0]["recipe"])
        return cls(inputs=list(last.get("inputs", [])), outdir=Path(outdir), recursive=bool(last.get("recursive")),
                   masks=Path(last["masks"]) if last.get("masks") else None,
                   **{k: rec[k] for k in RECIPE_KEYS if k in rec})


@dataclass
class Event:
    """What the batch tells its display. kind: 'plan' (items, states), 'start', 'progress', 'done',
    'failed', 'note' (message), 'paused', 'finish' (summary)."""
    kind: str
    key: str | None = None
    item: Item | None = None
    message: str = ""
    progress: dict = field(default_factory=dict)
    items: list[Item] = field(default_factory=list)
    states: dict[str, str] = field(default_factory=dict)
    summary: dict = field(default_factory=dict)


class BatchControl:
    """Thread-safe: pause (running fits wait, none starts), stop (running photos finish, none
    starts), abort (running photos are dropped: they run again next time)."""

    def __init__(self):
        self._paused = threading.Event()
        self._stop = threading.Event()
        self._abort = threading.Event()

    def pause(self) -> None:
        self._paused.set()

    def resume(self) -> None:
        self._paused.clear()

    def stop(self) -> None:
        self._stop.set()

    def abort(self) -> None:
        self._stop.set()
        self._abort.set()

    @property
    def paused(self) -> bool:
        return self._paused.is_set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    @property
    def aborted(self) -> bool:
        return self._abort.is_set()


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def photo_bytes(spec: Spec, width: int, height: int) -> int:
    """Peak memory of one photo's fit (at most the fit budget: larger photos are tiled)."""
    s = spec.scale if spec.task == "sr" else 1
    est = 0
    for holes in ((False, True) if spec.task == "inpaint" else (False,)):
        p = presets.get(spec.task, spec.preset, holes=holes)
        if spec.channels:
            p = replace(p, channels=spec.channels)
        est = max(est, memory.estimate(p, height * s, width * s, 3, "cpu"))
    return est


def plan_workers(spec: Spec, items: list[Item], workers: int | None = None,
                 threads: int | None = None) -> tuple[int, int, list[str]]:
    """(workers, threads per worker, notes): workers x threads never exceeds the cores, and the
    workers' fits together stay within the memory budget (estimated for the largest photo)."""
    n_cores, notes = cores(), []
    if workers == 1 or (workers is None and (len(items) <= 1 or n_cores // (threads or 1) <= 1)):
        # one fit at a time: it plans its own memory (restore.plan), nothing to share
        fair = n_cores if threads is None else min(threads, n_cores)
        if threads is not None and threads > n_cores:
            notes.append(f"{threads} threads are more than the {n_cores} cores: using {n_cores}.")
        return 1, fair, notes
    budget = memory.budget("cpu")
    largest = (0, 0)
    from PIL import Image
    for it in items:
        try:
            with Image.open(it.input) as im:   # reads the header only
                if im.width * im.height > largest[0] * largest[1]:
                    largest = im.size
        except Exception:  # noqa: BLE001 - an unreadable photo fails later, with its own message
            pass
    need = min(photo_bytes(spec, *largest), budget) if largest[0] else 0
    by_memory = max(1, budget // need) if need else n_cores
    try:
        gpu = restore.devices.pick(spec.device).type != "cpu"
    except ValueError:   # a device this machine lacks: the batch refuses it before planning
        gpu = False
    if gpu:
        by_memory = 1 if workers is None else workers   # one GPU: fits share it one at a time by default
    todo = max(1, len(items))
    if workers is None:
        workers = max(1, min(n_cores // (threads or 1), todo, by_memory))
    else:
        if workers > by_memory:
            notes.append(f"{workers} workers would need about {memory.human(workers * need)} for the largest "
                         f"photo ({largest[0]}x{largest[1]} px) but the budget is {memory.human(budget)}: "
                         f"using {by_memory}.")
            workers = by_memory
        if workers > n_cores:
            notes.append(f"{workers} workers are more than the {n_cores} cores: using {n_cores}.")
            workers = n_cores
    fair = max(1, n_cores // workers)
    if threads is None:
        threads = fair
    elif threads > fair:
        notes.append(f"{workers} workers x {threads} threads would exceed the {n_cores} cores: "
                     f"using {fair} thread{'s' if fair > 1 else ''} per worker.")
        threads = fair
    return workers, threads, notes


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _prepare(spec: Spec, item: Item, check_device: bool) -> restore.Job:
    """Load the photo (and mask) and build its job; ValueError with one line when it cannot run."""
    photo = imageio.load_image(item.input)
    mask = imageio.load_mask(item.mask, size=(photo.width, photo.height)) if spec.task == "inpaint" else None
    job = spec.job(photo, mask)
    try:
        restore.check(job if check_device else replace(job, device="cpu"))
    except restore.JobError as e:
        raise restore.JobError(f"{item.input}: {e}") from None
    return job


def _output_problem(item: Item, ours: bool, overwrite: bool) -> str | None:
    """Why the output cannot be written (the CLI's own checks), or None."""
    from ..cli import UsageError, _check_output
    try:
        item.output.parent.mkdir(parents=True, exist_ok=True)
        _check_output(item.output, item.input, overwrite or ours)
    except UsageError as e:
        return str(e)
    except OSError as e:
        return f"{item.output.parent}: cannot create the folder ({e.strerror}): choose another output folder"
    return None


def run(spec: Spec, *, workers: int | None = None, threads: int | None = None, pool=None,
        control: BatchControl | None = None, on_event: Callable[[Event], None] | None = None) -> dict:
    """Restore every photo of `spec` not yet done; return the summary. `pool`: a RayPool (None:
    local worker processes). Raises BatchError when the batch cannot start at all."""
    start = time.perf_counter()
    if pool is None:
        try:
            restore.devices.pick(spec.device)
        except ValueError as e:
            raise BatchError(str(e)) from None
    control = control or BatchControl()
    emit = on_event or (lambda e: None)
    outdir = spec.outdir
    try:
        outdir.mkdir(parents=True, exist_ok=True)
        if not os.access(outdir, os.W_OK):
            raise BatchError(f"{outdir}: the output folder is not writable: choose another one")
        items = discover(spec.inputs, outdir, spec.task, spec.name, spec.recursive, spec.masks)
    except (InputError, OSError) as e:
        raise BatchError(str(e) if isinstance(e, InputError) else f"{outdir}: {one_line(e)}") from None
    if not items:
        raise BatchError(f"no photos found in {', '.join(spec.inputs)}: give photo files, folders or globs")
    try:
        man = Manifest(outdir)
    except OSError as e:
        raise BatchError(f"{outdir}: cannot write the manifest ({e.strerror}): choose another output folder") from None
    except ManifestError as e:
        raise BatchError(str(e)) from None
    with man:
        return _run(spec, items, man, workers, threads, pool, control, emit, start)


def _run(spec, items, man, workers, threads, pool, control, emit, start) -> dict:
    on_cluster = pool is not None
    notes = []
    if man.removed_temp:
        notes.append(f"Removed {man.removed_temp} unfinished output file{'s' if man.removed_temp > 1 else ''} "
                     "left by an earlier stop.")
    queue: list[Item] = []
    earlier = failed = 0
    by_key = {it.key: it for it in items}
    try:
        man.begin(spec.recipe(), {"inputs": [str(Path(i).expanduser().absolute()) for i in spec.inputs],
                                  "recursive": spec.recursive,
                                  "masks": str(spec.masks.absolute()) if spec.masks else None})
    except ManifestError as e:
        raise BatchError(str(e)) from None
    for it in items:
        st = man.photos.get(it.key)
        if st is not None and st.state == "done":
            earlier += 1
            continue
        if st is None:
            man.set(it.key, "pending", input=str(it.input.absolute()),
                    mask=str(it.mask.absolute()) if it.mask else None)
        problem = it.problem or _output_problem(it, ours=st is not None, overwrite=spec.overwrite)
        if problem:
            man.set(it.key, "failed", reason=problem)
            failed += 1
        else:
            queue.append(it)
    if not queue:
        pool = None
    elif pool is None:
        workers, threads, more = plan_workers(spec, queue, workers, threads)
        notes += more
        pool = LocalPool(workers, threads)
    else:
        try:
            pool.start()
        except Exception as e:  # noqa: BLE001 - ClusterError or Ray's own
            raise BatchError(one_line(e)) from None
    if pool is not None:
        notes.insert(0, f"{len(queue)} to restore with {pool.describe()}"
                        + (f" ({earlier} done earlier)." if earlier else "."))
    emit(Event("plan", items=items, states={k: st.state for k, st in man.photos.items()}))
    for n in notes:
        emit(Event("note", message=n))
    for it in items:
        st = man.photos[it.key]
        if st.state == "failed" and it not in queue:
            emit(Event("failed", it.key, it, message=st.record.get("reason", "")))
    done = 0
    running: dict[str, float] = {}
    was_paused = False
    try:
        while pool is not None and ((queue and not control.stopping) or running):
            if control.aborted:
                break
            if control.paused != was_paused:
                was_paused = control.paused
                pool.pause(was_paused)
                emit(Event("paused" if was_paused else "resumed"))
            while queue and not control.paused and not control.stopping and len(running) < pool.capacity:
                it = queue.pop(0)
                try:
                    job = _prepare(spec, it, check_device=not on_cluster)
                except (ValueError, OSError) as e:   # ImageError, JobError: the file's own fault
                    man.set(it.key, "failed", reason=one_line(e))
                    failed += 1
                    emit(Event("failed", it.key, it, message=one_line(e)))
                    continue
                man.set(it.key, "running", worker=pool.name)
                running[it.key] = time.perf_counter()
                pool.submit(it.key, job)
                del job
                emit(Event("start", it.key, it))
            for kind, key, value in pool.poll(0.2):
                it = by_key[key]
                if kind == "progress":
                    emit(Event("progress", key, it, progress=value))
                    continue
                running.pop(key, None)
                if kind == "done":
                    try:
                        rec = _save(spec, it, value)
                    except (ValueError, OSError) as e:   # disk full, folder gone
                        kind, value = "failed", one_line(e)
                    else:
                        man.set(key, "done", **rec)
                        done += 1
                        emit(Event("done", key, it, message=f"{it.output} ({rec['iterations']} iterations, "
                                                            f"{rec['wall_s']:.1f} s)", progress=rec))
                if kind == "failed":
                    man.set(key, "failed", reason=value)
                    failed += 1
                    emit(Event("failed", key, it, message=value))
        if control.aborted and pool is not None:
            pool.abort()
            for key in running:
                man.set(key, "pending", reason="stopped before it finished")
            running.clear()
    finally:
        if pool is not None:
            if running:     # an exception in this loop: leave the photos running (redone next time)
                pool.abort()
            else:
                pool.close()
    states = {it.key: man.photos[it.key].state for it in items}
    summary = {
        "outdir": str(spec.outdir), "manifest": str(man.path), "task": spec.task, "total": len(items),
        "done": sum(s == "done" for s in states.values()), "done_now": done, "done_earlier": earlier,
        "failed": sum(s == "failed" for s in states.values()),
        "left": sum(s in ("pending", "running") for s in states.values()),
        "workers": getattr(pool, "workers", 0), "threads": getattr(pool, "threads", 0),
        "backend": getattr(pool, "name", None), "wall_s": round(time.perf_counter() - start, 3),
        "failures": [{"photo": k, "reason": man.photos[k].record.get("reason", "")}
                     for k, s in states.items() if s == "failed"],
    }
    emit(Event("finish", summary=summary))
    return summary


def _save(spec: Spec, item: Item, value: dict) -> dict:
    meta = None if spec.strip_metadata else value["metadata"]
    out = imageio.save_image(value["result"], item.output, quality=spec.quality, overwrite=True, metadata=meta,
                             strip_metadata=spec.strip_metadata)
    return {"output": item.key, "sha256": _sha256(out), "recipe": value["metadata"],
            "iterations": value["iterations"], "stopped_by": value["stopped_by"], "fit_s": value["fit_s"],
            "wall_s": value["wall_s"], "device": value["device"]}


def summary_line(s: dict) -> str:
    parts = [f"{s['done']} done" + (f" ({s['done_earlier']} earlier)" if s["done_earlier"] else ""),
             f"{s['failed']} failed"]
    if s["left"]:
        parts.append(f"{s['left']} not finished (run the same command again to continue)")
    return f"batch: {', '.join(parts)} of {s['total']} photos in {s['wall_s']:.1f} s; manifest {s['manifest']}"


def state_dict(item: Item) -> dict:
    return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(item).items()}
