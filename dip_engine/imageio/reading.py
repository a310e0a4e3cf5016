"""Decode photo files upright, at their own bit depth, with the metadata to carry.

Pillow opens and identifies files and decodes what it decodes faithfully; 16-bit colour and
what Pillow cannot read in TIFF go to tifffile (OpenCV when tifffile lacks the codec), 16-bit
colour PNG to OpenCV, HEIC/HEIF to pillow-heif at 10/12 bits, camera RAW to LibRaw (raw.py).
"""

from __future__ import annotations

import io
import json
import os
import struct
import threading
import warnings
import zlib
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import pillow_heif
from PIL import Image, ImageCms, UnidentifiedImageError

from . import metadata as md
from .formats import RAW_SUFFIXES, READABLE
from .photo import MAX_PIXELS, MAX_SIDE, MIN_SIDE, ImageError, Photo, one_line, to_samples

pillow_heif.register_heif_opener()

_LOAD_FORMATS = {"PNG", "JPEG", "MPO", "TIFF", "WEBP", "BMP", "HEIF", "AVIF"}
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic and BigTIFF
_ORIENT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
    8: lambda a: np.rot90(a, 1),
}
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, zlib.error, struct.error)

_pillow_lock = threading.Lock()


class _Unidentified(ImageError):
    """Pillow does not know the file; other decoders may."""


class _UseRaw(Exception):
    """A TIFF container that holds a raw sensor image (DNG under another name)."""


class Source:
    """A photo file's bytes: the file at `path`, or `data` in memory under that name.

    str() is the name, which every message starts with; decoders open `file()`."""

    def __init__(self, path: str | os.PathLike, data: bytes | None = None):
        self.path, self.data = Path(path), data

    def __str__(self) -> str:
        return str(self.path)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def on_disk(self) -> Path | None:
        """The file, for `Photo.source`; None for bytes in memory."""
        return self.path if self.data is None else None

    def file(self) -> str | io.BytesIO:
        """What Pillow, tifffile, pillow-heif and LibRaw open: a file name or a file object."""
        return str(self.path) if self.data is None else io.BytesIO(self.data)

    def read(self) -> bytes:
        return self.path.read_bytes() if self.data is None else self.data


def load_image(path: str | os.PathLike) -> Photo:
    """Decode a photo file (PNG, JPEG, TIFF, WebP, BMP, HEIC/HEIF, AVIF, camera RAW) upright."""
    src = Source(path)
    _check_file(src.path)
    return _load(src)


def load_image_bytes(data: bytes, name: str | os.PathLike) -> Photo:
    """Decode a photo file's bytes held in memory (a project's embedded photo); `name` is the
    file name it had (its suffix may say what it is) and starts every message. `source` is None."""
    if not data:
        raise ImageError(f"{name}: the file is empty (0 bytes); try another copy.")
    return _load(Source(name, bytes(data)))


def _load(src: Source) -> Photo:
    if src.path.suffix.lower() in RAW_SUFFIXES:
        from .raw import develop

        return develop(src)
    try:
        return _load_pillow(src)
    except _UseRaw:
        from .raw import develop

        return develop(src)
    except _Unidentified as unknown:
        if _is_tiff(src):
            return _load_tifffile(src)
        from .raw import develop

        try:
            return develop(src)  # LibRaw knows cameras by content, whatever the name
        except ImageError:
            raise unknown from None


