"""One restoration job from photo to result: the layer the CLI and the GUI both call.

It validates the job, chooses the region to fit, runs `fit.fit`, composites every preview
into the photo (known pixels stay original) and, on the final step, builds the faithful
full-resolution result: samples outside the mask are copied bit for bit from the input.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Iterator

import numpy as np
import torch

from . import __version__, device as devices, presets
from .fit import Control, Problem, Step, fit
from .imageio import Photo
from .operators import Downsample, Identity
from .regions import Region, crop_around, whole

__all__ = ["Job", "JobError", "RunError", "Control", "Step", "check", "run", "compose", "output_size",
           "metadata"]

SCALES = range(2, 9)


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
    threads: int | None = None
    lr: float | None = None
    channels: int | None = None      # network width override
    preview_every: int = 10

    def settings(self) -> presets.Preset:
        """The preset with this job's overrides applied."""
        p = presets.get(self.task, self.preset)
        if self.channels:
            p = replace(p, channels=self.channels)
        if self.iters:
            p = replace(p, iterations=self.iters)
        if self.lr:
            p = replace(p, lr=self.lr)
        return p


def check(job: Job) -> None:
    """Raise JobError (one line) when the job cannot run."""
    if job.task not in presets.TASKS:
        raise JobError(f"unknown task '{job.task}': choose one of {', '.join(presets.TASKS)}")
    try:
        presets.get(job.task, job.preset)
        devices.pick(job.device)
    except ValueError as e:
        raise JobError(str(e)) from None
    if job.stop not in ("auto", "never"):
        raise JobError(f"stop must be 'auto' or 'never', not '{job.stop}'")
    if job.iters is not None and job.iters < 1:
        raise JobError(f"iterations must be at least 1, not {job.iters}")
    if job.threads is not None and job.threads < 1:
        raise JobError(f"threads must be at least 1, not {job.threads}")
    if job.task == "sr" and job.scale not in SCALES:
        raise JobError(f"scale must be a whole number from 2 to 8, not {job.scale}")
    if job.task != "sr" and job.scale != 1:
        raise JobError(f"scale applies to super-resolution only, not to {job.task}")
    if job.task == "inpaint":
        if job.mask is None:
            raise JobError("inpainting needs a mask: paint one, or give --mask (white = fill)")
        if job.mask.shape != (job.photo.height, job.photo.width):
            mh, mw = job.mask.shape
            raise JobError(f"the mask is {mw}x{mh} but the photo is {job.photo.width}x{job.photo.height}: "
                           "they must be the same size")
        if not job.mask.any():
            raise JobError("the mask is empty: paint (white) over the parts to fill")
        if job.mask.all():
            raise JobError("the mask covers the whole photo: nothing is left to learn from")


def output_size(job: Job) -> tuple[int, int]:
    """(width, height) of the result."""
    s = job.scale if job.task == "sr" else 1
    return job.photo.width * s, job.photo.height * s


def fit_region(job: Job) -> Region:
    """The part of the output that is fitted: a crop around the mask, or everything."""
    w, h = output_size(job)
    if job.task == "inpaint" and job.settings().region:
        return crop_around(job.mask, job.settings().margin)
    return whole(h, w)


def _tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None].float()


def run(job: Job, control: Control | None = None) -> Iterator[Step]:
    """Fit and yield Steps whose `image` is composited into the fitted region; the last step has
    done=True and `result`, a full-resolution Photo ready for imageio.save_image."""
    check(job)
    preset = job.settings()
    dev = devices.pick(job.device)
    devices.set_threads(job.threads)
    t, l, b, r = region = fit_region(job)
    pixels = job.photo.pixels
    known = None
    if job.task == "inpaint":
        known = ~job.mask[t:b, l:r]
        obs = pixels[t:b, l:r]
        problem = Problem(_tensor(obs * known[..., None]), Identity(), (b - t, r - l),
                          weight=torch.from_numpy(known.astype(np.float32))[None, None])
    elif job.task == "sr":
        problem = Problem(_tensor(pixels), Downsample(job.scale), (b - t, r - l))
    else:
        problem = Problem(_tensor(pixels), Identity(), (b - t, r - l))

    def composite(img: np.ndarray) -> np.ndarray:
        return np.where(known[..., None], pixels[t:b, l:r], img) if known is not None else img

    try:
        for step in fit(problem, preset, iterations=preset.iterations, seed=job.seed,
                        auto_stop=job.stop == "auto", preview_every=job.preview_every,
                        control=control, device=dev):
            step.region = region
            if step.image is not None:
                step.image = composite(step.image)
            if step.done:
                step.result = compose(job, step.image, region)
            yield step
    except torch.OutOfMemoryError:
        raise RunError(_oom_message(job, dev)) from None
    except RuntimeError as e:
        if "allocate" in str(e) or "out of memory" in str(e).lower():
            raise RunError(_oom_message(job, dev)) from None
        raise


def _oom_message(job: Job, dev: torch.device) -> str:
    t, l, b, r = fit_region(job)
    hint = "try the 'fast' preset, a smaller region" + (", or the CPU (--device cpu)" if dev.type != "cpu" else "")
    return f"out of memory on {dev.type} fitting {r - l}x{b - t} pixels: {hint}"


def _quantise(img: np.ndarray, dtype: np.dtype) -> np.ndarray:
    top = np.iinfo(dtype).max
    return np.clip(np.rint(img.astype(np.float64) * top), 0, top).astype(dtype)


def compose(job: Job, image: np.ndarray, region: Region) -> Photo:
    """A full-resolution Photo from a (composited) region image: only fitted pixels change."""
    photo = job.photo
    t, l, b, r = region
    c = photo.color_channels
    if job.task == "inpaint":
        data = photo.data.copy()
        fill = job.mask[t:b, l:r]
        sub = data[t:b, l:r]
        sub[fill, :c] = _quantise(image, data.dtype)[fill]
        return photo.with_data(data)
    if job.task == "sr":  # a new size: alpha is resized and DPI scaled to keep the print size
        return Photo.from_float(image, like=photo)
    data = photo.data.copy()
    data[..., :c] = _quantise(image, data.dtype)
    return photo.with_data(data)


def metadata(job: Job, step: Step) -> dict[str, str]:
    """The settings that reproduce a result, written into the saved file."""
    p = job.settings()
    d = {
        "dip:software": f"DIP Studio {__version__}",
        "dip:task": job.task,
        "dip:preset": job.preset,
        "dip:seed": str(job.seed),
        "dip:iterations": str(step.iteration),
        "dip:max_iterations": str(p.iterations),
        "dip:stopped_by": str(step.stopped_by),
        "dip:stop": job.stop,
        "dip:lr": str(p.lr),
        "dip:channels": str(p.channels),
        "dip:date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if job.task == "sr":
        d["dip:scale"] = str(job.scale)
    return d
