"""The decoded photo and the one error type users see."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

MIN_SIDE = 8
MAX_SIDE = 65535
MAX_PIXELS = 250_000_000


class ImageError(ValueError):
    """A user-facing problem with an image file. str(e) is ONE line naming the file, what is
    wrong, and what to do."""


@dataclass(frozen=True, eq=False)
class Photo:
    """Decoded, upright samples (uint8 or uint16, HxWxC, C in 1..4) and the metadata to keep.

    `data` is stored read-only; make changed photos with `with_data` or `from_float`.
    `xmp` and `iptc` are the source's blocks as read (XMP packet; IPTC-IIM records); the writers
    update only the fields that must change. `developed` says how a camera RAW file was turned
    into these samples (one sentence for the user), None for other files.
    """

    data: np.ndarray
    icc_profile: bytes | None = None
    exif: bytes | None = None  # APP1 form ("Exif\0\0" + TIFF), orientation tag reset to 1
    dpi: tuple[float, float] | None = None
    source: Path | None = None
    format: str | None = None
    text: dict[str, str] = field(default_factory=dict)
    xmp: bytes | None = None
    iptc: bytes | None = None
    developed: str | None = None

    def __post_init__(self) -> None:
        data = np.asarray(self.data)
        if data.ndim != 3 or data.shape[2] not in (1, 2, 3, 4):
            raise ValueError(f"Photo data must be HxWxC with C in 1..4, got shape {data.shape}")
        if data.dtype not in (np.uint8, np.uint16):
            raise ValueError(f"Photo data must be uint8 or uint16, got {data.dtype}")
        view = data.view()
        view.flags.writeable = False
        object.__setattr__(self, "data", view)
        object.__setattr__(self, "text", dict(self.text))
        if self.dpi is not None:
            object.__setattr__(self, "dpi", (float(self.dpi[0]), float(self.dpi[1])))

    @property
    def width(self) -> int:
        return self.data.shape[1]

    @property
    def height(self) -> int:
        return self.data.shape[0]

    @property
    def bit_depth(self) -> int:
        return 8 if self.data.dtype == np.uint8 else 16

    @property
    def max_value(self) -> int:
        return 255 if self.data.dtype == np.uint8 else 65535

    @property
    def has_alpha(self) -> bool:
        return self.data.shape[2] in (2, 4)

    @property
    def is_gray(self) -> bool:
        return self.data.shape[2] in (1, 2)

    @property
    def color_channels(self) -> int:
        return 1 if self.is_gray else 3

    @property
    def pixels(self) -> np.ndarray:
        """Colour channels as float32 HxWxC (C = 1 or 3) in [0, 1]; alpha dropped."""
        return to_float(self.data[..., : self.color_channels])

    @property
    def alpha(self) -> np.ndarray | None:
        """Alpha as float32 HxW in [0, 1], or None."""
        if not self.has_alpha:
            return None
        return to_float(self.data[..., -1])

    def with_data(self, data: np.ndarray) -> Photo:
        """The same metadata with new samples."""
        return dataclasses.replace(self, data=data)

    @classmethod
    def from_float(
        cls, pixels: np.ndarray, alpha: np.ndarray | None = None, *, like: Photo
    ) -> Photo:
        """Quantise float [0, 1] pixels (HxW or HxWxC, C = 1 or 3) to `like`'s bit depth.

        Keeps `like`'s metadata. The size may differ from `like` (super-resolution): DPI is
        then scaled so the print size stays the same (the writers update the pixel sizes in
        EXIF and XMP). Without `alpha`, `like`'s alpha is kept (resized if needed).
        """
        pixels = np.asarray(pixels, dtype=np.float32)
        if pixels.ndim == 2:
            pixels = pixels[..., None]
        if pixels.ndim != 3 or pixels.shape[2] not in (1, 3):
            raise ValueError(f"pixels must be HxW or HxWxC with C in (1, 3), got {pixels.shape}")
        h, w = pixels.shape[:2]
        if alpha is None and like.has_alpha:
            alpha = like.alpha
            if alpha.shape != (h, w):
                alpha = cv2.resize(alpha, (w, h), interpolation=cv2.INTER_LINEAR)
        if alpha is not None:
            alpha = np.asarray(alpha, dtype=np.float32)
            if alpha.shape != (h, w):
                raise ValueError(f"alpha must be {h}x{w}, got shape {alpha.shape}")
            pixels = np.concatenate([pixels, alpha[..., None]], axis=2)
        data = to_samples(pixels, like.data.dtype)
        dpi = like.dpi
        if dpi is not None and (w, h) != (like.width, like.height):
            dpi = (dpi[0] * w / like.width, dpi[1] * h / like.height)
        return dataclasses.replace(like, data=data, dpi=dpi)


# The product's one conversion between float pixels in [0, 1] and integer samples; rows are
# converted a block at a time so a large photo needs no full-size float64 copy.
_BLOCK = 1 << 20  # samples


def to_samples(pixels: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """uint8 or uint16 samples of float pixels in [0, 1] (an array of one or more axes): rounded to the nearest
    level (computed in float64, so exact), out-of-range values clipped, NaN as 0."""
    pixels = np.asarray(pixels)
    top = np.iinfo(dtype).max
    out = np.empty(pixels.shape, dtype)
    rows = max(1, _BLOCK // max(1, pixels[0].size if len(pixels) else 1))
    for i in range(0, pixels.shape[0], rows):
        block = np.nan_to_num(pixels[i:i + rows].astype(np.float64))
        np.clip(block, 0.0, 1.0, out=block)
        block *= top
        out[i:i + rows] = np.rint(block, out=block)
    return out


def to_float(data: np.ndarray) -> np.ndarray:
    """float32 pixels in [0, 1] of uint8 or uint16 samples."""
    return data.astype(np.float32) / np.iinfo(data.dtype).max


def to_uint8(data: np.ndarray) -> np.ndarray:
    """8-bit samples of uint8, uint16 (rounded to nearest) or float [0, 1] data (`to_samples`),
    e.g. for the screen or an 8-bit format."""
    if data.dtype == np.uint8:
        return data
    if data.dtype.kind == "f":
        return to_samples(data, np.uint8)
    return np.rint(data / np.float32(257)).astype(np.uint8)


def one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__
