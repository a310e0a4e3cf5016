"""One restoration job from photo to result: the layer the CLI and the GUI both call.

It validates the job, plans what to fit within the memory budget (`plan`: the whole photo, a
crop around the mask, one crop per cluster of marks, or overlapping tiles), runs `fit.fit` for
each part on the problem its task's physics builds (`physics.py`), composites every preview into
the photo (known pixels stay original) and, on the final step, builds the faithful
full-resolution result: samples outside the mask are copied bit for bit from the input; tiles
are blended with raised-cosine weights so seams do not show.
"""
from __future__ import annotations

import hashlib
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Iterator

import numpy as np
import torch

from . import __version__, eta, latency, memory, parallel, physics, presets, regions
from . import classical  # noqa: F401 - tests patch restore.classical.usable_mse
from . import confidence
from . import device as devices
from .fit import Control, Step, fit
from .imageio import Photo
from .memory import human
from .physics import Physics
from .regions import Region, crop_around, whole

__all__ = ["Job", "JobError", "RunError", "Control", "Step", "Plan", "check", "check_resume", "plan", "run",
           "compose", "output_size", "metadata"]

TILED_TASKS = tuple(task for task, p in physics.PHYSICS.items() if p.tiles)
MIN_TILE = 64        # smallest automatic tile side (input pixels)
FRAME_SHARE = 0.05   # a run in parts spends at most this share of its time composing frames ...
FRAME_FREE_S = 0.01  # ... once one takes longer than this
MIN_OVERLAP = 16     # automatic overlap: tile // 8, at least this
TILE_STEP = 32       # automatic tile sides are rounded down to a multiple of this
CLUSTER_WORTH = 0.6  # fit marks far apart in separate crops when those cover less than this share of one crop
MAX_CLUSTERS = 8     # ... and when there are at most this many (each crop is a fit of its own)
# ... and only when the one crop around all marks is at least this large: below it an iteration
# costs little more than one of a small crop (fixed per-step costs dominate), each crop runs the
# whole iteration budget, and large holes lose context (bench: library holes at 128 px, split in
# two 26.45 dB in 4000 iterations, whole 27.31 dB in 450).
CLUSTER_MIN_AREA = 256 * 256


class JobError(ValueError):
    """The job cannot run as asked; str() is one line saying what to change."""


class RunError(RuntimeError):
    """The run failed (out of memory, device error); str() is one line with a way forward."""


@dataclass
class Job:
    task: str                        # "denoise" | "jpeg" | "sr" | "inpaint"
    photo: Photo
    mask: np.ndarray | None = None   # inpaint: bool H x W, True = fill
    scale: int = 1                   # sr: 2..8
    preset: str = presets.DEFAULT
    iters: int | None = None
    seed: int = 0
    stop: str = "auto"               # "auto" | "never"
    device: str = "auto"
    precision: str = "auto"          # "auto" | "fp32" | "bf16" (device.pick_precision)
    threads: int | None = None
    lr: float | None = None
    channels: int | None = None      # network width override
    preview_every: int = 10
    tile: int | None = None          # denoise/jpeg/sr: work in tiles of at most this side (input px)
    workers: int | None = None       # parts fitted at once (None: as many as cores and memory allow)
    overlap: int | None = None       # ... overlapping by this many px (default tile // 8, at least 16)
    # Pieces small enough for Stop to act within 2 s on a CPU (`latency`); False only for the
    # bench's runs of the authors' configuration, which fit the whole photo as their notebooks do.
    responsive: bool = True
    _holes: bool | None = field(default=None, init=False, repr=False, compare=False)  # cache of holes()

    def settings(self) -> presets.Preset:
        """The preset with this job's overrides applied (for inpainting, the one for its marks)."""
        p = presets.get(self.task, self.preset, holes=self.holes())
        if self.channels:
            p = replace(p, channels=self.channels)
        if self.iters:
            p = replace(p, iterations=self.iters)
        if self.lr:
            p = replace(p, lr=self.lr)
        return p

    def physics(self) -> Physics:
        """The task's observation model for this job (`physics.py`)."""
        return physics.of(self.task, scale=self.scale, mask=self.mask)

    def holes(self) -> bool:
        """Inpainting of objects or large holes (`regions.large_holes`)."""
        if self._holes is None:
            self._holes = self.task == "inpaint" and self.mask is not None and regions.large_holes(self.mask)
        return self._holes


def check(job: Job) -> None:
    """Raise JobError (one line) when the job cannot run."""
    if job.task not in presets.TASKS:
        raise JobError(f"unknown task '{job.task}': choose one of {', '.join(presets.TASKS)}")
    try:
        presets.get(job.task, job.preset)
        devices.pick_precision(job.precision, devices.pick(job.device))
    except ValueError as e:
        raise JobError(str(e)) from None
    if job.stop not in ("auto", "never"):
        raise JobError(f"stop must be 'auto' or 'never', not '{job.stop}'")
    if job.iters is not None and job.iters < 1:
        raise JobError(f"iterations must be at least 1, not {job.iters}")
    if job.workers is not None and job.workers < 1:
        raise JobError(f"workers must be at least 1, not {job.workers}")
    if job.threads is not None and job.threads < 1:
        raise JobError(f"threads must be at least 1, not {job.threads}")
    ph = job.physics()
    try:
        ph.check(job.photo)
    except ValueError as e:
        raise JobError(str(e)) from None
    if job.tile is not None:
        if not ph.tiles:
            raise JobError(f"tiling applies to {', '.join(TILED_TASKS)}, not to {job.task}: "
                           "inpainting fits a crop around the mask")
        if job.tile < 16:
            raise JobError(f"tile must be at least 16 px, not {job.tile}")
    if job.overlap is not None:
        if job.tile is None:
            raise JobError("overlap needs a tile size too")
        if not 0 <= job.overlap < job.tile // 2 + 1:
            raise JobError(f"overlap must be 0 to half the tile ({job.tile // 2} px), not {job.overlap}")


