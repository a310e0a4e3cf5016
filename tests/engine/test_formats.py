"""HEIC/HEIF and AVIF in and out; TIFFs from other programs that Pillow cannot read (tifffile)."""

import io

import cv2
import numpy as np
import pillow_heif
import pytest
import tifffile
from PIL import Image

from dip_engine.imageio import ImageError, Photo, load_image, save_image
from tests.engine.test_imageio import wide_profile


def smooth(h=48, w=64, c=3, dtype=np.uint8):
    """A smooth test card (lossy codecs keep it closely) with a bright top-left block."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    planes = [x / (w - 1), y / (h - 1), 0.5 + 0.3 * np.sin((x + y) / 9)][:c]
    if c == 4:
        planes.append(0.25 + 0.5 * x / (w - 1))
    img = np.stack(planes[:c], axis=2)
    img[:12, :20, : min(c, 3)] = 0.95
    return np.rint(img * np.iinfo(dtype).max).astype(dtype)


def mean_error(a, b):
    return np.abs(a.astype(np.float64) - b.astype(np.float64)).mean()


# ------------------------------------------------------------------------------ HEIC/HEIF


@pytest.mark.parametrize("channels", [3, 4])
def test_heic_8_bit_round_trip_with_icc(tmp_path, channels):
    data = smooth(c=channels)
    icc = wide_profile()
    back = load_image(save_image(Photo(data, icc_profile=icc), tmp_path / "x.heic", quality=95))
    assert back.format == "HEIF" and back.data.dtype == np.uint8 and back.data.shape == data.shape
    assert mean_error(back.data, data) < 2
    assert back.icc_profile == icc


def test_heic_keeps_12_of_16_bits(tmp_path):
    data = smooth(dtype=np.uint16)
    back = load_image(save_image(Photo(data), tmp_path / "x.heic", quality=100))
    assert back.data.dtype == np.uint16
    assert pillow_heif.open_heif(tmp_path / "x.heic").info["bit_depth"] == 12
    # far finer than 8 bits could hold (one 8-bit step is 257)
    assert mean_error(back.data, data) < 100
    assert len(np.unique(back.data[..., 0])) > 256


def test_heic_10_bit_from_another_program_loads_as_16_bit(tmp_path):
    data = smooth(dtype=np.uint16)
    pillow_heif.options.SAVE_HDR_TO_12_BIT = False
    try:
        heif = pillow_heif.from_bytes(mode="RGB;16", size=(64, 48), data=data.tobytes())
        heif.save(tmp_path / "ten.heic", quality=100, chroma=444)
    finally:
        pillow_heif.options.SAVE_HDR_TO_12_BIT = True
    assert pillow_heif.open_heif(tmp_path / "ten.heic").info["bit_depth"] == 10
    back = load_image(tmp_path / "ten.heic")
    assert back.data.dtype == np.uint16 and mean_error(back.data, data) < 200


def test_heic_orientation_is_applied_once(tmp_path):
    stored = smooth()
    exif = Image.Exif()
    exif[0x0112] = 6  # turn 90 degrees clockwise to view: the bright block ends top-right
    Image.fromarray(stored).save(tmp_path / "phone.heic", exif=exif.tobytes(), quality=95)
    photo = load_image(tmp_path / "phone.heic")
    assert photo.data.shape == (64, 48, 3)
    assert photo.data[:16, -10:].mean() > 200 and photo.data[:16, :10].mean() < 200
    again = load_image(save_image(photo, tmp_path / "again.heic"))
    assert again.data.shape == (64, 48, 3) and mean_error(again.data, photo.data) < 3


def test_gray_photo_saves_as_rgb_heic_and_avif(tmp_path):
    gray = smooth(c=1)
    for ext in ("heic", "avif"):
        back = load_image(save_image(Photo(gray), tmp_path / f"g.{ext}", quality=95))
        assert back.data.shape == (48, 64, 3)
        assert mean_error(back.data, np.repeat(gray, 3, axis=2)) < 3


def test_avif_round_trip(tmp_path):
    data = smooth(c=4)
    icc = wide_profile()
    back = load_image(save_image(Photo(data, icc_profile=icc), tmp_path / "x.avif", quality=95))
    assert back.format == "AVIF" and back.data.shape == data.shape and back.icc_profile == icc
    assert mean_error(back.data, data) < 3


def test_truncated_heic_is_one_line_error(tmp_path):
    path = save_image(Photo(smooth()), tmp_path / "x.heic")
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(ImageError) as err:
        load_image(path)
    assert "\n" not in str(err.value) and "x.heic" in str(err.value)


# ------------------------------------------------------------------------------ TIFF


def test_16_bit_gray_alpha_tiff_from_another_program(tmp_path):
    data = np.random.default_rng(0).integers(0, 65535, (40, 50, 2), dtype=np.uint16, endpoint=True)
    icc = wide_profile()
    tifffile.imwrite(tmp_path / "la.tif", data, photometric="minisblack", extrasamples=["unassalpha"],
                     compression="zlib", predictor=True, iccprofile=icc, resolution=(300, 300),
                     resolutionunit="INCH")
    photo = load_image(tmp_path / "la.tif")
    assert photo.format == "TIFF" and photo.data.dtype == np.uint16
    np.testing.assert_array_equal(photo.data, data)
    assert photo.icc_profile == icc and photo.dpi == (300.0, 300.0)


def test_float_tiff_loads_as_16_bit(tmp_path):
    values = np.random.default_rng(1).random((40, 50, 3)).astype(np.float32)
    values[0, 0] = (-0.5, 1.5, np.nan)  # outside [0, 1] is clipped, NaN is black
    tifffile.imwrite(tmp_path / "f.tif", values, photometric="rgb")
    photo = load_image(tmp_path / "f.tif")
    assert photo.data.dtype == np.uint16
    np.testing.assert_array_equal(photo.data[0, 0], [0, 65535, 0])
    assert np.abs(photo.data[1:] / 65535 - values[1:]).max() < 1e-5


def test_tiled_bigtiff_planar_16_bit(tmp_path):
    data = np.random.default_rng(2).integers(0, 65535, (3, 70, 90), dtype=np.uint16, endpoint=True)
    tifffile.imwrite(tmp_path / "big.tif", data, photometric="rgb", planarconfig="separate",
                     bigtiff=True, tile=(32, 32), compression="zlib")
    photo = load_image(tmp_path / "big.tif")
    np.testing.assert_array_equal(photo.data, np.moveaxis(data, 0, -1))


def test_lzw_16_bit_rgb_tiff(tmp_path):
    # tifffile needs imagecodecs for LZW; OpenCV's libtiff decodes it instead
    data = np.random.default_rng(3).integers(0, 65535, (40, 50, 3), dtype=np.uint16, endpoint=True)
    cv2.imwrite(str(tmp_path / "lzw.tif"), data[..., ::-1], [cv2.IMWRITE_TIFF_COMPRESSION, 5])
    np.testing.assert_array_equal(load_image(tmp_path / "lzw.tif").data, data)


@pytest.mark.parametrize("compression", ["tiff_lzw", "tiff_adobe_deflate", "packbits"])
def test_8_bit_compressed_tiffs_from_pillow(tmp_path, compression):
    data = smooth()
    Image.fromarray(data).save(tmp_path / "c.tif", compression=compression)
    np.testing.assert_array_equal(load_image(tmp_path / "c.tif").data, data)


def test_tiff_orientation_from_tifffile_path(tmp_path):
    stored = np.ascontiguousarray(np.rot90(smooth(dtype=np.uint16), 1))
    alpha = np.full(stored.shape[:2] + (1,), 65535, np.uint16)
    tifffile.imwrite(tmp_path / "o.tif", np.concatenate([stored, alpha], axis=2), photometric="rgb",
                     extrasamples=["unassalpha"], extratags=[(274, "H", 1, 6, True)])
    photo = load_image(tmp_path / "o.tif")
    np.testing.assert_array_equal(photo.data[..., :3], smooth(dtype=np.uint16))


def test_tiff_written_here_is_read_by_tifffile(tmp_path):
    data = smooth(c=4, dtype=np.uint16)
    out = save_image(Photo(data, icc_profile=wide_profile(), dpi=(240, 240)), tmp_path / "x.tif")
    with tifffile.TiffFile(out) as tif:
        page = tif.pages.first
        np.testing.assert_array_equal(page.asarray(), data)
        assert page.tags["InterColorProfile"].value == wide_profile()
    assert Image.open(io.BytesIO(out.read_bytes())).info["dpi"] == (240, 240)
