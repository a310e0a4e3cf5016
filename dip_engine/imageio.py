"""Load and save photos faithfully: the one place where photos enter and leave the product.

On load, EXIF orientation is applied once, samples keep their bit depth (8 or 16), alpha and
grayscale are kept, and pixels stay in the file's own colour space with its ICC profile carried.
On save, ICC profile, EXIF (orientation 1) and DPI are written back, 16-bit stays 16-bit in PNG
and TIFF, and the file appears atomically (temp file, fsync, rename) or not at all.

Every problem a user can cause (missing, empty, damaged, unsupported, too small or too large
file; unwritable folder) raises `ImageError` with a one-line message naming the file.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import secrets
import shutil
import struct
import threading
import warnings
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO
from xml.sax.saxutils import escape

import cv2
import numpy as np
from PIL import Image, ImageCms, UnidentifiedImageError
from PIL.TiffImagePlugin import ImageFileDirectory_v2

try:  # HEIC/HEIF photos (iPhone) load when the optional pillow-heif is installed
    from pillow_heif import register_heif_opener
except ImportError:
    pass
else:
    register_heif_opener()

__all__ = [
    "MAX_PIXELS",
    "MAX_SIDE",
    "MIN_SIDE",
    "ImageError",
    "Photo",
    "load_image",
    "load_mask",
    "read_metadata",
    "save_image",
    "save_mask",
]

MIN_SIDE = 8
MAX_SIDE = 65535
MAX_PIXELS = 250_000_000

_LOAD_FORMATS = {"PNG", "JPEG", "MPO", "TIFF", "WEBP", "BMP", "HEIF"}
_SAVE_FORMATS = {
    ".png": "PNG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
}
_ORIENTATION = 0x0112
_EXIF_HEADER = b"Exif\x00\x00"
# Tags of a TIFF's first IFD that describe the photo rather than the file's layout.
_TIFF_EXIF_TAGS = (0x010F, 0x0110, 0x0112, 0x0131, 0x0132, 0x013B, 0x013C, 0x8298)
_TIFF_EXIF_IFDS = (0x8769, 0x8825)  # Exif and GPS sub-IFDs
_SETTINGS_KEY = "dip-studio"  # PNG text keyword and TIFF ImageDescription JSON key
_XMP_NS = "https://dip-studio.invalid/ns/1.0/"
_ORIENT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
    8: lambda a: np.rot90(a, 1),
}

_pillow_lock = threading.Lock()


class ImageError(ValueError):
    """A user-facing problem with an image file. str(e) is ONE line naming the file, what is
    wrong, and what to do."""


@dataclass(frozen=True, eq=False)
class Photo:
    """Decoded, upright samples (uint8 or uint16, HxWxC, C in 1..4) and the metadata to keep.

    `data` is stored read-only; make changed photos with `with_data` or `from_float`.
    """

    data: np.ndarray
    icc_profile: bytes | None = None
    exif: bytes | None = None  # APP1 form ("Exif\0\0" + TIFF), orientation tag reset to 1
    dpi: tuple[float, float] | None = None
    source: Path | None = None
    format: str | None = None
    text: dict[str, str] = field(default_factory=dict)

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
        return self.data[..., : self.color_channels].astype(np.float32) / self.max_value

    @property
    def alpha(self) -> np.ndarray | None:
        """Alpha as float32 HxW in [0, 1], or None."""
        if not self.has_alpha:
            return None
        return self.data[..., -1].astype(np.float32) / self.max_value

    def with_data(self, data: np.ndarray) -> Photo:
        """The same metadata with new samples."""
        return dataclasses.replace(self, data=data)

    @classmethod
    def from_float(
        cls, pixels: np.ndarray, alpha: np.ndarray | None = None, *, like: Photo
    ) -> Photo:
        """Quantise float [0, 1] pixels (HxW or HxWxC, C = 1 or 3) to `like`'s bit depth.

        Keeps `like`'s metadata. The size may differ from `like` (super-resolution): DPI is
        then scaled so the print size stays the same. Without `alpha`, `like`'s alpha is kept
        (resized if needed).
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
        top = like.max_value
        data = np.rint(np.clip(np.nan_to_num(pixels), 0.0, 1.0) * top).astype(like.data.dtype)
        dpi = like.dpi
        if dpi is not None and (w, h) != (like.width, like.height):
            dpi = (dpi[0] * w / like.width, dpi[1] * h / like.height)
        return dataclasses.replace(like, data=data, dpi=dpi)