def output_size(job: Job) -> tuple[int, int]:
    """(width, height) of the result."""
    return job.physics().output_size(job.photo.width, job.photo.height)


def fit_region(job: Job) -> Region:
    """The part of the output that the preset would fit without a memory limit: a crop around
    the mask, or everything (`plan` says what is really fitted)."""
    w, h = output_size(job)
    if job.physics().mask is not None and job.settings().region:
        return crop_around(job.mask, job.settings().margin)
    return whole(h, w)


@dataclass
class Plan:
    """What a run will fit, decided before any fitting from the photo size, the network and the
    device's memory. `notes` are one-line sentences for the user (CLI prints, GUI shows them)."""
    regions: list[Region]              # output regions fitted one after another (a region fitted k
                                       # times with k seeds, `Preset.fits`, is listed k times)
    tiles: list[Region] = field(default_factory=list)  # the regions in the input (SR: low-res), blended
                                                       # with feathered weights; [] = no blending
    tile: int | None = None            # tile side asked for or chosen (input px)
    overlap: int | None = None
    estimate_bytes: int = 0            # peak memory of the largest single fit
    whole_bytes: int = 0               # ... of fitting the whole output at once
    budget_bytes: int = 0              # what a fit may use on this device
    device: str = "cpu"
    notes: list[str] = field(default_factory=list)
    error: str | None = None           # the job cannot run within the budget: why and what to do
    masks: list[np.ndarray] | None = field(default=None, repr=False)  # inpaint: the marks each region fills (region-sized)

    @property
    def tiled(self) -> bool:
        """The photo is cut into tiles (a whole photo fitted several times is not)."""
        return len(set(self.tiles)) > 1

    @property
    def fits(self) -> bool:
        return self.error is None


def _host_bytes(job: Job) -> int:
    """Full-size float arrays the run keeps in RAM besides the fit (input, mosaic, weights, a preview)."""
    w, h = output_size(job)
    c = job.photo.color_channels
    return 4 * c * job.photo.width * job.photo.height + 4 * (3 * c + 1) * w * h


def plan(job: Job) -> Plan:
    """Decide, without fitting, what `run` will fit: the whole photo when it fits the memory
    budget, else tiles (denoise, JPEG, SR) or smaller crops (inpainting); `error` set when even
    that cannot fit. Raises JobError for an invalid job."""
    check(job)
    preset = job.settings()
    dev = devices.pick(job.device)
    c = job.photo.color_channels
    W, H = output_size(job)
    budget = memory.budget(dev)
    if dev.type == "cpu":
        budget -= _host_bytes(job)
    budget = max(budget, 0)

    def est(h: int, w: int) -> int:
        return memory.estimate(preset, h, w, c, dev)

    whole_est = est(H, W)
    base = Plan([whole(H, W)], estimate_bytes=whole_est, whole_bytes=whole_est, budget_bytes=budget,
                device=dev.type)
    ph = job.physics()
    if not ph.tiles:
        return _plan_crops(job, preset, est, base)
    return _fit_each(job, _plan_tiles(job, preset, dev, est, base), preset.fits)


