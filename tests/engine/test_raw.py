"""Camera RAW through LibRaw: a DNG written here (dip_engine.selftest.write_dng) is developed to
16-bit sRGB with the camera's white balance; bad RAW files are one-line errors."""

import io

import numpy as np
import pytest
from PIL import Image, ImageCms

from dip_engine import cli, imageio
from dip_engine.imageio import ImageError, load_image, save_image
from dip_engine.selftest import write_dng

GREY = (slice(40, 56), slice(8, 40))  # rows, columns of plain grey in write_dng's scene
RED = (slice(12, 20), slice(12, 36))


def mean_rgb(data, where):
    return data[where].reshape(-1, 3).mean(axis=0)


def test_dng_is_developed_to_16_bit_srgb_with_the_camera_white_balance(tmp_path):
    photo = load_image(write_dng(tmp_path / "shot.dng"))
    assert photo.data.shape == (64, 96, 3) and photo.data.dtype == np.uint16
    assert photo.format == "RAW"
    # the sensor saw grey at half the sensitivity in red and blue: with the recorded white
    # balance applied it is neutral again, at sRGB's encoding of 25 % linear (0.537)
    grey = mean_rgb(photo.data, GREY) / 65535
    np.testing.assert_allclose(grey, 0.537, atol=0.01)
    red = mean_rgb(photo.data, RED) / 65535  # linear (0.6, 0.1, 0.1) in sRGB
    np.testing.assert_allclose(red, (0.797, 0.349, 0.349), atol=0.02)
    profile = ImageCms.ImageCmsProfile(io.BytesIO(photo.icc_profile))
    assert "sRGB" in ImageCms.getProfileDescription(profile)
    assert "developed with LibRaw" in photo.developed and "white balance" in photo.developed
    assert "\n" not in photo.developed
    exif = Image.Exif()
    exif.load(photo.exif)
    assert (exif[0x010F], exif[0x0110]) == ("DIP Studio", "Selftest sensor")


def test_a_different_white_balance_is_what_makes_grey_neutral(tmp_path):
    # the same scene through a sensor with a strong blue deficit, recorded as such
    photo = load_image(write_dng(tmp_path / "warm.dng", gains=(0.9, 1.0, 0.3)))
    grey = mean_rgb(photo.data, GREY)
    assert np.ptp(grey) / grey.mean() < 0.02


def test_developed_raw_saves_as_16_bit_png_and_tiff(tmp_path):
    photo = load_image(write_dng(tmp_path / "shot.dng"))
    for ext in ("png", "tif"):
        back = load_image(save_image(photo, tmp_path / f"out.{ext}"))
        assert back.data.dtype == np.uint16
        np.testing.assert_array_equal(back.data, photo.data)
        assert back.icc_profile == photo.icc_profile


def test_dng_under_another_name_is_still_developed(tmp_path):
    dng = write_dng(tmp_path / "shot.dng")
    for name in ("shot.tif", "shot.bin"):
        other = tmp_path / name
        other.write_bytes(dng.read_bytes())
        assert load_image(other).data.dtype == np.uint16


@pytest.mark.parametrize("name, make, words", [
    ("truncated.dng", lambda p: p.read_bytes()[: len(p.read_bytes()) // 2], "damaged or incomplete"),
    ("junk.nef", lambda p: b"this is not a raw file " * 50, "not a camera RAW file"),
    ("junk.cr3", lambda p: bytes(range(256)) * 20, "not a camera RAW file"),
])
def test_bad_raw_is_one_line_error(tmp_path, name, make, words):
    dng = write_dng(tmp_path / "shot.dng")
    path = tmp_path / name
    path.write_bytes(make(dng))
    with pytest.raises(ImageError) as err:
        load_image(path)
    msg = str(err.value)
    assert "\n" not in msg and name in msg and words in msg


def test_unknown_file_names_what_is_supported(tmp_path):
    path = tmp_path / "notes.xyz"
    path.write_bytes(b"hello " * 100)
    with pytest.raises(ImageError) as err:
        load_image(path)
    msg = str(err.value)
    assert "not an image file" in msg and "HEIC" in msg and "camera RAW" in msg and "\n" not in msg


def test_cli_denoises_a_dng_into_a_16_bit_png_and_says_how_it_was_developed(tmp_path, capsys):
    dng = write_dng(tmp_path / "shot.dng")
    out = tmp_path / "clean.png"
    code = cli.main(["denoise", str(dng), "-o", str(out), "--preset", "fast", "--iters", "2",
                     "--channels", "8", "--seed", "1"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "shot.dng is a camera RAW file" in err and "developed with LibRaw" in err
    back = imageio.load_image(out)
    assert back.data.dtype == np.uint16 and back.data.shape == (64, 96, 3)


def test_project_keeps_the_raw_file_and_develops_it_the_same_way(tmp_path):
    from dip_engine.project import Project, load_project, save_project

    dng = write_dng(tmp_path / "shot.dng")
    photo = load_image(dng)
    saved = save_project(Project(photo, {"task": "denoise"}, photo_path=str(dng)), tmp_path / "p.dipproj")
    dng.unlink()  # the project holds the RAW file itself
    again = load_project(saved).photo
    np.testing.assert_array_equal(again.data, photo.data)
    assert again.developed is not None and again.icc_profile == photo.icc_profile
