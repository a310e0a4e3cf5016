"""Load and save photos faithfully: the one place where photos enter and leave the product.

On load, EXIF orientation is applied once, samples keep their bit depth (8 or 16; 10- and
12-bit HEIC and camera RAW come as 16), alpha and grayscale are kept, and pixels stay in the
file's own colour space with its ICC profile carried; camera RAW is developed once, in a
documented way (`raw.py`). On save, ICC profile, EXIF, XMP, IPTC and DPI are written back as
far as the format has room, only the fields that must change are changed, and the file appears
atomically (temp file, fsync, rename) or not at all.

Every problem a user can cause (missing, empty, damaged, unsupported, too small or too large
file; unwritable folder) raises `ImageError` with a one-line message naming the file.

Modules: photo (Photo, ImageError, limits), formats (extensions), reading, raw (LibRaw),
metadata (EXIF/XMP/IPTC), writers, atomic (`write_atomic`). Float pixels and integer samples
convert one way only: `to_samples`, `to_float`, `to_uint8`.
"""

from __future__ import annotations

import os  # noqa: F401 - tests patch imageio.os.open to simulate unwritable folders

from .atomic import write_atomic
from .formats import RAW_SUFFIXES, READ_SUFFIXES, SAVE_SUFFIXES
from .photo import MAX_PIXELS, MAX_SIDE, MIN_SIDE, ImageError, Photo, to_float, to_samples, to_uint8
from .reading import load_image, load_image_bytes, load_mask, read_metadata
from .writers import save_image, save_mask, write_png

__all__ = [
    "MAX_PIXELS",
    "MAX_SIDE",
    "MIN_SIDE",
    "RAW_SUFFIXES",
    "READ_SUFFIXES",
    "SAVE_SUFFIXES",
    "ImageError",
    "Photo",
    "load_image",
    "load_image_bytes",
    "load_mask",
    "read_metadata",
    "save_image",
    "save_mask",
    "to_float",
    "to_samples",
    "to_uint8",
    "write_atomic",
    "write_png",
]