def _plan_tiles(job: Job, preset: presets.Preset, dev: torch.device, est, base: Plan) -> Plan:
    """Denoise, JPEG, SR: the whole photo, or overlapping tiles (thin marks: `_plan_mark_tiles`)."""
    ph, c = job.physics(), job.photo.color_channels
    W, H = output_size(job)
    budget, whole_est = base.budget_bytes, base.whole_bytes
    h, w = job.photo.height, job.photo.width
    forced = job.tile is not None and job.tile < max(h, w)
    # The preset's own tile size, where it fits better in pieces than whole; a tile asked for wins.
    # CPUs only: a GPU fits small tiles one after another and idles on each (H200: 0.032 s per
    # iteration of a 128² tile, 0.016 s of a whole 512² photo), so the whole photo is ~10x sooner.
    # The preset's tile is in output px (the size the net fits), so SR tiles the small photo in
    # pieces of tile // scale px.
    own = preset.tile // ph.scale if preset.tile else None   # x8 SR: 24 px
    best = own if dev.type == "cpu" and job.tile is None and own and own < max(h, w) else None
    cap = latency.max_pixels(preset, c, dev.type) if job.responsive else None
    if not forced and not best and whole_est <= budget and (cap is None or H * W <= cap):
        base.notes.append(f"Fitting all {W}x{H} px at once (est. {human(whole_est)}, budget {human(budget)} "
                          f"on {dev.type}).")
        return base
    s = ph.scale
    if forced:
        tile = job.tile
        overlap = job.overlap if job.overlap is not None else max(MIN_OVERLAP, tile // 8)
        overlap = min(overlap, tile // 2)
    else:
        tile = _largest_tile(h, w, s, budget, est, cap)
        if tile is None:
            base.error = (f"not enough memory on {dev.type} for even a {MIN_TILE * s}x{MIN_TILE * s} px tile "
                          f"(est. {human(est(MIN_TILE * s, MIN_TILE * s))}, budget {human(budget)}): "
                          f"close other programs, or use the 'fast' preset or fewer channels")
            return base
        if best and best < tile:
            tile = best
        else:
            best = None   # memory or Stop need smaller tiles than the preset's: say so below
        own_overlap = preset.overlap // s if best and preset.overlap is not None else None
        overlap = min(own_overlap if own_overlap is not None else max(MIN_OVERLAP, tile // 8), tile // 2)
    tiles = regions.tiles(h, w, tile, overlap)
    t, l, b, r = tiles[0]
    tile_est = est((b - t) * s, (r - l) * s)
    p = Plan([regions.scaled(x, s) for x in tiles], tiles, tile, overlap, tile_est, whole_est, budget, dev.type)
    size = f"{r - l}x{b - t} px" + (f" ({(r - l) * s}x{(b - t) * s} px out)" if s > 1 else "")
    if forced:
        p.notes.append(f"Working in {len(tiles)} tiles of {size} with {overlap} px overlap, as asked "
                       f"(est. {human(tile_est)} per tile, budget {human(budget)}).")
        if tile_est > budget:
            p.error = (f"tiles of {size} need about {human(tile_est)} but the budget on {dev.type} is "
                       f"{human(budget)}: choose a smaller tile, or leave the tile size to the engine")
    elif best:
        p.notes.append(f"Working in {len(tiles)} tiles of {size} with {overlap} px overlap: the "
                       f"'{preset.name}' network reaches a sharper result on pieces of this size than on "
                       f"the whole photo, and sooner.")
    elif whole_est <= budget:
        p.notes.append(f"Working in {len(tiles)} tiles of {size} with {overlap} px overlap, so that Stop "
                       f"acts within {latency.STOP_S:.0f} s (the whole photo fits in memory, but one layer "
                       f"of it would keep this CPU busy for longer).")
    else:
        for_stop = cap is not None and (_largest_tile(h, w, s, budget, est) or 0) > tile
        p.notes.append(f"Photo too large to fit at once (est. {human(whole_est)}, budget {human(budget)}): "
                       f"working in {len(tiles)} tiles of {size} with {overlap} px overlap"
                       + (f", small enough for Stop to act within {latency.STOP_S:.0f} s." if for_stop else "."))
    return p


def _largest_tile(h: int, w: int, s: int, budget: int, est, cap: int | None = None) -> int | None:
    """The largest tile side (input px) whose fit stays within the memory budget and, when `cap`
    is given, has at most `cap` output pixels; None when even the smallest does not fit."""
    def ok(tile: int) -> bool:
        th, tw = min(tile, h) * s, min(tile, w) * s
        return est(th, tw) <= budget and (cap is None or th * tw <= cap or tile <= MIN_TILE)
    lo, hi = MIN_TILE, max(h, w, MIN_TILE)
    if not ok(lo):
        return None
    while lo < hi:  # the largest ok side in [lo, hi]
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if ok(mid) else (lo, mid - 1)
    return max(MIN_TILE, lo - lo % TILE_STEP) if lo > 2 * TILE_STEP else lo


def _fit_each(job: Job, pl: Plan, k: int) -> Plan:
    """`pl` with every region fitted `k` times, each time with the next seed (`seeds`); the
    region's image is the mean of its fits (`_run_parts`). Two small fits averaged beat one of
    twice the size: independent fits err partly independently, so their mean has less error."""
    if k <= 1 or not pl.fits:
        return pl
    tiles = pl.tiles or [whole(job.photo.height, job.photo.width)]
    note = (f"Each {'tile' if pl.tiles else 'part'} is fitted {k} times, with seeds "
            f"{', '.join(str(v) for v in range(job.seed, job.seed + k))}, and the fits averaged.")
    return replace(pl, regions=[r for r in pl.regions for _ in range(k)], tiles=[t for t in tiles for _ in range(k)],
                   notes=[*pl.notes, note])


def seeds(parts: list[Region], seed: int) -> list[int]:
    """The seed of each part: `seed`, plus one for every earlier part over the same region."""
    seen: Counter = Counter()
    out = []
    for r in map(tuple, parts):
        out.append(seed + seen[r])
        seen[r] += 1
    return out


def _plan_crops(job: Job, preset: presets.Preset, est, base: Plan) -> Plan:
    """Inpainting: one crop around the mask, or one per group of marks far apart."""
    mask, budget = job.mask, base.budget_bytes
    H, W = mask.shape

    def cost(rs: list[Region]) -> int:
        return max(est(b - t, r - l) for t, l, b, r in rs)

    def describe(rs: list[Region]) -> str:
        if len(rs) == 1:
            t, l, b, r = rs[0]
            return f"all {W}x{H} px" if rs[0] == whole(H, W) else f"a {r - l}x{b - t} px crop around the mask"
        return f"{len(rs)} separate crops around {len(rs)} groups of marks"

    single = crop_around(mask, preset.margin) if preset.region else whole(H, W)
    # Presets that fit the whole photo (the paper's) are never split, so references stay faithful.
    groups = regions.clusters(mask, preset.margin) if preset.region else []
    if 1 < len(groups) <= MAX_CLUSTERS and regions.area(single) >= CLUSTER_MIN_AREA and sum(regions.area(g) for g, _ in groups) < CLUSTER_WORTH * regions.area(single):
        rs, masks = [g for g, _ in groups], [m for _, m in groups]
    else:
        rs, masks = [single], None
    # Thin marks spread wide in tiles (measured: areas of 512x384 px and more, in 128-px tiles);
    # crops of up to four tiles' area are fitted whole, as the bench measured them (192-px crops).
    if preset.tile and base.device == "cpu" and any(regions.area(x) > 4 * preset.tile ** 2 for x in rs):
        tiled = _plan_mark_tiles(job, preset, est, base, single)
        if tiled is not None:
            return tiled
    e = cost(rs)
    if e <= budget:
        base.regions, base.masks, base.estimate_bytes = rs, masks, e
        base.notes.append(f"Fitting {describe(rs)} (est. {human(e)}, budget {human(budget)} on {base.device}).")
        return base
    first = e
    for frac, min_margin in ((0.5, 16), (0.25, 8), (0.0, 4)):
        groups = regions.clusters(mask, preset.margin * frac, min_margin=min_margin)
        rs = [g for g, _ in groups]
        e = cost(rs)
        if e <= budget:
            base.regions, base.estimate_bytes = rs, e
            base.masks = None if len(groups) == 1 else [m for _, m in groups]
            base.notes.append(f"The area around the mask is too large to fit at once (est. {human(first)}, "
                              f"budget {human(budget)}): fitting {describe(rs)} with a narrower context "
                              f"margin (est. {human(e)}).")
            return base
    t, l, b, r = max(rs, key=regions.area)
    base.regions, base.estimate_bytes = rs, e
    base.error = (f"the masked area needs a {r - l}x{b - t} px fit even with the narrowest margin "
                  f"(est. {human(e)}, budget {human(budget)} on {base.device}): fill smaller parts of the "
                  f"mask one at a time, or use the 'fast' preset or fewer channels")
    return base


def _plan_mark_tiles(job: Job, preset: presets.Preset, est, base: Plan, box: Region) -> Plan | None:
    """Thin marks spread over more than four tiles' area: overlapping tiles of `box`, only
    those that hold marks fitted, blended as denoising's tiles are; None when a tile would not fit
    the memory budget (the crops then narrow their margin instead)."""
    tile = preset.tile
    overlap = preset.overlap if preset.overlap is not None else max(MIN_OVERLAP, tile // 8)
    t0, l0, b0, r0 = box
    grid = [(t + t0, l + l0, b + t0, r + l0) for t, l, b, r in regions.tiles(b0 - t0, r0 - l0, tile, overlap)]
    tiles = [(t, l, b, r) for t, l, b, r in grid if job.mask[t:b, l:r].any()]
    t, l, b, r = tiles[0]
    e = est(b - t, r - l)
    if e > base.budget_bytes:
        return None
    size = f"{r - l}x{b - t} px"
    skipped = f" (the {len(grid) - len(tiles)} without marks are left as they are)" if len(tiles) < len(grid) else ""
    return replace(base, regions=tiles, tiles=tiles, tile=tile, overlap=overlap, estimate_bytes=e,
                   notes=[*base.notes, f"Filling the marks in {len(tiles)} tiles of {size} with {overlap} px "
                          f"overlap{skipped}: the '{preset.name}' network fills thin marks sharper on pieces "
                          f"of this size than on the whole area, and sooner."])


def run(job: Job, control: Control | None = None, resume: dict | None = None) -> Iterator[Step]:
    """Fit and yield Steps whose `image` is composited into `region`; the last step has
    done=True and `result`, a full-resolution Photo ready for imageio.save_image.

    `resume`: a Step.checkpoint of an earlier run of this job (same photo, mask and settings;
    `iters` and `stop` may differ); the run goes on from there and gives the same result as one
    that was never interrupted. A run in several parts keeps the parts that ran to their end and
    fits the others from the start.

    Plans first (`plan`) and raises RunError before any fitting when the job cannot fit the
    memory budget. The first Step carries the plan in `extra["plan"]` and its notes in
    `extra["notes"]`. When several parts are fitted (tiles, or crops around separate groups of
    marks) they are fitted one after another, each with the job's seed; iterations count across
    all parts, `total` is the iterations done plus the budget of the parts still to come, and
    every image is the whole output so far (parts not yet fitted show the input)."""
    pl = plan(job)
    if resume is not None:
        pl = _resume_plan(job, pl, resume)
    if pl.error:
        raise RunError(pl.error)
    preset = job.settings()
    dev = devices.pick(job.device)
    devices.tune(dev)
    devices.set_threads(job.threads)
    largest = max((b - t) * (r - l) for t, l, b, r in pl.regions)
    fit_kw = dict(device=dev, precision=devices.pick_precision(job.precision, dev, largest),
                  confidence=confidence.tracks(job.task), seed=job.seed, auto_stop=job.stop == "auto",
                  preview_every=job.preview_every)
    notes = [f"The network runs in bfloat16 (mixed precision) on {dev.type}."] \
        if fit_kw["precision"] == "bf16" else []
    control = control or Control()
    if len(pl.regions) == 1:
        parts = _run_single(job, pl, preset, control, fit_kw, resume)
    else:
        parts = _run_parts(job, pl, preset, control, fit_kw, (_Tiles if pl.tiles else _Crops)(job, pl), resume)
    region = pl.regions[0]   # the part being fitted, for an out-of-memory message
    first = True
    try:
        for step in parts:
            if first:
                step.extra.update(plan=pl, notes=list(pl.notes) + notes + step.extra.get("notes", []))
                first = False
            region = pl.regions[step.extra.get("part", 0)]
            yield step
    except torch.OutOfMemoryError:
        raise RunError(_oom_message(dev, region)) from None
    except parallel.WorkerDied as e:
        t, l, b, r = region
        raise RunError(f"{e} while fitting {r - l}x{b - t} pixels; the usual cause is the computer running "
                       "out of memory: try fewer parts at a time (--workers 1), a smaller tile or fewer "
                       "channels") from None
    except RuntimeError as e:
        if "allocate" in str(e) or "out of memory" in str(e).lower():
            raise RunError(_oom_message(dev, region)) from None
        raise


# the settings a checkpoint must share with the job that resumes it (iters, stop and lr may
# differ: the learning rate in force is part of the optimiser state)
RESUME_KEYS = ("task", "preset", "scale", "seed", "channels")


def run_identity(job: Job, region: Region) -> dict:
    """What a checkpoint records about its run, so `run(resume=...)` can refuse a mismatch."""
    d = {k: getattr(job, k) for k in RESUME_KEYS}
    d.update(width=job.photo.width, height=job.photo.height, region=list(region),
             photo_sha256=hashlib.sha256(np.ascontiguousarray(job.photo.data)).hexdigest(),
             mask_sha256=None if job.physics().mask is None else hashlib.sha256(np.packbits(job.mask)).hexdigest())
    return d


def check_resume(job: Job, resume: dict) -> None:
    """Raise JobError (one line) when `resume` is not a checkpoint that `job` can continue."""
    if not isinstance(resume, dict) or not ("net" in resume or "parts" in resume):
        raise JobError("the saved run state is not a checkpoint of a fit")
    ident = resume.get("run")
    if not ident:
        raise JobError("the saved run state does not say which photo and settings it belongs to (an older "
                       "version made it, or it was damaged): start the run again")
    for k in RESUME_KEYS:
        if ident.get(k) != getattr(job, k):
            raise JobError(f"the saved run used {k} {ident.get(k)!r}, not {getattr(job, k)!r}: "
                           "restore those settings to continue it, or start a new run")
    if (ident["width"], ident["height"]) != (job.photo.width, job.photo.height):
        raise JobError(f"the saved run was fitting a {ident['width']}x{ident['height']} px photo, "
                       f"not {job.photo.width}x{job.photo.height} px: it belongs to another photo")
    now = run_identity(job, tuple(ident["region"]))
    if now["photo_sha256"] != ident["photo_sha256"]:
        raise JobError("the photo differs from the one the saved run was fitting: start a new run")
    if now["mask_sha256"] != ident["mask_sha256"]:
        raise JobError("the mask has changed since the run was saved: undo the change or start a new run")


def _resume_plan(job: Job, pl: Plan, resume: dict) -> Plan:
    """The plan of a resumed run: the one region the checkpoint was fitting (JobError if the
    checkpoint does not belong to this job)."""
    check_resume(job, resume)
    if "parts" in resume:
        return _resume_parts_plan(job, pl, resume)
    region = tuple(int(v) for v in resume["run"]["region"])
    it = int(resume.get("iteration", 0))
    note = f"Continuing the saved run from iteration {it}."
    if pl.regions == [region]:
        pl.notes.insert(0, note)
        return pl
    # the memory budget may differ from when the run started: the checkpoint decides the region
    return replace(pl, regions=[region], tiles=[], tile=None, overlap=None, masks=None, error=None,
                   notes=[note, f"Fitting the same {region[3] - region[1]}x{region[2] - region[0]} px "
                                "region as the saved run."])


def _resume_parts_plan(job: Job, pl: Plan, resume: dict) -> Plan:
    """The plan of a resumed run in parts: the saved run's parts. Tiles the planner would now cut
    otherwise (another memory budget, say) are taken as saved; crops must be the same."""
    saved = [tuple(int(v) for v in r) for r in resume["run"].get("regions", [])]
    damaged = JobError("the saved run state is damaged (its parts do not match its tiles): start the run again")
    if len(saved) < 2:
        raise damaged
    for part in resume["parts"]:
        i = int(part["index"])
        if not 0 <= i < len(saved):
            raise damaged
        t, l, b, r = saved[i]
        if any(k in part and tuple(part[k].shape[:2]) != (b - t, r - l) for k in ("image", "confidence")):
            raise damaged
    note = (f"Continuing the saved run: {len(resume['parts'])} of {len(saved)} parts are done, "
            f"the others start again.")
    if pl.regions != saved:
        if not job.physics().tiles:
            raise JobError("the saved run fitted other crops than this run would: start a new run")
        s = job.physics().scale
        pl = replace(pl, regions=saved, tiles=[tuple(v // s for v in r) for r in saved], tile=None, overlap=None,
                     error=None, notes=[f"Fitting the {len(saved)} tiles of the saved run."])
    pl.notes.insert(0, note)
    return pl


def _kept(job: Job, step: Step, what_parts: str = "") -> None:
    """Mark `step` as ending with the classical answer: a plain sentence for the user."""
    ph = job.physics()
    key, what = ph.kept
    step.extra["kept"] = key
    if step.stopped_by == "user":
        why = f"Stopped at iteration {step.iteration}: too early to be useful"
    else:
        why = f"The run ended at iteration {step.iteration} before its result beat {what}"
    step.extra["kept_message"] = f"{why}; {what} is kept{what_parts}{ph.kept_how}."


def _preview(region: Region, image: np.ndarray, total: int) -> Step:
    """The frame shown before the first iteration: the classical answer."""
    return Step(0, total, float("nan"), 0.0, 0.0, None, image, region=region, progress=0.0, usable=False)


def _run_single(job: Job, pl: Plan, preset: presets.Preset, control: Control, fit_kw: dict,
                resume: dict | None = None) -> Iterator[Step]:
    region = pl.regions[0]
    pixels, ph = job.photo.pixels, job.physics()
    problem, classic = ph.part(pixels, region)

    def composite(img: np.ndarray) -> np.ndarray:
        return ph.composite(pixels, region, img)

    if resume is None:   # a resumed run goes on showing where it was
        yield _preview(region, composite(classic), preset.iterations)
    kw = {} if resume is None else {"resume": resume}
    ident = None
    try:
        steps = fit(problem, preset, iterations=preset.iterations, control=control, **fit_kw, **kw)
        first = next(steps, None)
    except (KeyError, ValueError, TypeError, RuntimeError) as e:  # a checkpoint of another network
        if resume is None or isinstance(e, torch.OutOfMemoryError) or "out of memory" in str(e).lower():
            raise
        raise JobError(f"the saved run state does not fit these settings ({type(e).__name__}: "
                       f"{str(e).strip().splitlines()[0][:120] if str(e).strip() else ''}): "
                       "start a new run") from None
    for step in _chain(first, steps):
        step.region = region
        if step.checkpoint is not None:
            ident = ident or run_identity(job, region)
            step.checkpoint["run"] = dict(ident)
        if step.done and (step.image is None or not step.usable):
            step.image, step.usable, step.result_iteration = classic, False, None
            step.confidence = None   # the classical answer: no fit to be unsure about
            _kept(job, step)
        if step.done:
            step.image = ph.finish(pixels, region, step.image)
        if step.image is not None:
            step.image = composite(step.image)
        if step.done:
            step.extra.setdefault("kept", None)
            step.result = compose(job, step.image, region)
        yield step


def _chain(first, rest):
    if first is not None:
        yield first
        yield from rest


class _Tiles:
    """Overlapping tiles (denoise, JPEG, SR, thin marks to fill): the whole output is the
    classical answer with each tile's change blended in by raised-cosine weights that sum to 1,
    so seams do not show. A tile fitted several times (`Preset.fits`) is one region here: its
    image is the mean of its fits' (`_run_parts`)."""

    def __init__(self, job: Job, pl: Plan):
        W, H = output_size(job)
        at = {r: g for g, r in enumerate(dict.fromkeys(tuple(r) for r in pl.regions))}
        self.regions = list(at)
        self.of = [at[tuple(r)] for r in pl.regions]   # part -> its region (a dict: ~2000 parts at 12 MP)
        ph = job.physics()
        self.base = ph.classical(job.photo.pixels, whole(H, W))
        self.weights = regions.weights(self.regions, H, W)
        # inpainting: a tile changes its marks only (elsewhere the base is the photo)
        self.composite, self.pixels = ph.composite, job.photo.pixels

    def put(self, out: np.ndarray, i: int, image: np.ndarray, old: np.ndarray | None = None) -> None:
        """Blend tile i's `image` into `out`, in place of its `old` image if `out` holds one."""
        t, l, b, r = region = self.regions[i]
        image = self.composite(self.pixels, region, image)
        old = self.base[t:b, l:r] if old is None else self.composite(self.pixels, region, old)
        out[t:b, l:r] += self.weights[i][..., None] * (image - old)

    def take(self, out: np.ndarray, i: int, old: np.ndarray) -> None:
        """Take tile i's `old` image out of `out` again."""
        t, l, b, r = region = self.regions[i]
        out[t:b, l:r] -= self.weights[i][..., None] * (self.composite(self.pixels, region, old) - self.base[t:b, l:r])

    def confidence(self, maps: dict[int, np.ndarray], size: tuple[int, int]) -> np.ndarray | None:
        return confidence.mosaic(maps, self.regions, size, weights=self.weights)


class _Crops:
    """Separate crops around groups of marks (inpainting): the photo with each crop's classical
    fill, and each crop's own marks pasted from its fit."""

    def __init__(self, job: Job, pl: Plan):
        ph, pixels = job.physics(), job.photo.pixels
        self.regions = pl.regions
        self.of = list(range(len(pl.regions)))   # part -> its region: each crop is fitted once
        self.fills = pl.masks if pl.masks is not None else [job.mask[t:b, l:r] for t, l, b, r in pl.regions]
        self.base = pixels.copy()
        for i, region in enumerate(self.regions):   # the first frame: every crop's classical fill
            self.put(self.base, i, ph.classical(pixels, region))

    def put(self, out: np.ndarray, i: int, image: np.ndarray, old: np.ndarray | None = None) -> None:
        t, l, b, r = self.regions[i]
        out[t:b, l:r][self.fills[i]] = image[self.fills[i]]

    def take(self, out: np.ndarray, i: int, old: np.ndarray) -> None:
        t, l, b, r = self.regions[i]
        out[t:b, l:r][self.fills[i]] = self.base[t:b, l:r][self.fills[i]]

    def confidence(self, maps: dict[int, np.ndarray], size: tuple[int, int]) -> np.ndarray | None:
        return confidence.mosaic(maps, self.regions, size, fills=self.fills)


def _run_parts(job: Job, pl: Plan, preset: presets.Preset, control: Control, fit_kw: dict,
               layout: _Tiles | _Crops, resume: dict | None = None) -> Iterator[Step]:
    """Fit tiles or separate crops, on every core at once where there are cores and memory for
    it (`parallel`), and put them together as `layout` (`_Tiles` or `_Crops`) says.

    The total is fixed at the start (every part's budget) and `progress` counts a part that
    auto-stops as whole, so the bar never jumps back. A part stopped before its result was
    usable, and every part not reached, keeps the classical answer.

    The checkpoint (on request when a part has ended since the last one, and on the last Step)
    holds the parts that ran to their end; `resume` takes them back and fits the others from
    the start, so a resumed run gives what one never interrupted gives."""
    W, H = output_size(job)
    n, per = len(pl.regions), preset.iterations
    total = n * per
    images: dict[int, np.ndarray] = {}   # each part's latest image (dropped when it ends unusable)
    maps: dict[int, np.ndarray] = {}     # ... and its confidence map
    iters, ended, reasons = [0] * n, {}, {}   # iterations per part; ended parts' last iteration and stop reason
    # The frame so far, updated one part at a time: composing a 12 MP photo of ~1000 tiles afresh
    # took about a second, as long as the tiles take to send their next previews.
    canvas = layout.base.copy()
    next_frame = 0.0
    # A region fitted several times (Preset.fits) shows the mean of its fits that ran to their
    # end, or while none has, the latest image of those under way: a fit just started, or one
    # the user stopped early, would pull a finished one back towards a blur.
    fits_of: dict[int, list[int]] = {}
    for i, g in enumerate(layout.of):
        fits_of.setdefault(g, []).append(i)

    def mean(g: int, of: dict[int, np.ndarray]) -> np.ndarray | None:
        have = [j for j in fits_of[g] if j in of]
        use = [of[j] for j in have if j in ended and reasons[j] != "user"] or [of[j] for j in have]
        return None if not use else use[0] if len(use) == 1 else sum(use) / np.float32(len(use))

    def changing(i: int):
        """Call before part i's image or state changes; the function returned redraws its region after."""
        g = layout.of[i]
        old = mean(g, images)

        def redraw() -> None:
            new = mean(g, images)
            if new is not None:
                layout.put(canvas, g, new, old)
            elif old is not None:
                layout.take(canvas, g, old)
        return redraw

    def show(i: int, image: np.ndarray) -> None:
        redraw = changing(i)
        images[i] = image
        redraw()

    def confidence_map() -> np.ndarray | None:
        return layout.confidence({g: m for g in fits_of if (m := mean(g, maps)) is not None}, (H, W))

    def frame() -> tuple[np.ndarray | None, np.ndarray | None]:
        """The frame and its confidence map, or Nones while frames would take more than
        FRAME_SHARE of the run's time (big photos)."""
        nonlocal next_frame
        t = time.perf_counter()
        if t < next_frame:
            return None, None
        out = canvas.copy(), confidence_map()
        spent = time.perf_counter() - t
        next_frame = t + spent / FRAME_SHARE if spent > FRAME_FREE_S else 0.0
        return out

    def picture() -> np.ndarray:
        """The image composed afresh, free of the canvas's rounding."""
        out = layout.base.copy()
        for g in fits_of:
            if (img := mean(g, images)) is not None:
                layout.put(out, g, img)
        return out

    for part in (resume or {}).get("parts", []):   # parts of the saved run that ran to their end
        i = int(part["index"])
        iters[i] = ended[i] = int(part["iteration"])
        reasons[i] = part["stopped_by"]
        if "image" in part:
            show(i, part["image"])
        if "confidence" in part:
            maps[i] = part["confidence"]
    ident = None
    saved = len(ended)   # parts kept by the last checkpoint

    def checkpoint() -> dict:
        nonlocal ident, saved
        if ident is None:
            ident = run_identity(job, whole(H, W)) | {"regions": [list(r) for r in pl.regions]}
        saved = sum(reasons[i] != "user" for i in ended)
        parts = []
        for i in sorted(ended):
            if reasons[i] != "user":   # a part the user stopped is fitted again from the start
                part = {"index": i, "iteration": ended[i], "stopped_by": reasons[i]}
                part.update({"image": images[i]} if i in images else {})
                part.update({"confidence": maps[i]} if i in maps and i in images else {})
                parts.append(part)
        return {"parts": parts, "iteration": sum(p["iteration"] for p in parts), "run": dict(ident)}

    todo, resumed = [i for i in eta.order(n) if i not in ended], sum(iters)
    workers, threads = parallel.plan_workers(len(todo), fit_kw["device"], pl.estimate_bytes, pl.budget_bytes,
                                             job.workers, job.threads)
    notes = [f"Fitting {workers} parts at a time, {threads} thread{'s' if threads != 1 else ''} each."] \
        if workers > 1 else []
    first = _preview(whole(H, W), picture(), total)
    first.extra["notes"] = notes
    if resume is not None:
        first = replace(first, iteration=sum(iters), progress=len(ended) / n, usable=bool(images))
    yield first
    pixels, ph = job.photo.pixels, job.physics()
    problems = [ph.part(pixels, pl.regions[i])[0] for i in todo]
    part_seeds = seeds(pl.regions, fit_kw["seed"])
    t0 = time.perf_counter()
    stream = parallel.fit_parts(problems, preset, workers=workers, threads=threads, control=control,
                                iterations=per, **fit_kw | {"seed": [part_seeds[i] for i in todo]})
    last, started = first, None
    for j, step in stream:
        i = todo[j]
        iters[i] = step.iteration
        started = started or (time.perf_counter() - t0, sum(iters))
        if step.image is not None or step.done:
            redraw = changing(i)
            if step.image is not None:
                images[i] = step.image
            if step.done:
                ended[i], reasons[i] = step.iteration, step.stopped_by
                if step.image is None or not step.usable:
                    images.pop(i, None)
                    maps.pop(i, None)
            redraw()
        if step.confidence is not None and i in images:
            maps[i] = step.confidence
        # one in-process fit takes the request itself and answers with its own state: ours instead
        asked = control.take_checkpoint_request() or (step.checkpoint is not None and not step.done)
        image, conf = frame() if step.done or step.image is not None else (None, None)
        last = _parts_step(step, i, n, per, iters, ended, t0, preset, fit_kw["auto_stop"] and preset.auto_stop,
                           workers, image, pl, (H, W), resumed, started)
        last.confidence = conf
        if asked and sum(reasons[k] != "user" for k in ended) > saved:
            last.checkpoint = checkpoint()
        yield last
    # a part is unfinished when no fit of its region ran to its end with a result
    unfinished = [i for i in range(n) if not any(j in ended and j in images for j in fits_of[layout.of[i]])]
    # a Stop that came before some part reported (even before the first) is the user's too
    stopped_by = "user" if "user" in reasons.values() or (control.stopped and len(ended) < n) else \
        "auto" if "auto" in reasons.values() else "iterations"
    image = ph.finish(pixels, whole(H, W), picture())
    out = replace(last, iteration=sum(iters), done=True, stopped_by=stopped_by, eta_s=None, eta_range=None,
                  progress=1.0, image=image, usable=not unfinished, result_iteration=None,
                  checkpoint=checkpoint())
    out.extra = {"part": n - 1, "parts": n, "tiled": pl.tiled, "kept": None, "unfinished_parts": unfinished}
    if unfinished:
        which = "all parts" if len(unfinished) == n else \
            f"part{'s' if len(unfinished) > 1 else ''} {', '.join(str(k + 1) for k in unfinished)} of {n}"
        _kept(job, out, f" in {which}")
    out.confidence = confidence_map()
    out.result = compose(job, out.image, whole(H, W))
    yield out


def _parts_step(step: Step, i: int, n: int, per: int, iters: list, ended: dict, t0: float,
                preset: presets.Preset, stops: bool, workers: int, image, pl: Plan, size: tuple[int, int],
                resumed: int = 0, started: tuple[float, int] | None = None) -> Step:
    """The whole run's Step from part i's: iterations, time and progress summed over the parts
    (`resumed`: the iterations of parts taken from a checkpoint, fitted before `t0`; `started`:
    the seconds and iterations at the first reported step, as `eta.estimate` takes them)."""
    H, W = size
    it = sum(iters)
    wall = time.perf_counter() - t0
    left = eta.estimate(iters, ended, per, eta.prior(preset, per, stops), workers, wall, resumed, started)
    fraction = eta.progress(iters, ended, per)
    return replace(step, iteration=it, total=n * per, elapsed_s=wall, s_per_iter=wall / max(it - resumed, 1),
                   eta_s=left.mid, eta_range=(left.soon, left.late), progress=min(fraction, 0.999),
                   image=image, usable=step.usable, result_iteration=None, done=False, stopped_by=None,
                   peak_iteration=None, checkpoint=None, region=whole(H, W),
                   extra={"part": i, "parts": n, "parts_done": len(ended), "tiled": pl.tiled, "workers": workers})


def _oom_message(dev: torch.device, region: Region) -> str:
    t, l, b, r = region
    hint = "try a smaller region or tile, fewer channels or the 'fast' preset" + \
        (", or the CPU (device cpu)" if dev.type != "cpu" else "")
    return f"out of memory on {dev.type} fitting {r - l}x{b - t} pixels: {hint}"


def compose(job: Job, image: np.ndarray, region: Region) -> Photo:
    """A full-resolution Photo from a (composited) region image: only fitted pixels change."""
    return job.physics().compose(job.photo, image, region)


def metadata(job: Job, step: Step) -> dict[str, str]:
    """The settings that reproduce a result, written into the saved file."""
    p = job.settings()
    d = {
        "dip:software": f"DIP Studio {__version__}",
        "dip:task": job.task,
        "dip:preset": job.preset,
        "dip:seed": str(job.seed),
        "dip:iterations": str(step.iteration),
        "dip:result_iteration": str(step.result_iteration) if step.result_iteration else "none",
        "dip:max_iterations": str(p.iterations),
        "dip:stopped_by": str(step.stopped_by),
        "dip:stop": job.stop,
        "dip:lr": str(p.lr),
        "dip:channels": str(p.channels),
        "dip:date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if job.task == "sr":
        d["dip:scale"] = str(job.scale)
    if step.extra.get("kept"):
        d["dip:kept"] = str(step.extra["kept"])
    if p.fits > 1:
        d["dip:fits"] = str(p.fits)
    parts = step.extra.get("parts", 1)
    if parts > 1:
        d["dip:parts"] = str(parts)
        if step.extra.get("tiled"):
            d["dip:tile"] = str(job.tile) if job.tile else "auto"
    return d
