"""dip_engine.imageio: faithful load/save. Every fixture is generated in tmp_path."""

import errno
import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image, ImageCms, ImageOps

from dip_engine import imageio
from dip_engine.imageio import writers
from dip_engine.imageio import (
    ImageError,
    Photo,
    load_image,
    load_mask,
    read_metadata,
    save_image,
    save_mask,
)

RNG = np.random.default_rng(1234)
MAKE, MODEL = 0x010F, 0x0110
ORIENTATION = 0x0112


def noise(h=24, w=32, c=3, dtype=np.uint8):
    return RNG.integers(0, np.iinfo(dtype).max, (h, w, c), dtype=dtype, endpoint=True)


def asymmetric(h=48, w=64):
    """An upright RGB test card: a gradient plus a bright block in the top-left corner."""
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 255 // w, y * 255 // h, np.full_like(x, 60)], axis=2).astype(np.uint8)
    img[:12, :20] = (250, 250, 250)
    return img


def wide_profile() -> bytes:
    """A valid RGB ICC profile that is not sRGB: Pillow's sRGB with a different red primary."""
    icc = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    (count,) = struct.unpack_from(">I", icc, 128)
    for i in range(count):
        sig, offset, _ = struct.unpack_from(">4sII", icc, 132 + 12 * i)
        if sig == b"rXYZ":
            x, y, z = struct.unpack_from(">iii", icc, offset + 8)
            struct.pack_into(">iii", icc, offset + 8, x + 4000, y - 2000, z)
    icc[84:100] = bytes(16)  # profile ID (an MD5) is optional: zero means "not computed"
    ImageCms.ImageCmsProfile(io.BytesIO(bytes(icc)))  # still parses
    return bytes(icc)


def camera_exif(orientation=1) -> Image.Exif:
    exif = Image.Exif()
    exif[MAKE] = "Canon"
    exif[MODEL] = "EOS 5D"
    exif[ORIENTATION] = orientation
    exif.get_ifd(0x8769)[0x9003] = "2021:06:01 12:00:00"  # DateTimeOriginal
    return exif


def write_tiff(path, data, **kwargs):
    """A TIFF written by another program (tifffile), deflate-compressed unless told otherwise."""
    kwargs.setdefault("compression", "zlib")
    photometric = "rgb" if data.ndim == 3 and data.shape[2] >= 3 else "minisblack"
    tifffile.imwrite(path, data, photometric=photometric, **kwargs)
    return path


def one_line_naming(err: pytest.ExceptionInfo, path: Path) -> str:
    msg = str(err.value)
    assert "\n" not in msg and path.name in msg
    return msg


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("ext", ["png", "tif"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_lossless_round_trip_is_bit_exact(tmp_path, ext, dtype, channels):
    data = noise(c=channels, dtype=dtype)
    out = save_image(Photo(data), tmp_path / f"x.{ext}")
    back = load_image(out)
    assert back.data.dtype == dtype
    assert back.format == {"png": "PNG", "tif": "TIFF"}[ext]
    if ext == "tif" and channels == 2 and dtype == np.uint16:
        # documented: 16-bit gray+alpha TIFF is written as RGBA (few readers support it)
        np.testing.assert_array_equal(back.data, data[..., [0, 0, 0, 1]])
    else:
        np.testing.assert_array_equal(back.data, data)


def test_16bit_rgb_png_readable_by_other_decoders(tmp_path):
    import cv2

    data = noise(c=3, dtype=np.uint16)
    out = save_image(Photo(data), tmp_path / "x.png")
    decoded = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(decoded[..., ::-1], data)


def test_palette_png_loads_as_rgb_or_rgba(tmp_path):
    idx = RNG.integers(0, 4, (16, 20), dtype=np.uint8)
    im = Image.fromarray(idx, "P")
    im.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30])
    im.save(tmp_path / "p.png")
    photo = load_image(tmp_path / "p.png")
    np.testing.assert_array_equal(photo.data, np.asarray(im.convert("RGB")))
    im.save(tmp_path / "pt.png", transparency=2)
    photo = load_image(tmp_path / "pt.png")
    assert photo.data.shape == (16, 20, 4)
    np.testing.assert_array_equal(photo.data[..., 3], np.where(idx == 2, 0, 255))


def test_one_bit_png_loads_as_gray(tmp_path):
    bits = RNG.integers(0, 2, (16, 16)).astype(bool)
    Image.fromarray(bits).save(tmp_path / "b.png")
    photo = load_image(tmp_path / "b.png")
    assert photo.data.shape == (16, 16, 1) and photo.is_gray
    np.testing.assert_array_equal(photo.data[..., 0], bits * 255)


