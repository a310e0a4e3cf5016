"""The bench's cases: data folder option, validation cases built by our seeded code, stroke masks."""
from __future__ import annotations

import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from bench import cases, classical, run
from tests.conftest import smooth_image


@pytest.fixture(autouse=True)
def no_data_env(monkeypatch):
    """No $DIP_BENCH_DATA; what a test (or --data) sets is undone after it."""
    monkeypatch.setenv(cases.ENV, "")
    monkeypatch.delenv(cases.ENV)


@pytest.fixture
def data(tmp_path):
    """A data folder with two small validation photos (textured on the right)."""
    (tmp_path / "validation").mkdir()
    for name, seed in (("lake", 0), ("town", 1)):
        img = smooth_image(100, 130)
        img[:, 65:] += np.random.default_rng(seed).uniform(-0.1, 0.1, img[:, 65:].shape).astype(np.float32)
        Image.fromarray(np.clip(img * 255, 0, 255).astype(np.uint8)).save(tmp_path / "validation" / f"{name}.png")
    cases.use_data(tmp_path)
    return tmp_path


def _erode(mask: np.ndarray, size: int) -> float:
    """Share of the mask left after erosion by a disc `size` px across."""
    m = mask.astype(np.uint8)
    return cv2.erode(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))).sum() / m.sum()


def test_stroke_mask_is_seeded_thin_strokes():
    for seed in range(8):
        m = cases.stroke_mask(200, 300, seed)
        assert m.dtype == bool and m.shape == (200, 300)
        assert np.array_equal(m, cases.stroke_mask(200, 300, seed))
        assert 0.02 < m.mean() < 0.25
        assert _erode(m, 15) < 0.08   # at most 14 px wide: a 15 px disc fits only where strokes cross
        assert _erode(m, 7) > 0.3     # at least 8 px wide: most of it survives a 7 px disc
    assert not np.array_equal(cases.stroke_mask(200, 300, 0), cases.stroke_mask(200, 300, 1))


def test_stroke_mask_goes_where_the_weights_are():
    w = np.zeros((200, 300))
    w[:, 150:] = 1
    right = [cases.stroke_mask(200, 300, s, w)[:, 150:].mean() / cases.stroke_mask(200, 300, s, w).mean() / 2
             for s in range(10)]
    anywhere = [cases.stroke_mask(200, 300, s)[:, 150:].mean() / cases.stroke_mask(200, 300, s).mean() / 2
                for s in range(10)]
    assert np.mean(right) > 0.75 > np.mean(anywhere)


def test_data_folder_from_option_or_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(cases.ENV, str(tmp_path / "from_env"))
    assert cases.data_dir() == tmp_path / "from_env"
    cases.use_data(tmp_path / "from_option")  # --data wins, and subprocesses inherit it
    assert cases.data_dir() == (tmp_path / "from_option").resolve()
    with pytest.raises(cases.MissingData, match="--data DIR or set DIP_BENCH_DATA"):
        cases.select("val")


def test_missing_data_is_one_line_from_each_command(tmp_path, capsys):
    for main in (classical.main, run.main):
        assert main(["--data", str(tmp_path / "nowhere"), "--cases", "val_sr4"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "nowhere" in err and "DIP_BENCH_DATA" in err and "--data" in err
    assert classical.main(["--data", str(tmp_path), "--cases", "nonsense"]) == 2
    assert "unknown case nonsense" in capsys.readouterr().err


def test_groups_select_the_validation_cases(data):
    assert cases.select("val_denoise") == ["val_lake_denoise", "val_town_denoise"]
    assert cases.select("val_sr4,val_lake_sr4,val_inpaint") == [
        "val_lake_sr4", "val_town_sr4", "val_lake_inpaint", "val_town_inpaint"]
    assert len(cases.select("val")) == 6
    assert cases.select("paper") == list(cases.NAMES)
    assert [cases.group_of(n) for n in ("val_lake_sr4", "val_town_inpaint", "kate_text")] == [
        "val_sr4", "val_inpaint", "paper"]


def test_validation_denoise_case_is_seeded_8bit_noise(data):
    c = cases.build("val_lake_denoise")
    assert c.task == "denoise" and c.truth.shape == (96, 128, 3)   # cut to a multiple of 32
    assert np.array_equal(c.observed, cases.build("val_lake_denoise").observed)
    assert np.allclose(c.observed * 255, np.round(c.observed * 255), atol=1e-4)
    inside = (c.truth > 0.15) & (c.truth < 0.85)                    # where clipping does not bite
    assert np.std((c.observed - c.truth)[inside]) * 255 == pytest.approx(25, rel=0.08)
    assert cases.build("val_lake_denoise", crop=64).truth.shape == (64, 64, 3)


def test_validation_sr4_case_is_lanczos_downscaled(data):
    c = cases.build("val_town_sr4")
    assert c.truth.shape == (100, 128, 3) and c.observed.shape == (25, 32, 3)
    assert c.scale == 4 and c.protocol == "y4"
    assert cases.build("val_town_sr4", crop=16).truth.shape == (64, 64, 3)


def test_validation_sr_at_other_scales_by_name_only(data):
    x2, x8 = cases.build("val_town_sr2"), cases.build("val_town_sr8")
    assert (x2.scale, x2.truth.shape, x2.observed.shape) == (2, (100, 130, 3), (50, 65, 3))   # the photo is 130 px wide
    assert (x8.scale, x8.truth.shape, x8.observed.shape) == (8, (96, 128, 3), (12, 16, 3))
    assert "val_town_sr2" not in cases.select("val")
    with pytest.raises(KeyError, match="unknown case val_town_sr3"):
        cases.build("val_town_sr3")


def test_validation_inpaint_case_has_stroke_mask_and_scores_inside_it(data):
    c = cases.build("val_lake_inpaint")
    gt = c.truth
    expected = cases.stroke_mask(*gt.shape[:2], seed=zlib.crc32(b"lake"), weights=cases.texture(gt))
    assert np.array_equal(c.mask, expected)
    assert np.all(c.observed[c.mask] == 0) and np.array_equal(c.observed[~c.mask], gt[~c.mask])
    filled = gt.copy()
    filled[c.mask] = 0.5
    s = cases.score(c, filled)
    assert s["mask_psnr"] == pytest.approx(10 * np.log10(1 / np.mean((gt[c.mask] - 0.5) ** 2)))
    assert s["psnr"] > s["mask_psnr"] + 5   # the whole image is mostly the known pixels


def test_real_validation_photos_give_twelve_cases_per_group(shared_data, monkeypatch):
    if not (shared_data / "validation").is_dir():
        pytest.skip(f"no validation/ in {shared_data}")
    monkeypatch.setenv(cases.ENV, str(shared_data))
    for group in ("val_denoise", "val_sr4", "val_inpaint"):
        assert len(cases.select(group)) == 12
    c = cases.build(cases.select("val_inpaint")[0])
    assert 0.02 < c.mask.mean() < 0.15