# ---------------------------------------------------------------------------------------------
# Loading


def load_image(path: str | os.PathLike) -> Photo:
    """Decode a photo file (PNG, JPEG, TIFF, WebP, BMP; HEIC with pillow-heif) upright."""
    path = Path(path)
    with _open(path) as im:
        try:
            if _is_deep_colour(im):
                data, icc = _decode_cv2(path, im), im.info.get("icc_profile")
            else:
                data, icc = _decode_pillow(path, im)
            fmt = "JPEG" if im.format == "MPO" else im.format
            orientation, exif = _exif_of(im)
            text = {k: str(v) for k, v in im.info.items() if isinstance(v, str)}
            dpi = im.info.get("dpi")
            if hasattr(im, "tag_v2") and 282 not in im.tag_v2:
                dpi = None  # Pillow reports (1, 1) for a TIFF without resolution tags
        except ImageError:
            raise
        except (OSError, SyntaxError, ValueError, EOFError, zlib.error, struct.error) as e:
            raise ImageError(
                f"{path}: the file is damaged or incomplete ({_one_line(e)}); "
                "try the original file again."
            ) from None
    data = _ORIENT.get(orientation, lambda a: a)(data)
    if dpi is not None:
        # 0.1 dpi recovers whole numbers from PNG's pixels per metre (150 dpi: 150.0124)
        dpi = tuple(round(float(d), 1) for d in dpi)
        dpi = None if min(dpi) <= 0 else (dpi[::-1] if orientation in (5, 6, 7, 8) else dpi)
    return Photo(
        data=np.ascontiguousarray(data),
        icc_profile=icc or None,
        exif=exif,
        dpi=dpi,
        source=path,
        format=fmt,
        text=text if fmt == "PNG" else {},
    )


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
    with _open(path) as im:
        info = im.info
        raw = info.get(_SETTINGS_KEY)
        if raw is None and info.get("xmp"):
            raw = _settings_from_xmp(info["xmp"])
        if raw is None and hasattr(im, "tag_v2"):
            raw = _settings_from_description(im.tag_v2.get(270))
    try:
        settings = json.loads(raw) if raw is not None else {}
    except ValueError:
        return {}
    if not isinstance(settings, dict):
        return {}
    return {str(k): str(v) for k, v in settings.items()}


@contextmanager
def _open(path: Path):
    """Open with Pillow (header only) after checking the path; every failure is an ImageError."""
    if not path.exists():
        raise ImageError(f"{path}: file not found; check the name and the folder.")
    if path.is_dir():
        raise ImageError(f"{path}: is a folder, not an image file; choose an image file.")
    if path.stat().st_size == 0:
        raise ImageError(
            f"{path}: the file is empty (0 bytes); it may not have finished copying, "
            "try another copy."
        )
    try:
        with _pillow_limits():
            im = Image.open(path)
    except Image.DecompressionBombError:
        raise ImageError(
            f"{path}: the file declares an image far over {MAX_PIXELS // 1_000_000} megapixels "
            "(damaged, or a decompression bomb); it was not decoded."
        ) from None
    except UnidentifiedImageError:
        raise ImageError(
            f"{path}: not an image file this app can read (or it is damaged or misnamed); "
            "use PNG, JPEG, TIFF, WebP or BMP."
        ) from None
    except PermissionError:
        raise ImageError(f"{path}: permission denied; check that you may read it.") from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as e:
        raise ImageError(
            f"{path}: the file is damaged or incomplete ({_one_line(e)}); "
            "try the original file again."
        ) from None
    with im:
        if im.format not in _LOAD_FORMATS:
            raise ImageError(
                f"{path}: {im.format} files are not supported; "
                "convert it to PNG, JPEG or TIFF first."
            )
        w, h = im.size
        if w < MIN_SIDE or h < MIN_SIDE:
            raise ImageError(
                f"{path}: too small ({w}x{h} px); the minimum is {MIN_SIDE}x{MIN_SIDE} px."
            )
        if w > MAX_SIDE or h > MAX_SIDE or w * h > MAX_PIXELS:
            raise ImageError(
                f"{path}: too large ({w}x{h} px, {w * h / 1e6:.0f} megapixels); the limit is "
                f"{MAX_SIDE} px a side and {MAX_PIXELS // 1_000_000} megapixels."
            )
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