@pytest.mark.parametrize("fmt", ["WEBP", "BMP"])
def test_webp_and_bmp_load(tmp_path, fmt):
    data = noise()
    path = tmp_path / f"x.{fmt.lower()}"
    Image.fromarray(data).save(path, fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    photo = load_image(path)
    assert photo.format == fmt
    np.testing.assert_array_equal(photo.data, data)


def test_lossy_formats_store_8_bits_and_webp_100_is_lossless(tmp_path):
    data = noise(c=4, dtype=np.uint16)
    back = load_image(save_image(Photo(data), tmp_path / "x.webp", quality=100))
    assert back.data.dtype == np.uint8
    np.testing.assert_array_equal(back.data, np.rint(data / 257).astype(np.uint8))
    jpeg = load_image(save_image(Photo(data), tmp_path / "x.jpg"))
    assert jpeg.data.dtype == np.uint8 and jpeg.data.shape == (24, 32, 3)  # no alpha in JPEG


def test_jpeg_flattens_alpha_onto_white(tmp_path):
    data = np.zeros((16, 16, 4), np.uint8)  # fully transparent black
    back = load_image(save_image(Photo(data), tmp_path / "x.jpg"))
    assert back.data.min() >= 250


# --------------------------------------------------------------------------- orientation


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_matches_pillow(tmp_path, orientation):
    stored = asymmetric()
    im = Image.fromarray(stored)
    im.save(tmp_path / "o.png", exif=camera_exif(orientation).tobytes())
    photo = load_image(tmp_path / "o.png")
    expected = np.asarray(ImageOps.exif_transpose(Image.open(tmp_path / "o.png")))
    np.testing.assert_array_equal(photo.data, expected)
    exif = Image.Exif()
    exif.load(photo.exif)
    assert exif[ORIENTATION] == 1 and exif[MAKE] == "Canon"


def test_jpeg_orientation_6_is_upright_and_saved_with_orientation_1(tmp_path):
    upright = asymmetric()
    stored = np.rot90(upright, 1)  # orientation 6: the viewer turns it 90 degrees clockwise
    Image.fromarray(np.ascontiguousarray(stored)).save(
        tmp_path / "cam.jpg", quality=95, exif=camera_exif(6).tobytes()
    )
    photo = load_image(tmp_path / "cam.jpg")
    assert photo.data.shape == upright.shape
    assert np.abs(photo.data.astype(int) - upright).mean() < 3
    for ext in ("jpg", "png", "tif", "webp"):
        out = save_image(photo, tmp_path / f"out.{ext}")
        exif = Image.open(out).getexif()
        assert exif[ORIENTATION] == 1, ext
        assert (exif[MAKE], exif[MODEL]) == ("Canon", "EOS 5D"), ext
        assert exif.get_ifd(0x8769)[0x9003] == "2021:06:01 12:00:00", ext
        assert load_image(out).data.shape == upright.shape, ext


def test_orientation_swaps_dpi(tmp_path):
    Image.fromarray(asymmetric()).save(
        tmp_path / "o.jpg", dpi=(300, 150), exif=camera_exif(8).tobytes()
    )
    assert load_image(tmp_path / "o.jpg").dpi == (150.0, 300.0)


# --------------------------------------------------------------------------- metadata


@pytest.mark.parametrize("ext", ["png", "tif"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_icc_profile_exif_and_dpi_are_kept(tmp_path, ext, dtype):
    icc = wide_profile()
    photo = Photo(noise(dtype=dtype), icc_profile=icc, exif=camera_exif().tobytes(), dpi=(300, 150))
    back = load_image(save_image(photo, tmp_path / f"x.{ext}"))
    assert back.icc_profile == icc
    assert back.dpi == (300.0, 150.0)
    assert Image.open(tmp_path / f"x.{ext}").getexif()[MODEL] == "EOS 5D"


@pytest.mark.parametrize("ext", ["jpg", "webp"])
def test_icc_profile_kept_in_lossy_formats(tmp_path, ext):
    icc = wide_profile()
    back = load_image(save_image(Photo(noise(), icc_profile=icc), tmp_path / f"x.{ext}"))
    assert back.icc_profile == icc


def test_icc_profile_read_from_pillow_written_files(tmp_path):
    icc = wide_profile()
    Image.fromarray(noise()).save(tmp_path / "x.png", icc_profile=icc)
    Image.fromarray(noise()).save(tmp_path / "x.jpg", icc_profile=icc)
    assert load_image(tmp_path / "x.png").icc_profile == icc
    assert load_image(tmp_path / "x.jpg").icc_profile == icc


SETTINGS = {
    "task": "inpaint",
    "preset": "fast",
    "seed": "7",
    "iterations": "1500",
    "stopped_by": "es-wmv",
    "version": "0.1.0",
    "note": "caf\u00e9 <&>",
}


@pytest.mark.parametrize("ext", ["png", "tif", "jpg", "webp"])
def test_settings_metadata_round_trip(tmp_path, ext):
    out = save_image(Photo(noise()), tmp_path / f"x.{ext}", metadata=SETTINGS)
    assert read_metadata(out) == SETTINGS
    plain = save_image(Photo(noise()), tmp_path / f"plain.{ext}")
    assert read_metadata(plain) == {}


def test_settings_metadata_16bit_png(tmp_path):
    out = save_image(Photo(noise(dtype=np.uint16)), tmp_path / "x.png", metadata={"seed": 3})
    assert read_metadata(out) == {"seed": "3"}


def test_png_text_is_kept(tmp_path):
    photo = Photo(noise(), text={"Author": "Zo\u00eb", "Title": "\u65e5\u672c"})
    for dtype in (np.uint8, np.uint16):
        back = load_image(
            save_image(photo.with_data(noise(dtype=dtype)), tmp_path / f"{dtype.__name__}.png")
        )
        assert back.text == photo.text


@pytest.mark.parametrize("ext", ["png", "tif", "jpg", "webp"])
def test_strip_metadata_removes_everything(tmp_path, ext):
    photo = Photo(
        noise(),
        icc_profile=wide_profile(),
        exif=camera_exif().tobytes(),
        dpi=(300, 300),
        text={"Author": "me"},
    )
    out = save_image(photo, tmp_path / f"x.{ext}", metadata=SETTINGS, strip_metadata=True)
    back = load_image(out)
    assert back.icc_profile is None and back.exif is None and back.dpi is None
    assert back.text == {} and read_metadata(out) == {}


# --------------------------------------------------------------------------- CMYK


def cmyk_jpeg(path, **kwargs):
    cmyk = np.zeros((16, 16, 4), np.uint8)
    cmyk[:8] = (0, 255, 255, 0)  # red
    cmyk[8:] = (255, 0, 255, 0)  # green
    Image.fromarray(cmyk, "CMYK").save(path, quality=95, **kwargs)


def test_cmyk_jpeg_loads_as_rgb(tmp_path):
    cmyk_jpeg(tmp_path / "c.jpg")
    photo = load_image(tmp_path / "c.jpg")
    assert photo.data.shape == (16, 16, 3) and photo.icc_profile is None
    assert photo.data[2, 2, 0] > 200 and photo.data[2, 2, 1:].max() < 60
    assert photo.data[12, 2, 1] > 200 and photo.data[12, 2, [0, 2]].max() < 60


def test_cmyk_jpeg_with_unusable_profile_still_loads(tmp_path):
    cmyk_jpeg(tmp_path / "c.jpg", icc_profile=wide_profile())  # an RGB profile on CMYK data
    photo = load_image(tmp_path / "c.jpg")
    assert photo.data.shape == (16, 16, 3) and photo.icc_profile is None


# --------------------------------------------------------------------------- bad input


def png_header(path, w, h):
    """A PNG that declares w x h but holds almost no data (enough for Pillow's header read)."""
    ihdr = struct.pack(">IIBBBBB", w, h, 1, 0, 0, 0, 0)
    chunks = [
        writers._chunk(b"IHDR", ihdr),
        writers._chunk(b"IDAT", zlib.compress(b"\0")),
        writers._chunk(b"IEND", b""),
    ]
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"".join(chunks))
    return path


def truncated(path, fraction=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


BAD_FILES = {
    "missing": (lambda p: p / "nope.png", "not found"),
    "folder": (lambda p: p, "folder"),
    "empty": (lambda p: (p / "e.png").write_bytes(b"") and p / "e.png" or p / "e.png", "empty"),
    "text": (lambda p: (p / "t.png").write_text("hello") and p / "t.png", "not an image"),
    "gif": (lambda p: Image.fromarray(noise()).save(p / "g.gif") or p / "g.gif", "GIF"),
    "tiny": (
        lambda p: Image.fromarray(noise(7, 32)).save(p / "s.png") or p / "s.png",
        "minimum is 8x8",
    ),
    "wide": (lambda p: png_header(p / "w.png", 70000, 8), "65535 px a side"),
    "huge": (lambda p: png_header(p / "h.png", 20000, 20000), "250 megapixels"),
    "bomb": (lambda p: png_header(p / "b.png", 30000, 30000), "decompression bomb"),
    "truncated_jpeg": (
        lambda p: truncated(save_image(Photo(noise(64, 64)), p / "t.jpg")),
        "damaged",
    ),
    "truncated_png": (
        lambda p: truncated(save_image(Photo(noise(64, 64)), p / "t.png")),
        "damaged",
    ),
    "truncated_png16": (
        lambda p: truncated(save_image(Photo(noise(64, 64, dtype=np.uint16)), p / "t.png")),
        "damaged",
    ),
    "truncated_tif16": (
        lambda p: truncated(save_image(Photo(noise(64, 64, dtype=np.uint16)), p / "t.tif"), 0.8),
        "damaged",
    ),
    "signed_tiff": (
        lambda p: tifffile.imwrite(p / "s.tif", np.zeros((16, 16), np.int16)) or p / "s.tif",
        "not supported",
    ),
    "truncated_la16_tiff": (
        lambda p: truncated(write_tiff(p / "t.tif", noise(64, 64, 2, np.uint16), extrasamples=["unassalpha"]), 0.6),
        "damaged",
    ),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_input_is_one_line_image_error(tmp_path, case):
    make, words = BAD_FILES[case]
    path = make(tmp_path)
    limit = Image.MAX_IMAGE_PIXELS
    with pytest.raises(ImageError) as err:
        load_image(path)
    assert words in one_line_naming(err, path)
    assert Image.MAX_IMAGE_PIXELS == limit  # our raised limit stays local


def test_truncated_images_stay_refused():
    from PIL import ImageFile

    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


# --------------------------------------------------------------------------- saving


def test_unknown_extension_and_default_png(tmp_path):
    with pytest.raises(ImageError) as err:
        save_image(Photo(noise()), tmp_path / "x.gif")
    one_line_naming(err, tmp_path / "x.gif")
    assert save_image(Photo(noise()), tmp_path / "noext") == tmp_path / "noext.png"


def test_refuses_to_overwrite(tmp_path):
    path = save_image(Photo(noise()), tmp_path / "x.png")
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="already exists"):
        save_image(Photo(noise()), path)
    assert path.read_bytes() == before
    save_image(Photo(noise()), path, overwrite=True)
    assert path.read_bytes() != before


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(ImageError) as err:
        save_image(Photo(noise()), tmp_path / "no" / "x.png")
    assert "folder does not exist" in one_line_naming(err, tmp_path / "no")


def test_unwritable_folder_is_named(tmp_path, monkeypatch):
    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(imageio.os, "open", denied)
    with pytest.raises(ImageError) as err:
        save_image(Photo(noise()), tmp_path / "x.png")
    assert "Permission denied" in one_line_naming(err, tmp_path)


def test_new_file_permissions_follow_umask(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    path = save_image(Photo(noise()), tmp_path / "x.png")
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def leftovers(folder: Path):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_writer_failing_midway_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    path = save_image(Photo(noise()), tmp_path / "x.png")
    before = path.read_bytes()

    def half_then_fail(fp, photo, quality):
        fp.write(before[: len(before) // 2])
        raise RuntimeError("encoder crashed")

    monkeypatch.setitem(writers.WRITERS, "PNG", half_then_fail)
    with pytest.raises(RuntimeError):
        save_image(Photo(noise()), path, overwrite=True)
    assert path.read_bytes() == before and leftovers(tmp_path) == []
    with pytest.raises(RuntimeError):
        save_image(Photo(noise()), tmp_path / "new.png")
    assert not (tmp_path / "new.png").exists() and leftovers(tmp_path) == []


def test_pillow_encoder_failing_midway(tmp_path, monkeypatch):
    path = save_image(Photo(noise()), tmp_path / "x.jpg")
    before = path.read_bytes()

    def broken_save(self, fp, *args, **kwargs):
        fp.write(b"\xff\xd8\xff partial")
        raise OSError("encoder error -2 when writing image file")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError, match="encoder error"):
        save_image(Photo(noise()), path, overwrite=True)
    assert path.read_bytes() == before and leftovers(tmp_path) == []


def test_disk_full_is_an_image_error(tmp_path, monkeypatch):
    def full(fp, photo, quality):
        fp.write(b"x")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setitem(writers.WRITERS, "TIFF", full)
    with pytest.raises(ImageError) as err:
        save_image(Photo(noise()), tmp_path / "x.tif")
    assert "No space left" in one_line_naming(err, tmp_path)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- masks


def test_mask_polarities(tmp_path):
    fill = np.zeros((16, 24), bool)
    fill[4:9, 5:15] = True
    gray = np.where(fill, 255, 0).astype(np.uint8)
    Image.fromarray(gray).save(tmp_path / "l.png")
    Image.fromarray(fill).save(tmp_path / "1.png")
    Image.fromarray(np.stack([gray] * 3, 2)).save(tmp_path / "rgb.png")
    Image.fromarray(np.stack([gray] * 3 + [np.full_like(gray, 255)], 2)).save(
        tmp_path / "opaque.png"
    )
    # drawn in alpha only: black strokes on a transparent background
    Image.fromarray(np.stack([np.zeros_like(gray)] * 3 + [gray], 2)).save(tmp_path / "alpha.png")
    for name in ("l", "1", "rgb", "opaque", "alpha"):
        mask = load_mask(tmp_path / f"{name}.png", size=(24, 16))
        assert mask.dtype == bool and mask.shape == (16, 24), name
        np.testing.assert_array_equal(mask, fill, err_msg=name)


def test_mask_size_mismatch_names_both_sizes(tmp_path):
    path = save_mask(np.zeros((16, 24), bool), tmp_path / "m.png")
    with pytest.raises(ImageError) as err:
        load_mask(path, size=(32, 16))
    msg = one_line_naming(err, path)
    assert "24x16" in msg and "32x16" in msg


def test_mask_round_trip_and_orientation(tmp_path):
    fill = np.zeros((16, 24), bool)
    fill[:3, :5] = True
    path = save_mask(fill, tmp_path / "m.png")
    assert Image.open(path).mode == "L"
    np.testing.assert_array_equal(load_mask(path), fill)
    with pytest.raises(FileExistsError):
        save_mask(fill, path)
    Image.fromarray(np.rot90(fill, 1).astype(np.uint8) * 255).save(
        tmp_path / "o.png", exif=camera_exif(6).tobytes()
    )
    np.testing.assert_array_equal(load_mask(tmp_path / "o.png"), fill)


# --------------------------------------------------------------------------- Photo


def test_photo_properties_and_read_only_data():
    photo = Photo(noise(c=4, dtype=np.uint16))
    assert (photo.width, photo.height, photo.bit_depth, photo.max_value) == (32, 24, 16, 65535)
    assert photo.has_alpha and not photo.is_gray and photo.color_channels == 3
    assert photo.pixels.shape == (24, 32, 3) and photo.pixels.dtype == np.float32
    assert photo.alpha.shape == (24, 32) and 0 <= photo.alpha.min() <= photo.alpha.max() <= 1
    with pytest.raises(ValueError):
        photo.data[0, 0, 0] = 1
    with pytest.raises(ValueError):
        Photo(np.zeros((8, 8), np.uint8))  # must be 3-D
    with pytest.raises(ValueError):
        Photo(np.zeros((8, 8, 3), np.float32))
    gray = Photo(noise(c=2))
    assert gray.is_gray and gray.color_channels == 1 and gray.pixels.shape == (24, 32, 1)


def test_from_float_quantises_to_like():
    like8 = Photo(noise(4, 4, 3), icc_profile=b"icc", dpi=(72, 72), format="PNG")
    values = np.array([[-0.1, 0.0, 0.5, 1.2]], np.float32).repeat(4, 0)
    px = np.stack([values] * 3, 2)
    out = Photo.from_float(px, like=like8)
    np.testing.assert_array_equal(out.data[0, :, 0], [0, 0, 128, 255])
    assert out.data.dtype == np.uint8 and out.icc_profile == b"icc" and out.format == "PNG"
    like16 = like8.with_data(noise(4, 4, 3, np.uint16))
    out16 = Photo.from_float(px, like=like16)
    np.testing.assert_array_equal(out16.data[0, :, 0], [0, 0, 32768, 65535])
    nan = Photo.from_float(np.full((4, 4), np.nan, np.float32), like=like8)
    assert nan.data.shape == (4, 4, 1) and nan.data.max() == 0
    exact = Photo.from_float(like16.pixels, like=like16)
    np.testing.assert_array_equal(exact.data, like16.data)  # float round trip is lossless


def test_from_float_size_change_keeps_alpha_and_print_size():
    like = Photo(noise(8, 10, 4), dpi=(100, 100))
    same = Photo.from_float(like.pixels, like=like)
    np.testing.assert_array_equal(same.data, like.data)  # alpha kept bit-exact
    big = Photo.from_float(np.zeros((32, 40, 3), np.float32), like=like)
    assert big.data.shape == (32, 40, 4) and big.dpi == (400, 400)
    opaque = Photo.from_float(np.zeros((32, 40, 3)), np.ones((32, 40)), like=like)
    assert (opaque.data[..., 3] == 255).all()
    with pytest.raises(ValueError):
        Photo.from_float(np.zeros((32, 40, 3)), np.ones((8, 10)), like=like)


# ---------------------------------------------------------------------------------------------
# photos from bytes in memory (a project's members), and the one float <-> integer conversion


def photo_file(tmp_path: Path, kind: str) -> Path:
    if kind == "png16-rgba":
        return save_image(Photo(noise(c=4, dtype=np.uint16), icc_profile=wide_profile()), tmp_path / "a.png")
    if kind == "jpeg-rotated":
        Image.fromarray(asymmetric()).save(tmp_path / "a.jpg", exif=camera_exif(6), dpi=(300, 300))
        return tmp_path / "a.jpg"
    if kind == "tiff-float":
        return write_tiff(tmp_path / "a.tif", RNG.random((20, 30, 3)).astype(np.float32))
    if kind == "tiff-lzw16":   # decoded by OpenCV from the bytes
        import cv2
        cv2.imwrite(str(tmp_path / "a.tif"), noise(dtype=np.uint16), [cv2.IMWRITE_TIFF_COMPRESSION, 5])
        return tmp_path / "a.tif"
    if kind == "heic":
        return save_image(Photo(noise()), tmp_path / "a.heic")
    from dip_engine.selftest import write_dng
    return write_dng(tmp_path / "a.dng")


@pytest.mark.parametrize("kind", ["png16-rgba", "jpeg-rotated", "tiff-float", "tiff-lzw16", "heic", "dng"])
def test_photo_from_bytes_is_the_photo_from_its_file(tmp_path, kind):
    f = photo_file(tmp_path, kind)
    a, b = load_image(f), imageio.load_image_bytes(f.read_bytes(), f.name)
    np.testing.assert_array_equal(b.data, a.data)
    assert (b.icc_profile, b.exif, b.xmp, b.dpi, b.format, b.developed is None) == \
           (a.icc_profile, a.exif, a.xmp, a.dpi, a.format, a.developed is None)
    assert a.source == f and b.source is None


@pytest.mark.parametrize("blob", [b"", b"this is not a photo at all"])
def test_bytes_that_are_no_photo_are_a_one_line_error_with_their_name(blob):
    with pytest.raises(ImageError) as e:
        imageio.load_image_bytes(blob, "photo.jpg")
    assert str(e.value).startswith("photo.jpg: ") and "\n" not in str(e.value)


def test_every_level_survives_float_and_back():
    for dtype in (np.uint8, np.uint16):
        levels = np.arange(np.iinfo(dtype).max + 1).astype(dtype)[:, None]
        pixels = imageio.to_float(levels)
        assert pixels.dtype == np.float32 and pixels.max() == 1.0
        np.testing.assert_array_equal(imageio.to_samples(pixels, dtype), levels)


def test_to_samples_rounds_to_nearest_clips_and_blacks_out_nan():
    half = 0.5 / 255
    x = np.array([[half - 1e-7, half + 1e-7, -0.2, 1.7, np.nan, np.inf]])
    assert imageio.to_samples(x, np.uint8).tolist() == [[0, 1, 0, 255, 0, 255]]
    assert imageio.to_uint8(np.array([[0.5]], np.float32)).tolist() == [[128]]
    assert imageio.to_uint8(np.array([[32896, 65535]], np.uint16)).tolist() == [[128, 255]]


def test_to_samples_in_blocks_is_exact(monkeypatch):
    from dip_engine.imageio import photo as photo_module
    x = RNG.random((50, 40, 3)).astype(np.float32)
    exact = np.rint(x.astype(np.float64) * 65535).astype(np.uint16)
    np.testing.assert_array_equal(imageio.to_samples(x, np.uint16), exact)
    monkeypatch.setattr(photo_module, "_BLOCK", 7 * 40 * 3)   # 7 rows at a time, the last block shorter
    np.testing.assert_array_equal(imageio.to_samples(x, np.uint16), exact)