def load_mask(path: str | os.PathLike, size: tuple[int, int] | None = None) -> np.ndarray:
    """Read a mask: bool HxW, True = pixel to fill (white / non-zero).

    Gray and colour masks use their brightness (any non-zero channel fills). A mask with a
    fully opaque alpha uses its brightness; one drawn in alpha (transparent background) uses
    alpha. `size` = (width, height) of the photo; a different size raises ImageError.
    """
    photo = load_image(path)
    if size is not None and (photo.width, photo.height) != tuple(size):
        raise ImageError(
            f"{photo.source}: the mask is {photo.width}x{photo.height} px but the photo is "
            f"{size[0]}x{size[1]} px; use a mask of the photo's size."
        )
    data = photo.data
    if photo.has_alpha and data[..., -1].min() < photo.max_value:
        return data[..., -1] > 0
    # Luminance is a positive mix of the channels, so it is non-zero iff any channel is.
    return data[..., : photo.color_channels].max(axis=2) > 0


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The restore settings that `save_image(metadata=...)` wrote, or {} if there are none."""
    path = Path(path)
    _check_file(path)
    try:
        with _open(path) as im:
            info = im.info
            raw = info.get(md.SETTINGS_KEY)
            xmp = _xmp_of(im)
            if raw is None and xmp:
                raw = md.settings_from_xmp(xmp)
            if raw is None and hasattr(im, "tag_v2"):
                raw = _settings_from_description(im.tag_v2.get(270))
    except _Unidentified:
        return {}
    try:
        settings = json.loads(raw) if raw is not None else {}
    except ValueError:
        return {}
    if not isinstance(settings, dict):
        return {}
    return {str(k): str(v) for k, v in settings.items()}


# ------------------------------------------------------------------------------ Pillow


def _load_pillow(src: Source) -> Photo:
    with _open(src) as im:
        if im.format == "TIFF" and md.DNG_VERSION in im.tag_v2:
            raise _UseRaw
        try:
            if im.format == "HEIF":
                data, icc = _decode_heif(src), im.info.get("icc_profile")
            elif im.format == "TIFF" and not _pillow_keeps(im):
                im.close()
                return _load_tifffile(src)
            elif _is_deep_colour(im):
                data, icc = _decode_cv2(src, im), im.info.get("icc_profile")
            else:
                data, icc = _decode_pillow(src, im)
            fmt = "JPEG" if im.format == "MPO" else im.format
            orientation, exif = _exif_of(im)
            text = {
                k: str(v)
                for k, v in im.info.items()
                if isinstance(v, str) and k not in (md.PNG_XMP_KEY, md.PNG_IPTC_KEY, "xmp")
            }
            dpi = im.info.get("dpi")
            if hasattr(im, "tag_v2") and 282 not in im.tag_v2:
                dpi = None  # Pillow reports (1, 1) for a TIFF without resolution tags
            xmp, iptc = _xmp_of(im), _iptc_of(im)
        except ImageError:
            raise
        except _DECODE_ERRORS as e:
            raise _damaged(src, e) from None
    return _photo(src, data, orientation, dpi, fmt, icc=icc, exif=exif, xmp=xmp, iptc=iptc,
                  text=text if fmt == "PNG" else {})


def _photo(src: Source, data, orientation, dpi, fmt, **meta) -> Photo:
    """Apply the orientation to samples and DPI; make the Photo."""
    data = _ORIENT.get(orientation, lambda a: a)(data)
    if dpi is not None:
        # 0.1 dpi recovers whole numbers from PNG's pixels per metre (150 dpi: 150.0124)
        dpi = tuple(round(float(d), 1) for d in dpi)
        dpi = None if min(dpi) <= 0 else (dpi[::-1] if orientation in (5, 6, 7, 8) else dpi)
    meta["icc_profile"] = meta.pop("icc") or None
    return Photo(data=np.ascontiguousarray(data), dpi=dpi, source=src.on_disk, format=fmt, **meta)


def _check_file(path: Path) -> None:
    if not path.exists():
        raise ImageError(f"{path}: file not found; check the name and the folder.")
    if path.is_dir():
        raise ImageError(f"{path}: is a folder, not an image file; choose an image file.")
    if path.stat().st_size == 0:
        raise ImageError(
            f"{path}: the file is empty (0 bytes); it may not have finished copying, "
            "try another copy."
        )


def check_size(src: Source | Path, w: int, h: int) -> None:
    if w < MIN_SIDE or h < MIN_SIDE:
        raise ImageError(f"{src}: too small ({w}x{h} px); the minimum is {MIN_SIDE}x{MIN_SIDE} px.")
    if w > MAX_SIDE or h > MAX_SIDE or w * h > MAX_PIXELS:
        raise ImageError(
            f"{src}: too large ({w}x{h} px, {w * h / 1e6:.0f} megapixels); the limit is "
            f"{MAX_SIDE} px a side and {MAX_PIXELS // 1_000_000} megapixels."
        )


def _damaged(src: Source | Path, e: BaseException) -> ImageError:
    return ImageError(
        f"{src}: the file is damaged or incomplete ({one_line(e)}); try the original file again."
    )


@contextmanager
def _open(src: Source | Path):
    """Open with Pillow (header only); every failure is an ImageError."""
    try:
        with _pillow_limits():
            im = Image.open(src.file() if isinstance(src, Source) else src)
    except Image.DecompressionBombError:
        raise ImageError(
            f"{src}: the file declares an image far over {MAX_PIXELS // 1_000_000} megapixels "
            "(damaged, or a decompression bomb); it was not decoded."
        ) from None
    except UnidentifiedImageError:
        raise _Unidentified(
            f"{src}: not an image file this app can read (or it is damaged or misnamed); "
            f"use {READABLE}."
        ) from None
    except PermissionError:
        raise ImageError(f"{src}: permission denied; check that you may read it.") from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as e:
        raise _damaged(src, e) from None
    with im:
        if im.format not in _LOAD_FORMATS:
            raise ImageError(
                f"{src}: {im.format} files are not supported; convert it to one of {READABLE} first."
            )
        check_size(src, *im.size)
        yield im


@contextmanager
def _pillow_limits():
    """Raise Pillow's pixel limit to ours while opening; it is a module global, hence the lock.

    Pillow warns above the limit and refuses above twice it; our own size check reports the
    warned range with the real size, so the warning is silenced here.
    """
    with _pillow_lock, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = MAX_PIXELS
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _rawmode(im: Image.Image) -> str:
    """How the file stores its samples, e.g. 'RGB;16B' (Pillow's mode may differ)."""
    if not im.tile:
        return ""
    args = im.tile[0].args
    rawmode = args if isinstance(args, str) else args[0]
    return rawmode if isinstance(rawmode, str) else ""


def _is_deep_colour(im: Image.Image) -> bool:
    """16-bit samples that Pillow would cut to 8 bits (it only keeps 16-bit gray)."""
    return not im.mode.startswith("I;16") and ";16" in _rawmode(im)


_PILLOW_MODES = {
    "1": "L",
    "L": "L",
    "LA": "LA",
    "La": "LA",
    "P": "RGB",
    "PA": "RGBA",
    "RGB": "RGB",
    "RGBA": "RGBA",
    "RGBa": "RGBA",
    "RGBX": "RGB",
    "YCbCr": "RGB",
}


def _pillow_keeps(im: Image.Image) -> bool:
    """Pillow decodes this TIFF without losing depth or channels (else tifffile does)."""
    return not _is_deep_colour(im) and (
        im.mode in _PILLOW_MODES or im.mode == "CMYK" or im.mode.startswith("I;16")
    )


def _decode_cv2(src: Source, im: Image.Image) -> np.ndarray:
    """Decode 16-bit colour or gray+alpha with OpenCV (BGR order, no orientation applied)."""
    data = cv2.imdecode(np.frombuffer(src.read(), dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if data is None or data.shape[1::-1] != im.size or data.dtype != np.uint16:
        raise ImageError(
            f"{src}: the 16-bit image data could not be decoded (damaged or incomplete?); "
            "try the original file again."
        )
    if data.ndim == 2:
        data = data[..., None]
    if data.shape[2] >= 3:
        data = data[..., [2, 1, 0, 3][: data.shape[2]]]
    if _rawmode(im).startswith("LA") and data.shape[2] == 4:  # OpenCV expands gray+alpha
        data = data[..., [0, 3]]
    return data


def _decode_pillow(src: Source, im: Image.Image) -> tuple[np.ndarray, bytes | None]:
    """Fully decode (so truncation is detected) and map the mode to L, LA, RGB, RGBA, I;16."""
    im.load()
    icc = im.info.get("icc_profile")
    mode = im.mode
    if mode.startswith("I;16"):
        return np.asarray(im).astype(np.uint16)[..., None], icc
    if mode == "CMYK":
        rgb, icc = _cmyk_to_rgb(im, icc)
        return np.asarray(rgb), icc
    if mode not in _PILLOW_MODES:
        raise ImageError(
            f"{src}: {mode} images are not supported; save it as 8- or 16-bit RGB or "
            "grayscale first."
        )
    target = _PILLOW_MODES[mode]
    if mode in ("L", "RGB", "P") and im.has_transparency_data:
        target += "A"
    if target != mode:
        im = im.convert(target)
    data = np.asarray(im)
    return (data[..., None] if data.ndim == 2 else data), icc


def _decode_heif(src: Source) -> np.ndarray:
    """HEIC/HEIF at its own depth: 10- and 12-bit samples come as 16-bit (scaled to full range)."""
    heif = pillow_heif.open_heif(src.file(), convert_hdr_to_8bit=False)
    data = np.asarray(heif)
    if data.ndim == 2:
        data = data[..., None]
    if data.dtype not in (np.uint8, np.uint16) or data.shape[2] not in (1, 2, 3, 4):
        raise ImageError(f"{src}: HEIF images of mode {heif.mode} are not supported; "
                         "convert it to 8- or 16-bit RGB first.")
    return data


def _cmyk_to_rgb(im: Image.Image, icc: bytes | None) -> tuple[Image.Image, bytes | None]:
    """CMYK to sRGB through the embedded profile, else Pillow's plain formula (no profile)."""
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            if source.profile.xcolor_space.strip() == "CMYK":
                srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
                rgb = ImageCms.profileToProfile(im, source, srgb, outputMode="RGB")
                return rgb, srgb.tobytes()
        except (ImageCms.PyCMSError, OSError):
            pass  # a broken profile: fall back to the formula below
    return im.convert("RGB"), None


def _exif_of(im: Image.Image) -> tuple[int, bytes | None]:
    """(orientation, EXIF bytes to keep with the orientation reset to 1)."""
    raw = im.info.get("exif")
    if raw is None and im.format == "PNG":
        return 1, None  # Pillow's PNG getexif() would decode the whole image to look further
    try:
        exif = im.getexif()
        orientation = int(exif.get(md.ORIENTATION, 1))
        if im.format == "TIFF":
            return orientation, md.exif_of_ifd(exif)
    except Exception:  # a damaged EXIF block must not stop the photo from loading
        return 1, None
    if not raw:
        return orientation, None
    raw = md.with_exif_header(raw)
    return orientation, md.fit_exif(raw, *_upright_size(im, orientation))


def _upright_size(im: Image.Image, orientation: int) -> tuple[int, int]:
    w, h = im.size
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def _xmp_of(im: Image.Image) -> bytes | None:
    if im.format in ("JPEG", "MPO"):
        whole = md.extended_xmp(getattr(im, "applist", []))
        if whole:
            return whole
    xmp = im.info.get("xmp") or im.info.get(md.PNG_XMP_KEY)
    if not xmp and hasattr(im, "tag_v2"):
        xmp = im.tag_v2.get(md.TIFF_XMP)
    if isinstance(xmp, str):
        xmp = xmp.encode("utf-8")
    return bytes(xmp) if xmp else None


def _iptc_of(im: Image.Image) -> bytes | None:
    if im.format in ("JPEG", "MPO"):
        return md.iptc_from_photoshop(im.info.get("photoshop"))
    if im.format == "TIFF":
        return md.iptc_from_tiff(im.tag_v2, getattr(im.tag_v2, "_tagdata", None))
    if im.format == "PNG":
        return md.iptc_from_png_text(im.info.get(md.PNG_IPTC_KEY))
    return None


def _settings_from_description(description: object) -> str | None:
    if not isinstance(description, str):
        return None
    try:
        doc = json.loads(description)
    except ValueError:
        return None
    if isinstance(doc, dict) and isinstance(doc.get(md.SETTINGS_KEY), dict):
        return json.dumps(doc[md.SETTINGS_KEY])
    return None


# ------------------------------------------------------------------------------ tifffile


def _is_tiff(src: Source) -> bool:
    if src.data is not None:
        return src.data[:4] in _TIFF_MAGIC
    with open(src.path, "rb") as f:
        return f.read(4) in _TIFF_MAGIC


def _load_tifffile(src: Source) -> Photo:
    """TIFFs Pillow cannot read faithfully: 16-bit colour, gray+alpha, float, BigTIFF, tiles."""
    import tifffile

    try:
        with tifffile.TiffFile(src.file()) as tif:
            page = tif.pages.first
            if md.DNG_VERSION in page.tags or page.photometric == tifffile.PHOTOMETRIC.CFA:
                from .raw import develop

                return develop(src)
            check_size(src, page.imagewidth, page.imagelength)
            try:
                data = page.asarray()
            except (KeyError, ValueError) as e:
                if "imagecodecs" not in str(e):
                    raise
                data = None  # a compression tifffile cannot decode alone (LZW, JPEG, ...)
            tags = {tag.code: tag.value for tag in page.tags.values()}
            axes, photometric = page.axes, page.photometric
            extras = tuple(page.extrasamples or ())
    except ImageError:
        raise
    except (tifffile.TiffFileError, *_DECODE_ERRORS) as e:
        raise _damaged(src, e) from None
    if data is None:
        data = _tiff_via_cv2(src, tags)
    else:
        data = _tiff_samples(src, data, axes, photometric, extras)
    ifd0 = md.first_tiff_ifd(src.read())
    orientation = int(tags.get(md.ORIENTATION, 1) or 1)
    dpi = None
    if 282 in tags and 283 in tags:
        dpi = tuple(_rational(tags[t]) for t in (282, 283))
        if int(tags.get(296, 2)) == 3:  # centimetres
            dpi = tuple(d * 2.54 for d in dpi)
    return _photo(
        src, data, orientation, dpi, "TIFF",
        icc=bytes(tags[md.TIFF_ICC]) if md.TIFF_ICC in tags else None,
        exif=md.exif_of_ifd(ifd0) if ifd0 is not None else None,
        xmp=_bytes(tags.get(md.TIFF_XMP)),
        iptc=_bytes(tags.get(md.TIFF_IPTC)),
    )


def _tiff_samples(src, data, axes, photometric, extras) -> np.ndarray:
    """tifffile's array as HxWxC uint8/uint16: gray, gray+alpha, RGB, RGBA."""
    import tifffile

    if axes.startswith("S") and data.ndim == 3:  # planar: SYX
        data = np.moveaxis(data, 0, -1)
    if data.ndim == 2:
        data = data[..., None]
    if data.ndim != 3:
        raise ImageError(f"{src}: a TIFF with {data.ndim} dimensions ({axes}) is not a photo; "
                         "save it as a single 2-D image first.")
    colour = 3 if photometric in (tifffile.PHOTOMETRIC.RGB, tifffile.PHOTOMETRIC.YCBCR) else 1
    if photometric == tifffile.PHOTOMETRIC.PALETTE:
        raise ImageError(f"{src}: 16-bit palette TIFFs are not supported; save it as RGB first.")
    if photometric not in (tifffile.PHOTOMETRIC.MINISBLACK, tifffile.PHOTOMETRIC.MINISWHITE,
                           tifffile.PHOTOMETRIC.RGB):
        raise ImageError(f"{src}: {photometric.name} TIFFs are not supported; "
                         "save it as RGB or grayscale first.")
    alpha = data.shape[2] > colour and bool(extras) and extras[0] in (1, 2)
    data = data[..., : colour + (1 if alpha else 0)]
    if data.dtype.kind == "f":  # scene values in [0, 1]; beyond that is clipped
        data = to_samples(data, np.uint16)
    elif data.dtype == bool:
        data = data.astype(np.uint8) * 255
    elif data.dtype == np.uint32:
        data = (data >> 16).astype(np.uint16)
    elif data.dtype not in (np.uint8, np.uint16):
        raise ImageError(f"{src}: TIFFs of {data.dtype} samples are not supported; "
                         "save it with 8 or 16 bits, unsigned, or 32-bit float.")
    if photometric == tifffile.PHOTOMETRIC.MINISWHITE:
        top = np.iinfo(data.dtype).max
        data = np.concatenate([top - data[..., :1], data[..., 1:]], axis=2)
    return data


def _tiff_via_cv2(src: Source, tags: dict) -> np.ndarray:
    """OpenCV's libtiff for compressions tifffile needs imagecodecs for (LZW, JPEG, ZSTD)."""
    data = cv2.imdecode(np.frombuffer(src.read(), dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if data is None or data.dtype not in (np.uint8, np.uint16):
        raise ImageError(f"{src}: this TIFF's compression or sample format cannot be decoded; "
                         "save it uncompressed or with ZIP (deflate) compression.")
    if data.ndim == 2:
        return data[..., None]
    data = data[..., [2, 1, 0, 3][: data.shape[2]]]
    if int(tags.get(277, 3)) == 2 and data.shape[2] == 4:  # OpenCV expands gray+alpha
        data = data[..., [0, 3]]
    return data


def _rational(value) -> float:
    if isinstance(value, tuple) and len(value) == 2:
        return value[0] / value[1] if value[1] else 0.0
    return float(value)


def _bytes(value) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        value = value.tobytes()
    if isinstance(value, str):
        value = value.encode("utf-8")
    return bytes(value) or None
