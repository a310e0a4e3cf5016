"""Encode photos: one writer per format, each given a photo whose metadata is final."""

from __future__ import annotations

import dataclasses
import io
import os
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pillow_heif
from PIL import Image
from PIL.TiffImagePlugin import ImageFileDirectory_v2

from .. import __version__
from . import metadata as md
from .atomic import write_atomic
from .formats import SAVE_FORMATS, WRITABLE
from .photo import ImageError, Photo, to_uint8

SOFTWARE = f"DIP Studio {__version__}"
# 16-bit photos go into HEIC at 12 bits, the most HEVC's common profiles hold (10 otherwise).
pillow_heif.options.SAVE_HDR_TO_12_BIT = True


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
    few readers support it); HEIC keeps up to 12 bits; JPEG, WebP and AVIF store 8 bits and use
    `quality` (WebP is lossless at 100). JPEG has no alpha, so the photo is flattened onto
    white; WebP, HEIC and AVIF have no gray here, so gray is written as RGB. ICC profile, EXIF,
    XMP and DPI are kept where the format has room (IPTC-IIM in PNG, TIFF and JPEG; DPI in PNG,
    TIFF and JPEG); EXIF and XMP get orientation 1 and the photo's pixel size, XMP a history
    entry. `metadata` (restore settings; values become strings) goes into XMP as
    `dipstudio:settings` for `read_metadata`. `strip_metadata` writes a bare file: no ICC
    profile, EXIF, XMP, IPTC, DPI, text or settings. Returns the path written.
    """
    path = Path(path)
    if not path.suffix:
        path = path.with_suffix(".png")
    fmt = SAVE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ImageError(f"{path}: unknown file type '{path.suffix}'; use {WRITABLE}.")
    if not 1 <= quality <= 100:
        raise ValueError(f"quality must be 1..100, got {quality}")
    settings = None if metadata is None else {str(k): str(v) for k, v in metadata.items()}
    if strip_metadata:
        photo = dataclasses.replace(
            photo, icc_profile=None, exif=None, dpi=None, text={}, xmp=None, iptc=None
        )
        settings = None
    final = with_final_metadata(photo, settings)
    writer = WRITERS[fmt]
    return write_atomic(path, lambda fp: writer(fp, final, quality), overwrite)


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


def write_png(fp: BinaryIO, photo: Photo, settings: dict[str, str] | None = None) -> None:
    """Encode `photo` as PNG (metadata as `save_image` writes it) into an open binary file."""
    _write_png(fp, with_final_metadata(photo, settings), 95)


def with_final_metadata(photo: Photo, settings: dict[str, str] | None) -> Photo:
    """`photo` with EXIF and XMP updated for its size, orientation 1, history and `settings`."""
    exif = md.fit_exif(photo.exif, photo.width, photo.height) if photo.exif else None
    xmp = md.updated_xmp(photo.xmp, photo.width, photo.height, settings, SOFTWARE)
    text = {k: v for k, v in photo.text.items() if k != md.SETTINGS_KEY}
    return dataclasses.replace(photo, exif=exif, xmp=xmp, text=text)


# ---------------------------------------------------------------------------------- PNG


def _write_png(fp: BinaryIO, photo: Photo, quality: int) -> None:
    chunks = []
    if photo.icc_profile:
        chunks.append(_chunk(b"iCCP", b"ICC Profile\0\0" + zlib.compress(photo.icc_profile)))
    if photo.dpi:
        ppm = [round(d / 0.0254) for d in photo.dpi]  # pixels per metre
        chunks.append(_chunk(b"pHYs", struct.pack(">IIB", *ppm, 1)))
    if photo.exif:
        chunks.append(_chunk(b"eXIf", md.strip_exif_header(photo.exif)))
    if photo.xmp:  # iTXt, uncompressed, as the XMP specification asks
        chunks.append(_chunk(b"iTXt", md.PNG_XMP_KEY.encode() + b"\0\0\0\0\0" + photo.xmp))
    if photo.iptc:
        chunks.append(_chunk(*md.png_ztxt(md.PNG_IPTC_KEY, md.png_raw_profile(photo.iptc))))
    chunks += [_text_chunk(k, v) for k, v in photo.text.items()]
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


# ---------------------------------------------------------------------------------- TIFF


def _write_tiff(fp: BinaryIO, photo: Photo, quality: int) -> None:
    """Deflate-compressed TIFF written with Pillow's IFD writer. Not tifffile: its writer
    documents that it cannot write EXIF and GPS sub-IFDs; Pillow's own TIFF encoder has no
    16-bit RGB and its libtiff path fails on EXIF sub-IFDs."""
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
            ifd[tag] = exif.get_ifd(tag) if tag in md.TIFF_SUB_IFDS else value
    if photo.icc_profile:
        ifd[md.TIFF_ICC] = photo.icc_profile
    if photo.xmp:
        ifd[md.TIFF_XMP] = photo.xmp
    if photo.iptc:
        ifd[md.TIFF_IPTC] = photo.iptc
        ifd.tagtype[md.TIFF_IPTC] = 7  # UNDEFINED: the records' bytes as they are
    if photo.dpi:
        ifd[282], ifd[283] = photo.dpi
        ifd[296] = 2  # inches
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


# ---------------------------------------------------------------------------------- lossy


def _write_jpeg(fp: BinaryIO, photo: Photo, quality: int) -> None:
    data = to_uint8(photo.data)
    if photo.has_alpha:  # JPEG has no alpha: flatten onto white, as it looks in a viewer
        a = data[..., -1:].astype(np.float32) / 255
        data = np.rint(data[..., :-1] * a + 255 * (1 - a)).astype(np.uint8)
    options = {"quality": quality, "subsampling": 0 if quality >= 90 else 2}  # 0 = 4:4:4
    extended = []
    if photo.xmp and len(photo.xmp) > md.JPEG_XMP_MAX:
        main, extended = md.split_jpeg_xmp(photo.xmp)
        photo = dataclasses.replace(photo, xmp=main)
    buf = io.BytesIO()
    _pil_save(buf, data, "JPEG", photo, dpi=photo.dpi, **options)
    jpeg = buf.getvalue()
    for segment in extended + ([md.photoshop_app13(photo.iptc)] if photo.iptc else []):
        jpeg = md.insert_jpeg_segment(jpeg, segment)
    fp.write(jpeg)


def _write_webp(fp: BinaryIO, photo: Photo, quality: int) -> None:
    lossless = quality == 100
    # exact: keep the colour under fully transparent pixels when lossless
    _pil_save(fp, _rgb8(photo.data), "WEBP", photo, quality=quality, lossless=lossless,
              exact=lossless)


def _write_avif(fp: BinaryIO, photo: Photo, quality: int) -> None:
    _pil_save(fp, _rgb8(photo.data), "AVIF", photo, quality=quality)


def _write_heif(fp: BinaryIO, photo: Photo, quality: int) -> None:
    data = _rgb(photo.data)
    h, w, c = data.shape
    mode = ("RGB", "RGBA")[c - 3] + (";16" if data.dtype == np.uint16 else "")
    heif = pillow_heif.from_bytes(mode=mode, size=(w, h), data=np.ascontiguousarray(data).tobytes())
    options = {"icc_profile": photo.icc_profile, "exif": photo.exif, "xmp": photo.xmp}
    options = {k: v for k, v in options.items() if v is not None}
    heif.save(fp, quality=quality, chroma=444 if quality >= 90 else 420, **options)


def _rgb(data: np.ndarray) -> np.ndarray:
    """Gray as RGB (and gray+alpha as RGBA) for formats without gray modes."""
    if data.shape[2] > 2:
        return data
    return np.concatenate([np.repeat(data[..., :1], 3, axis=2), data[..., 1:]], axis=2)


def _rgb8(data: np.ndarray) -> np.ndarray:
    return _rgb(to_uint8(data))


def _pil_save(fp, data, fmt, photo, **options) -> None:
    """Pillow encode with ICC, EXIF and XMP; None options are left out."""
    if photo.icc_profile:
        options["icc_profile"] = photo.icc_profile
    if photo.exif:
        options["exif"] = photo.exif if fmt == "JPEG" else md.strip_exif_header(photo.exif)
    if photo.xmp:
        options["xmp"] = photo.xmp
    options = {k: v for k, v in options.items() if v is not None}
    _pil_image(data).save(fp, fmt, **options)


def _pil_image(data: np.ndarray) -> Image.Image:
    return Image.fromarray(np.ascontiguousarray(data[..., 0] if data.shape[2] == 1 else data))


WRITERS = {
    "PNG": _write_png,
    "TIFF": _write_tiff,
    "JPEG": _write_jpeg,
    "WEBP": _write_webp,
    "HEIF": _write_heif,
    "AVIF": _write_avif,
}
