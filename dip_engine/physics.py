"""Each task's observation model as one object: what the fit compares with the photo, the answer
shown before the network has anything better, and how a result goes back into the photo.

A `Physics` owns, for its task:
- the problem of one output region (`part`): the observation, the forward operator that maps the
  clean estimate to it (`operators`), the weight of each pixel in the loss, when a result is
  usable (`classical.usable_mse`) and, for denoising, the auto-stop gate;
- the classical answer there (`classical`): the first frame, and what a run too young keeps;
- which pixels a frame may change (`composite`), what a result gets once fitted (`finish`) and
  the full-resolution result (`compose`);
- its checks (`check`) and how a photo too large for memory is split (`tiles`).

`of(task, scale=, mask=)` makes the one for a job; a new task is a new class in `PHYSICS`.
"""
from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch

from . import classical, stopping
from .fit import Problem
from .imageio import Photo, to_samples
from .noise import estimate_sigma
from .operators import Downsample, Identity
from .regions import Region

SCALES = range(2, 9)


class Physics:
    """The observation is the clean photo plus damage (identity operator); subclasses say more."""

    task: ClassVar[str]
    kept: ClassVar[tuple[str, str]] = ("original", "the original")  # its classical answer: key, words
    kept_how: ClassVar[str] = ""   # what `finish` does to a kept classical answer, in words
    tiles: ClassVar[bool] = True  # too large for memory: overlapping tiles (False: crops around the mask)
    gated: ClassVar[bool] = False  # auto-stop waits until the residual reaches the noise power
    scale: int = 1
    mask: np.ndarray | None = None

    def __init__(self, scale: int = 1, mask: np.ndarray | None = None):
        """`scale`: the SR factor (1 for the others); `mask`: inpainting's marks (others ignore it)."""
        self.scale = scale

    def check(self, photo: Photo) -> None:
        """Raise ValueError (one line) when these physics cannot apply to `photo`."""
        if self.scale != 1:
            raise ValueError(f"scale applies to super-resolution only, not to {self.task}")

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) of the result for a photo of this size."""
        return width * self.scale, height * self.scale

    def observation(self, pixels: np.ndarray, region: Region) -> np.ndarray:
        """The photo's samples that output `region` is fitted to."""
        t, l, b, r = (v // self.scale for v in region)
        return pixels[t:b, l:r]

    def classical(self, pixels: np.ndarray, region: Region) -> np.ndarray:
        """The classical answer on output `region` (region-sized, known pixels as in the photo)."""
        return self.observation(pixels, region)

    def part(self, pixels: np.ndarray, region: Region) -> tuple[Problem, np.ndarray]:
        """The fit of output `region` and the classical answer there."""
        obs = self.observation(pixels, region)
        sigma = estimate_sigma(obs) if self.gated else None
        return Problem(tensor(obs), Identity(), _size(region), usable_mse=classical.usable_mse(self.task, obs),
                       stop_gate_mse=stopping.GATE * sigma ** 2 if self.gated else None, noise_sigma=sigma), obs

    def composite(self, pixels: np.ndarray, region: Region, image: np.ndarray) -> np.ndarray:
        """A region's frame as shown: every pixel the fit may change comes from `image`."""
        return image

    def finish(self, pixels: np.ndarray, region: Region, image: np.ndarray) -> np.ndarray:
        """The result of output `region` from a finished run's `image` (network output, the
        classical answer, or both)."""
        return image

    def compose(self, photo: Photo, image: np.ndarray, region: Region) -> Photo:
        """A full-resolution Photo from a composited region image: only fitted samples change."""
        data = photo.data.copy()
        data[..., :photo.color_channels] = to_samples(image, data.dtype)
        return photo.with_data(data)


class Denoise(Physics):
    """Denoising: the observation is the clean photo plus sensor noise."""

    task = "denoise"
    gated = True


class Jpeg(Physics):
    """JPEG clean-up: the observation is the clean photo plus blocking and ringing."""

    task = "jpeg"


class SuperResolution(Physics):
    """Super-resolution: the observation is the clean photo blurred (Lanczos-2) and decimated."""

    task = "sr"
    kept = ("lanczos", "the Lanczos upscale")
    kept_how = ", back-projected onto your photo once"

    def check(self, photo: Photo) -> None:
        if self.scale not in SCALES:
            raise ValueError(f"scale must be a whole number from 2 to 8, not {self.scale}")

    def classical(self, pixels: np.ndarray, region: Region) -> np.ndarray:
        t, l, b, r = region
        return classical.lanczos_upscale(self.observation(pixels, region), r - l, b - t)

    def part(self, pixels: np.ndarray, region: Region) -> tuple[Problem, np.ndarray]:
        obs = self.observation(pixels, region)
        up = self.classical(pixels, region)
        usable = classical.usable_mse(self.task, obs, downsample=self.downsample, upscaled=up)
        return Problem(tensor(obs), Downsample(self.scale), _size(region), usable_mse=usable), up

    def finish(self, pixels: np.ndarray, region: Region, image: np.ndarray) -> np.ndarray:
        # network results: +0.11 to +0.21 dB at 4x on zebra, street and lighthouse; the Lanczos
        # upscale: +0.02 dB or more on each of the 12 validation photos at 2x, 4x and 8x, however
        # the small photo was made (bench/README.md, "Back-projection for SR")
        return classical.back_project(image, self.observation(pixels, region), self.downsample)

    def downsample(self, a: np.ndarray) -> np.ndarray:
        """The forward operator on an H x W x C array."""
        with torch.no_grad():
            return Downsample(self.scale)(tensor(a))[0].permute(1, 2, 0).numpy()

    def compose(self, photo: Photo, image: np.ndarray, region: Region) -> Photo:
        # a new size: alpha is resized and DPI scaled to keep the print size
        return Photo.from_float(image, like=photo)


class Inpainting(Physics):
    """Inpainting: only the known pixels (outside `mask`, True = fill) are observed."""

    task = "inpaint"
    kept = ("classical fill", "the classical fill (OpenCV Telea)")
    tiles = False

    def __init__(self, scale: int = 1, mask: np.ndarray | None = None):
        super().__init__(scale)
        self.mask = mask

    def check(self, photo: Photo) -> None:
        super().check(photo)
        mask = self.mask
        if mask is None:
            raise ValueError("inpainting needs a mask: paint one, or give --mask (white = fill)")
        if mask.shape != (photo.height, photo.width):
            mh, mw = mask.shape
            raise ValueError(f"the mask is {mw}x{mh} but the photo is {photo.width}x{photo.height}: "
                             "they must be the same size")
        if not mask.any():
            raise ValueError("the mask is empty: paint (white) over the parts to fill")
        if mask.all():
            raise ValueError("the mask covers the whole photo: nothing is left to learn from")

    def fill(self, region: Region) -> np.ndarray:
        """The marks inside `region` (bool, region-sized)."""
        t, l, b, r = region
        return self.mask[t:b, l:r]

    def classical(self, pixels: np.ndarray, region: Region) -> np.ndarray:
        return classical.telea_fill(self.observation(pixels, region), self.fill(region))

    def part(self, pixels: np.ndarray, region: Region) -> tuple[Problem, np.ndarray]:
        obs = self.observation(pixels, region)
        known = ~self.fill(region)
        held = classical.holdout(~known)   # known, but not fitted: the fill is judged on them

        def weight(m: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(m.astype(np.float32))[None, None]

        problem = Problem(tensor(obs * known[..., None]), Identity(), _size(region), weight=weight(known & ~held),
                          judged=weight(held), usable_mse=classical.usable_mse(self.task, obs, known, held=held))
        return problem, classical.telea_fill(obs, ~known)

    def composite(self, pixels: np.ndarray, region: Region, image: np.ndarray) -> np.ndarray:
        return np.where(self.fill(region)[..., None], image, self.observation(pixels, region))

    def compose(self, photo: Photo, image: np.ndarray, region: Region) -> Photo:
        data = photo.data.copy()
        fill = self.fill(region)
        t, l, b, r = region
        data[t:b, l:r][fill, :photo.color_channels] = to_samples(image, data.dtype)[fill]
        return photo.with_data(data)


PHYSICS: dict[str, type[Physics]] = {p.task: p for p in (Denoise, Jpeg, SuperResolution, Inpainting)}


def of(task: str, *, scale: int = 1, mask: np.ndarray | None = None) -> Physics:
    """The physics of a job of `task` (KeyError for an unknown task)."""
    return PHYSICS[task](scale, mask)


def tensor(a: np.ndarray) -> torch.Tensor:
    """1 x C x H x W float32 of an H x W x C array."""
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None].float()


def _size(region: Region) -> tuple[int, int]:
    t, l, b, r = region
    return b - t, r - l
