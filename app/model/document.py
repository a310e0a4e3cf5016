"""The document: the photo being restored and everything that belongs to it. Qt-free.

A window has one `Document`. Views and the project manager observe it through plain callbacks
(`on(event, fn)`), as napari's `ViewerModel` keeps viewer state out of Qt, and change it through
its methods. Events, in the order a listener may rely on:

- "settings": the task settings changed (`set_settings`, or `load` with settings)
- "photo": a photo or project was loaded: every attribute may be new
- "mask": fn(bbox) - the mask changed (bbox None: anywhere), as `MaskModel` reports it
- "history": fn(added, dropped) - a snapshot was added; `dropped` left to respect the cap, or None
- "result": the result, which snapshot or variation it is, its confidence map, or whether it
  is saved changed
- "run": the job, the run's checkpoint or its state changed
- "variations": the variations (the job with other seeds) were replaced
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Callable

import numpy as np

from app.model.confidence import at_size
from app.model.display import DisplayConverter, region_thumbnail, screen_image, thumbnail
from app.model.history import History, Snapshot
from app.model.mask import MaskModel
from app.model.task import TaskSettings
from app.model.variations import Variation

EVENTS = ("settings", "photo", "mask", "history", "result", "run", "variations")
RESUMABLE = ("running", "paused", "user")   # run states that a checkpoint can continue


class Document:
    """Photo, mask, settings, history, job, result and saved state of one window."""

    def __init__(self, settings: TaskSettings | None = None):
        self._listeners: dict[str, list[Callable]] = defaultdict(list)
        self.settings = settings or TaskSettings()
        self.photo = None                    # imageio.Photo
        self.path: str | None = None         # the photo's file: never overwritten without asking
        self.name = ""                       # what the title bar says
        self.converter = DisplayConverter(None)
        self.display: np.ndarray | None = None   # the photo as 8-bit sRGB for the screen
        self.thumb: np.ndarray | None = None     # the photo in the filmstrip
        self.mask: MaskModel | None = None
        self.history = History()
        self.job = None                      # the job of the run whose history and result these are
        self.outcome = None                  # the last run's worker Outcome
        self.result = None                   # imageio.Photo, full resolution
        self.result_snapshot: Snapshot | None = None   # the snapshot made the result (None: the run's end)
        self.result_meta: dict = {}
        self.result_saved = True
        self.confidence: np.ndarray | None = None   # the result's confidence map (float32, its size)
        self.variations: list[Variation] = []    # the job with other seeds
        self.chosen: int | None = None           # the variation that is the result, if one is
        self.checkpoint: dict | None = None  # the newest state of the run, to continue it
        self.run_state: str | None = None    # "running" | "paused" | a finished run's stopped_by
        self.resume_next = False             # Restore continues the saved run (after opening one)
        self.project_path: str | None = None  # the .dipproj this was opened from or saved to

    # ------------------------------------------------------------------ observers
    def on(self, event: str, fn: Callable) -> None:
        """Call `fn` after every `event` (see the module docstring for the arguments)."""
        if event not in EVENTS:
            raise ValueError(f"unknown document event {event!r}")
        self._listeners[event].append(fn)

    def _emit(self, event: str, *args) -> None:
        for fn in list(self._listeners[event]):
            fn(*args)

    # ------------------------------------------------------------------ derived
    @property
    def out_scale(self) -> int:
        """Output pixels per photo pixel: the SR factor of the document's job, else 1."""
        if self.job is not None and getattr(self.job, "task", "") == "sr":
            return int(getattr(self.job, "scale", 1) or 1)
        return 1

    @property
    def out_size(self) -> tuple[int, int]:
        """(width, height) of the result."""
        s = self.out_scale
        return (self.photo.width * s, self.photo.height * s) if self.photo is not None else (0, 0)

    def snapshot(self, iteration: int, loss, image: np.ndarray, region, final: bool = False,
                 confidence: np.ndarray | None = None) -> Snapshot:
        """A history snapshot of an output `image` covering `region` (top, left, bottom, right)
        and its region-sized confidence map, if any."""
        disp = screen_image(self.converter, image)
        region = tuple(int(v) for v in region)
        return Snapshot(int(iteration), loss, image.astype(np.float16), region, disp,
                        region_thumbnail(self.thumb, disp, region, self.out_size), final=bool(final),
                        confidence=None if confidence is None else confidence.astype(np.float16))

    def variation(self, index: int, seed: int, result, metadata: dict | None = None,
                  confidence: np.ndarray | None = None, kept: str | None = None, display=None) -> Variation:
        """A variation of the job for the screen (its result converted like the photo, unless
        `display` was made already)."""
        disp = screen_image(self.converter, result.data) if display is None else display
        return Variation(int(index), int(seed), result, dict(metadata or {}), confidence, disp,
                         thumbnail(disp), kept)

    @property
    def result_iteration(self) -> int | None:
        """The iteration of the snapshot made the result, or None (the run's own end)."""
        return None if self.result_snapshot is None else self.result_snapshot.iteration

    @property
    def checkpoint_iteration(self) -> int | None:
        return None if self.checkpoint is None else int(self.checkpoint.get("iteration", 0))

    @property
    def unsaved_result(self) -> bool:
        return self.result is not None and not self.result_saved

    # ------------------------------------------------------------------ changes
    def load(self, photo, path: str | None = None, name: str | None = None, *, display=None,
             settings: TaskSettings | None = None, mask: np.ndarray | None = None, job=None, history=(),
             result=None, result_meta: dict | None = None, result_iteration: int | None = None,
             result_saved: bool = True, checkpoint: dict | None = None, run_state: str | None = None,
             project_path: str | None = None, confidence: np.ndarray | None = None,
             variations=(), chosen: int | None = None) -> None:
        """Replace the document: a photo (and, from a project, everything saved with it).
        `history` holds (iteration, loss, image, region, final) of an earlier run of `job`;
        `display` is the photo for the screen when it was made already (off the GUI thread);
        `variations` holds (seed, result, metadata, confidence) and `chosen` the one that is the
        result; `confidence` is the result's map."""
        if settings is not None:
            self.set_settings(settings)
        self.photo = photo
        self.path = str(Path(path).resolve()) if path else None
        self.name = name or (Path(path).name if path else "Untitled")
        self.converter = DisplayConverter(getattr(photo, "icc_profile", None))
        self.display = self.converter(photo.data, None) if display is None else display
        self.thumb = thumbnail(self.display)
        self.mask = MaskModel(photo.width, photo.height)
        if mask is not None and mask.any():
            self.mask.set_mask(mask, "Restore mask")
        self.mask.add_listener(lambda bbox: self._emit("mask", bbox))
        self.job = job
        self.history.clear()
        for item in history:
            self.history.add(self.snapshot(*item))
        if len(self.history):
            self.history.policy.wants(self.history[-1].iteration)   # new snapshots come after these
        self.outcome = None
        self.result = result
        self.result_meta = dict(result_meta or {})
        self.result_saved = result is None or bool(result_saved)
        self.result_snapshot = None if result is None or result_iteration is None else \
            next((s for s in self.history if s.iteration == result_iteration), None)
        self.confidence = None if result is None else confidence
        self.variations = [self.variation(i, *v) for i, v in enumerate(variations)]
        self.chosen = chosen if result is not None and chosen is not None and 0 <= chosen < len(self.variations) \
            else None
        self.checkpoint = checkpoint
        self.run_state = run_state or ("user" if checkpoint is not None else None)
        self.resume_next = checkpoint is not None and self.run_state in RESUMABLE
        self.project_path = project_path
        self._emit("photo")

    def set_settings(self, settings: TaskSettings) -> None:
        if settings != self.settings:
            self.settings = settings
            self._emit("settings")

    def start_run(self, job, resume: bool) -> None:
        """A run of `job` starts; it continues the history (and checkpoint) when `resume`."""
        self.job = job
        if not resume:
            self.history.clear()
            self.checkpoint = None                # a fresh run: the old state is history
        self.run_state = "running"
        self.resume_next = False
        self.outcome = None
        self._set_result(None, None, {}, True)
        self._emit("run")

    def add_snapshot(self, snap: Snapshot) -> None:
        dropped = self.history.add(snap)
        self._emit("history", snap, dropped)

    def set_run_state(self, state: str | None = None, checkpoint: dict | None = None) -> None:
        """The run paused, resumed, stopped or handed over its state (`checkpoint`)."""
        if checkpoint is not None:
            self.checkpoint = checkpoint
        if state is not None:
            self.run_state = state
        self._emit("run")

    def finish_run(self, outcome) -> None:
        """The run ended: its outcome (worker `Outcome`) holds the result, or None."""
        self.outcome = outcome
        if outcome.checkpoint is not None:
            self.checkpoint = outcome.checkpoint
        self.run_state = outcome.stopped_by or "finished"
        self._set_result(outcome.result, None, dict(outcome.metadata or {}), outcome.result is None,
                         getattr(outcome, "confidence", None))
        self._emit("run")

    def fail_run(self) -> None:
        self.run_state = "failed" if self.checkpoint is None else "user"
        self._emit("run")

    def make_result(self, snap: Snapshot, photo) -> None:
        """`photo` (the full-resolution picture of `snap`) becomes the result, not yet saved."""
        meta = dict(self.result_meta)
        if meta:
            meta["dip:iterations"] = str(snap.iteration)
            meta["dip:stopped_by"] = "snapshot"
        conf = None if snap.confidence is None else at_size(snap.confidence, snap.region, (photo.width, photo.height))
        self._set_result(photo, snap, meta, False, conf)

    def set_variations(self, variations: list[Variation]) -> None:
        """New variations of the job (the result stays what it was)."""
        self.variations = list(variations)
        for i, v in enumerate(self.variations):
            v.index = i
        if self.chosen is not None:
            self.chosen = None
            self._emit("result")
        self._emit("variations")

    def choose_variation(self, index: int) -> None:
        """Variation `index` becomes the result (with its recipe and map), not yet saved."""
        if not 0 <= index < len(self.variations):
            raise ValueError(f"there is no variation {index + 1}: there are {len(self.variations)}")
        v = self.variations[index]
        self._set_result(v.result, None, dict(v.metadata), False, v.confidence, index)

    def mark_saved(self) -> None:
        """The result was written to a file (or a project)."""
        if self.result is not None and not self.result_saved:
            self.result_saved = True
            self._emit("result")

    def saved_as_project(self, path: str) -> None:
        self.project_path = str(Path(path).resolve())
        self.mark_saved()

    def _set_result(self, result, snap, meta: dict, saved: bool, confidence=None, chosen=None) -> None:
        self.result, self.result_snapshot, self.result_meta, self.result_saved = result, snap, meta, saved
        self.confidence = None if result is None else confidence
        self.chosen = chosen
        self._emit("result")