def _decode_cv2(path: Path, im: Image.Image) -> np.ndarray:
    """Decode 16-bit colour or gray+alpha with OpenCV (BGR order, no orientation applied)."""
    data = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if data is None or data.shape[1::-1] != im.size or data.dtype != np.uint16:
        raise ImageError(
            f"{path}: the 16-bit image data could not be decoded (damaged or incomplete?); "
            "try the original file again."
        )
    if data.ndim == 2:
        data = data[..., None]
    if data.shape[2] >= 3:
        data = data[..., [2, 1, 0, 3][: data.shape[2]]]
    if _rawmode(im).startswith("LA") and data.shape[2] == 4:  # OpenCV expands gray+alpha
        data = data[..., [0, 3]]
    return data


def _decode_pillow(path: Path, im: Image.Image) -> tuple[np.ndarray, bytes | None]:
    """Fully decode (so truncation is detected) and map the mode to L, LA, RGB, RGBA, I;16."""
    im.load()
    icc = im.info.get("icc_profile")
    mode = im.mode
    if mode.startswith("I;16"):
        return np.asarray(im).astype(np.uint16)[..., None], icc
    if mode == "CMYK":
        rgb, icc = _cmyk_to_rgb(im, icc)
        return np.asarray(rgb), icc
    targets = {
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
    if mode not in targets:
        raise ImageError(
            f"{path}: {mode} images are not supported; save it as 8- or 16-bit RGB or "
            "grayscale first."
        )
    target = targets[mode]
    if mode in ("L", "RGB", "P") and im.has_transparency_data:
        target += "A"
    if target != mode:
        im = im.convert(target)
    data = np.asarray(im)
    return (data[..., None] if data.ndim == 2 else data), icc


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
        orientation = int(exif.get(_ORIENTATION, 1))
        if im.format == "TIFF":
            # A TIFF's EXIF is its first IFD: keep the photo's tags, not the file's layout.
            kept = Image.Exif()
            for tag in _TIFF_EXIF_TAGS:
                if tag in exif:
                    kept[tag] = exif[tag]
            for tag in _TIFF_EXIF_IFDS:
                if tag in exif:
                    kept[tag] = exif.get_ifd(tag)
            if _ORIENTATION in kept:
                kept[_ORIENTATION] = 1
            return orientation, (kept.tobytes() if len(kept) else None)
    except Exception:  # a damaged EXIF block must not stop the photo from loading
        return 1, None
    if not raw:
        return orientation, None
    if not raw.startswith(_EXIF_HEADER):
        raw = _EXIF_HEADER + raw
    return orientation, _reset_orientation(raw)


def _reset_orientation(exif: bytes) -> bytes:
    """Set IFD0's Orientation to 1 in place; rewriting the whole block would move maker
    notes, which use absolute offsets."""
    tiff = exif[len(_EXIF_HEADER) :]
    end = "<" if tiff[:2] == b"II" else ">"
    try:
        (ifd,) = struct.unpack_from(end + "I", tiff, 4)
        (count,) = struct.unpack_from(end + "H", tiff, ifd)
        for i in range(count):
            entry = ifd + 2 + 12 * i
            tag, typ, n = struct.unpack_from(end + "HHI", tiff, entry)
            if tag == _ORIENTATION and typ == 3 and n == 1:
                out = bytearray(exif)
                struct.pack_into(end + "H", out, len(_EXIF_HEADER) + entry + 8, 1)
                return bytes(out)
    except struct.error:
        pass  # malformed: keep the block as it is
    return exif


def _settings_from_xmp(xmp: bytes | str) -> str | None:
    try:
        root = ET.fromstring(xmp)
    except ET.ParseError:
        return None
    node = root.find(f".//{{{_XMP_NS}}}settings")
    return None if node is None else node.text


def _settings_from_description(description: object) -> str | None:
    if not isinstance(description, str):
        return None
    try:
        doc = json.loads(description)
    except ValueError:
        return None
    if isinstance(doc, dict) and isinstance(doc.get(_SETTINGS_KEY), dict):
        return json.dumps(doc[_SETTINGS_KEY])
    return None


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


# ---------------------------------------------------------------------------------------------
# Saving


def save_image(
    photo: Photo,
    path: str | os.PathLike,
    *,
    quality: int = 95,
    overwrite: bool = False,
    metadata: dict[str, str] | None = None,
    strip_metadata: bool = False,
) -> Path:
    """Write `photo` atomically; the format comes from the extension (none: .png is added).

    PNG and TIFF are lossless and keep 16 bits (16-bit gray+alpha TIFF is written as RGBA:
    few readers support it); JPEG and WebP use `quality` (WebP is lossless at 100) and store
    8 bits; JPEG has no alpha, so the photo is flattened onto white; WebP has no gray, so gray
    is written as RGB. ICC profile, EXIF and DPI are kept (WebP has no DPI field); `metadata`
    (restore settings; values become strings) is written for `read_metadata`: PNG tEXt, TIFF
    ImageDescription (JSON), XMP in JPEG and WebP. `strip_metadata` writes a bare file: no ICC profile, EXIF,
    DPI, text or settings. Returns the path written.
    """
    path = Path(path)
    if not path.suffix:
        path = path.with_suffix(".png")
    fmt = _SAVE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ImageError(
            f"{path}: unknown file type '{path.suffix}'; use .png, .tif, .jpg or .webp."
        )
    if not 1 <= quality <= 100:
        raise ValueError(f"quality must be 1..100, got {quality}")
    settings = None if metadata is None else {str(k): str(v) for k, v in metadata.items()}
    if strip_metadata:
        photo = dataclasses.replace(photo, icc_profile=None, exif=None, dpi=None, text={})
        settings = None
    writer = _WRITERS[fmt]
    return _write_atomic(path, lambda fp: writer(fp, photo, settings, quality), overwrite)


def save_mask(mask: np.ndarray, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write a mask (True / non-zero = fill) as a lossless 8-bit PNG, white = fill, atomically."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ImageError(f"{path}: masks are saved as PNG; use a name ending in .png.")
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be HxW, got shape {mask.shape}")
    data = np.where(mask != 0, 255, 0).astype(np.uint8)[..., None]
    return save_image(Photo(data), path, overwrite=overwrite)


def _write_atomic(path: Path, write: Callable[[BinaryIO], None], overwrite: bool) -> Path:
    """Write through a temp file in the same folder, fsync, then rename over `path`."""
    folder = path.parent
    if not folder.is_dir():
        raise ImageError(f"{folder}: folder does not exist; choose an existing folder.")
    if path.is_dir():
        raise ImageError(f"{path}: is a folder; choose a file name.")
    existed = path.exists()
    if existed and not overwrite:
        raise FileExistsError(f"{path} already exists; choose another name or allow overwriting.")
    tmp = folder / f".{path.name}.{secrets.token_hex(4)}.tmp"
    try:
        # 0o666 lets the umask decide the permissions, as for any new file
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as e:
        raise ImageError(
            f"{folder}: cannot write in this folder ({e.strerror}); choose another folder."
        ) from None
    try:
        with os.fdopen(fd, "wb") as fp:
            write(fp)
            fp.flush()
            os.fsync(fp.fileno())
        if existed:
            shutil.copymode(path, tmp)
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError) and e.errno is not None:  # disk full, I/O error, ...
            raise ImageError(
                f"{folder}: could not write {path.name} ({e.strerror}); "
                "free some space or choose another folder."
            ) from None
        raise
    if os.name == "posix":  # make the rename itself durable
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return path


def _write_png(fp: BinaryIO, photo: Photo, settings: dict | None, quality: int) -> None:
    chunks = []
    if photo.icc_profile:
        chunks.append(_chunk(b"iCCP", b"ICC Profile\0\0" + zlib.compress(photo.icc_profile)))
    if photo.dpi:
        ppm = [round(d / 0.0254) for d in photo.dpi]  # pixels per metre
        chunks.append(_chunk(b"pHYs", struct.pack(">IIB", *ppm, 1)))
    if photo.exif:
        chunks.append(_chunk(b"eXIf", _strip_exif_header(photo.exif)))
    text = dict(photo.text)
    if settings is not None:
        text[_SETTINGS_KEY] = json.dumps(settings)
    chunks += [_text_chunk(k, v) for k, v in text.items()]
    if photo.bit_depth == 16:
        _write_png16(fp, photo.data, chunks)
        return
    buf = io.BytesIO()
    _pil_image(photo.data).save(buf, "PNG")
    png = buf.getvalue()
    ihdr_end = 8 + 25  # signature, then IHDR (length, type, 13 bytes, CRC)
    fp.write(png[:ihdr_end])
    fp.writelines(chunks)
    fp.write(png[ihdr_end:])


def _write_png16(fp: BinaryIO, data: np.ndarray, chunks: list[bytes]) -> None:
    """16-bit PNG by hand (Pillow cannot and OpenCV has no gray+alpha or metadata chunks)."""
    h, w, c = data.shape
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    fp.write(b"\x89PNG\r\n\x1a\n")
    fp.write(_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, colour_type, 0, 0, 0)))
    fp.writelines(chunks)
    bpp = 2 * c
    compressor = zlib.compressobj(6)
    rows = max(1, 2**22 // (w * bpp))
    for y in range(0, h, rows):
        raw = data[y : y + rows].astype(">u2").view(np.uint8).reshape(-1, w * bpp)
        # "Sub" filter: each byte minus the same byte of the pixel to its left, modulo 256
        sub = raw.copy()
        sub[:, bpp:] -= raw[:, :-bpp]
        block = np.concatenate([np.ones((len(sub), 1), np.uint8), sub], axis=1)
        out = compressor.compress(block.tobytes())
        if out:
            fp.write(_chunk(b"IDAT", out))
    fp.write(_chunk(b"IDAT", compressor.flush()))
    fp.write(_chunk(b"IEND", b""))


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _text_chunk(key: str, value: str) -> bytes:
    keyword = key.encode("latin-1", "replace")[:79]
    try:
        return _chunk(b"tEXt", keyword + b"\0" + value.encode("latin-1"))
    except UnicodeEncodeError:  # iTXt: keyword, no compression, no language, UTF-8 text
        return _chunk(b"iTXt", keyword + b"\0\0\0\0\0" + value.encode("utf-8"))


def _write_tiff(fp: BinaryIO, photo: Photo, settings: dict | None, quality: int) -> None:
    """Deflate-compressed TIFF written with Pillow's IFD writer: Pillow's own TIFF encoder has
    no 16-bit RGB and its libtiff path fails on EXIF sub-IFDs."""
    data = photo.data
    if data.shape[2] == 2 and data.itemsize == 2:
        # Few readers (Pillow, OpenCV) handle 16-bit gray+alpha TIFF: write it as RGBA.
        data = data[..., [0, 0, 0, 1]]
    h, w, c = data.shape
    ifd = ImageFileDirectory_v2(prefix=b"II")
    if photo.exif:
        exif = Image.Exif()
        exif.load(photo.exif)
        for tag, value in exif.items():
            ifd[tag] = exif.get_ifd(tag) if tag in _TIFF_EXIF_IFDS else value
    if photo.icc_profile:
        ifd[34675] = photo.icc_profile
    if photo.dpi:
        ifd[282], ifd[283] = photo.dpi
        ifd[296] = 2  # inches
    if settings is not None:
        ifd[270] = json.dumps({_SETTINGS_KEY: settings})
    rows = max(1, 2**20 // (w * c * data.itemsize))
    strips = []
    for y in range(0, h, rows):
        block = data[y : y + rows].astype(data.dtype.newbyteorder("<"))
        # Predictor 2 (horizontal differencing) makes deflate work far better on photos.
        block[:, 1:] -= data[y : y + rows, :-1]
        strips.append(zlib.compress(block.tobytes(), 6))
    offsets = np.cumsum([0] + [len(s) for s in strips[:-1]])
    ifd[256], ifd[257] = w, h
    ifd[258] = (8 * data.itemsize,) * c
    ifd[259] = 8  # Adobe deflate
    ifd[262] = 2 if c >= 3 else 1  # RGB or min-is-black
    ifd[273] = tuple(int(o) for o in offsets)  # relative: Pillow adds the IFD's end
    ifd[277] = c
    ifd[278] = rows
    ifd[279] = tuple(len(s) for s in strips)
    ifd[284] = 1  # chunky
    ifd[317] = 2
    ifd[339] = (1,) * c  # unsigned integers
    if c in (2, 4):
        ifd[338] = 2  # unassociated alpha
    ifd.save(fp)
    fp.writelines(strips)


def _write_jpeg(fp: BinaryIO, photo: Photo, settings: dict | None, quality: int) -> None:
    data = _to_uint8(photo.data)
    if photo.has_alpha:  # JPEG has no alpha: flatten onto white, as it looks in a viewer
        a = data[..., -1:].astype(np.float32) / 255
        data = np.rint(data[..., :-1] * a + 255 * (1 - a)).astype(np.uint8)
    options = {"quality": quality, "subsampling": 0 if quality >= 90 else 2}  # 0 = 4:4:4
    _pil_save(fp, data, "JPEG", photo, settings, dpi=photo.dpi, **options)


def _write_webp(fp: BinaryIO, photo: Photo, settings: dict | None, quality: int) -> None:
    data = _to_uint8(photo.data)
    if photo.is_gray:  # WebP has no gray modes
        data = np.concatenate([np.repeat(data[..., :1], 3, axis=2), data[..., 1:]], axis=2)
    lossless = quality == 100
    # exact: keep the colour under fully transparent pixels when lossless
    _pil_save(fp, data, "WEBP", photo, settings, quality=quality, lossless=lossless, exact=lossless)


def _pil_save(fp, data, fmt, photo, settings, **options) -> None:
    """Pillow encode with ICC, EXIF and settings (as XMP); None options are left out."""
    if photo.icc_profile:
        options["icc_profile"] = photo.icc_profile
    if photo.exif:
        options["exif"] = photo.exif if fmt == "JPEG" else _strip_exif_header(photo.exif)
    if settings is not None:
        options["xmp"] = _xmp_packet(settings)
    options = {k: v for k, v in options.items() if v is not None}
    _pil_image(data).save(fp, fmt, **options)


def _xmp_packet(settings: dict[str, str]) -> bytes:
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description rdf:about="" xmlns:dipstudio="{_XMP_NS}">'
        f"<dipstudio:settings>{escape(json.dumps(settings))}</dipstudio:settings>"
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    ).encode()


def _strip_exif_header(exif: bytes) -> bytes:
    return exif.removeprefix(_EXIF_HEADER)


def _to_uint8(data: np.ndarray) -> np.ndarray:
    if data.dtype == np.uint8:
        return data
    return np.rint(data / np.float32(257)).astype(np.uint8)


def _pil_image(data: np.ndarray) -> Image.Image:
    return Image.fromarray(np.ascontiguousarray(data[..., 0] if data.shape[2] == 1 else data))


_WRITERS = {"PNG": _write_png, "TIFF": _write_tiff, "JPEG": _write_jpeg, "WEBP": _write_webp}
