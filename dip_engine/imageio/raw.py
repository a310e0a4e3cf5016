"""Camera RAW files, developed once with LibRaw (rawpy) into 16-bit sRGB.

The development is fixed and documented (the same file always gives the same photo):
the camera's white balance (daylight when the file records none), AHD demosaicing, LibRaw's
colour matrices to sRGB primaries with the sRGB tone curve (its ICC profile is embedded),
16 bits per sample, exposure as shot (no auto-brightening), highlights clipped, no sharpening and
no noise reduction, so the sensor's noise is still there for the denoiser. The orientation
the camera recorded is applied. EXIF and XMP are carried when the file is TIFF-based (DNG,
CR2, NEF, ARW, ORF, PEF, ...).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageCms

from . import metadata as md
from .photo import ImageError, Photo, one_line

if TYPE_CHECKING:
    from .reading import Source

_SRGB_ICC: bytes | None = None


def srgb_profile() -> bytes:
    """An sRGB ICC profile (lcms's, through Pillow)."""
    global _SRGB_ICC
    if _SRGB_ICC is None:
        _SRGB_ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return _SRGB_ICC


def develop(src: Source) -> Photo:
    """Develop a RAW file; every problem is a one-line ImageError naming the file."""
    import rawpy

    from .reading import check_size

    try:
        with rawpy.imread(src.file()) as raw:
            sizes = raw.sizes
            upright = (sizes.height, sizes.width) if sizes.flip in (5, 6) else (sizes.width, sizes.height)
            check_size(src, *upright)
            camera_wb = any(v > 0 for v in raw.camera_whitebalance[:3])
            data = raw.postprocess(
                use_camera_wb=True,
                output_color=rawpy.ColorSpace.sRGB,
                gamma=(2.4, 12.92),  # the sRGB tone curve
                output_bps=16,
                no_auto_bright=True,
                demosaic_algorithm=rawpy.DemosaicAlgorithm.AHD,
            )
            kind = raw.color_desc.decode("ascii", "replace")
    except rawpy.LibRawFileUnsupportedError:
        raise ImageError(
            f"{src}: not a camera RAW file LibRaw can read (or it is damaged or misnamed); "
            "use a RAW straight from the camera, or a DNG."
        ) from None
    except (rawpy.LibRawError, OSError, MemoryError) as e:
        if isinstance(e, MemoryError):
            raise
        raise ImageError(
            f"{src}: the RAW file is damaged or incomplete ({one_line(e)}); "
            "try the original file again."
        ) from None
    if data.ndim != 3 or data.shape[2] != 3 or data.dtype != np.uint16:
        raise ImageError(f"{src}: LibRaw returned no RGB image ({data.shape}); try a DNG copy.")
    ifd0 = md.first_tiff_ifd(src.read())
    version = ".".join(map(str, rawpy.libraw_version))
    balance = "the camera's white balance" if camera_wb else "daylight white balance (the file records none)"
    note = (
        f"{src.name} is a camera RAW file ({kind} sensor): it was developed with LibRaw {version} "
        f"using {balance}, AHD demosaicing, sRGB colours (profile embedded), 16 bits, exposure as "
        "shot, no sharpening and no noise reduction."
    )
    return Photo(
        data=np.ascontiguousarray(data),
        icc_profile=srgb_profile(),
        exif=md.exif_of_ifd(ifd0) if ifd0 is not None else None,
        xmp=_xmp(ifd0),
        source=src.on_disk,
        format="RAW",
        developed=note,
    )


def _xmp(ifd: Image.Exif | None) -> bytes | None:
    value = ifd.get(md.TIFF_XMP) if ifd is not None else None
    if isinstance(value, str):
        value = value.encode("utf-8")
    return bytes(value) if value else None
