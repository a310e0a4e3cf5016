"""`dip-engine --selftest`: a quick end-to-end check that the engine works where it is installed.

It restores a tiny photo made in memory (a 48x40 gradient with noise) with the fast preset (two
fits averaged, in worker processes where there are cores for them), a narrow network and a few
iterations each, writes the result through `imageio.save_image` into a
temporary folder, reads it back and checks it. It needs no files and no network, so it also
proves that a frozen bundle (PyInstaller) found torch, OpenCV and Pillow. Ten iterations are too
few to beat the noisy input; the check is that the fit learns (the loss falls) and the written
photo is the right size and valid. Both PSNRs are reported for information. It then saves the
result as HEIC and reads it back, and develops a small DNG made here (`write_dng`), which proves
that pillow-heif (libheif, x265, libde265) and rawpy (LibRaw) are bundled and work.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

WIDTH, HEIGHT = 48, 40
ITERATIONS = 10
CHANNELS = 8


class SelftestError(RuntimeError):
    """The self-test found a problem; str() is one line."""


def test_image(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(clean, noisy) float32 HxWx3 images in [0, 1]: gradients and a soft wave, plus noise."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    clean = np.stack([0.1 + 0.8 * x / (WIDTH - 1), 0.1 + 0.8 * y / (HEIGHT - 1),
                      0.5 + 0.3 * np.sin((x + y) / 8.0)], axis=2).astype(np.float32)
    noise = np.random.default_rng(seed).normal(0.0, 0.1, clean.shape).astype(np.float32)
    return clean, np.clip(clean + noise, 0.0, 1.0)


def run_selftest(iterations: int = ITERATIONS, threads: int | None = 1) -> dict:
    """Run the check; return a summary dict, or raise SelftestError."""
    from . import imageio, metrics, restore

    start = time.perf_counter()
    clean, noisy = test_image()
    photo = imageio.Photo(imageio.to_samples(noisy, np.uint8))
    job = restore.Job("denoise", photo, preset="fast", iters=iterations, channels=CHANNELS, stop="never",
                      device="cpu", threads=threads, seed=0)
    losses, last = [], None
    for step in restore.run(job):
        if step.iteration == 0:  # the frame shown before the first iteration: no loss yet
            continue
        losses.append(float(step.loss))
        last = step
    if last is None or not last.done or last.result is None:
        raise SelftestError("the fit ended without a result")
    if not np.all(np.isfinite(losses)):
        raise SelftestError(f"the loss is not finite: {losses}")
    if not losses[-1] < losses[0]:
        raise SelftestError(f"the fit did not learn: loss {losses[0]:.5f} -> {losses[-1]:.5f}")
    with tempfile.TemporaryDirectory(prefix="dip-selftest-") as tmp:
        path = imageio.save_image(last.result, Path(tmp) / "selftest.png")
        back = imageio.load_image(path)
        formats = check_formats(last.result, Path(tmp))
    if (back.width, back.height) != (WIDTH, HEIGHT):
        raise SelftestError(f"the saved result is {back.width}x{back.height}, expected {WIDTH}x{HEIGHT}")
    if not np.array_equal(back.data, last.result.data):
        raise SelftestError("the saved result reads back different from what was written")
    out = imageio.to_float(back.data)
    if out.shape != clean.shape or not np.all(np.isfinite(out)) or float(out.std()) == 0.0:
        raise SelftestError(f"the result is not a valid picture (shape {out.shape}, std {float(out.std()):.4f})")
    return {"size": f"{WIDTH}x{HEIGHT}", "iterations": last.iteration, "loss_first": losses[0],
            "loss_last": losses[-1], "psnr_input": metrics.psnr(imageio.to_float(photo.data), clean),
            "psnr_output": metrics.psnr(out, clean), "seconds": time.perf_counter() - start,
            "device": str(restore.devices.pick("cpu")), "formats": formats}


def check_formats(photo, folder: Path) -> str:
    """Save `photo` as HEIC and read it back; develop a DNG; raise SelftestError on a problem."""
    from . import imageio

    heic = imageio.load_image(imageio.save_image(photo, folder / "selftest.heic", quality=90))
    error = np.abs(heic.data.astype(np.float32) - photo.data).mean()
    if heic.data.shape != photo.data.shape or not error < 8:
        raise SelftestError(f"the HEIC copy reads back as {heic.data.shape}, mean error {error:.1f}")
    raw = imageio.load_image(write_dng(folder / "selftest.dng"))
    grey = raw.data[40:56, 8:40].reshape(-1, 3).mean(axis=0)
    if raw.data.dtype != np.uint16 or raw.data.shape != (64, 96, 3) or raw.developed is None:
        raise SelftestError(f"the DNG developed to {raw.data.shape} {raw.data.dtype}")
    if not np.all(np.abs(grey / grey.mean() - 1) < 0.05):
        raise SelftestError(f"the DNG's grey came out {grey.round()} (white balance not applied?)")
    return "HEIC saved and reloaded, DNG developed"


def write_dng(path: Path, gains: tuple[float, float, float] = (0.5, 1.0, 0.5)) -> Path:
    """A 96x64 DNG of an RGGB sensor whose red and blue sites are less sensitive than green
    (`gains`, recorded as the shot's white balance): grey, with a red patch at the top left
    (rows 8-24, columns 8-40). Written with tifffile; LibRaw reads it like a camera's."""
    import tifffile

    h, w = 64, 96
    scene = np.full((h, w, 3), 0.25)
    scene[8:24, 8:40] = (0.6, 0.1, 0.1)
    sensor = scene * np.asarray(gains)
    cfa = np.empty((h, w))
    cfa[0::2, 0::2] = sensor[0::2, 0::2, 0]
    cfa[0::2, 1::2] = sensor[0::2, 1::2, 1]
    cfa[1::2, 0::2] = sensor[1::2, 0::2, 1]
    cfa[1::2, 1::2] = sensor[1::2, 1::2, 2]
    black, white = 256, 4095
    mosaic = np.rint(black + cfa * (white - black)).astype(np.uint16)
    # camera RGB is linear sRGB here: ColorMatrix1 maps XYZ to it (D65)
    xyz_to_srgb = (3.2406, -1.5372, -0.4986, -0.9689, 1.8758, 0.0415, 0.0557, -0.2040, 1.0570)
    rationals = [v for x in xyz_to_srgb for v in (round(x * 10000), 10000)]
    neutral = [v for g in gains for v in (round(g * 10000), 10000)]
    tags = [
        (271, "s", 0, "DIP Studio", True),
        (272, "s", 0, "Selftest sensor", True),
        (33421, "H", 2, (2, 2), True),          # CFARepeatPatternDim
        (33422, "B", 4, (0, 1, 1, 2), True),    # CFAPattern: R G / G B
        (50706, "B", 4, (1, 4, 0, 0), True),    # DNGVersion
        (50708, "s", 0, "DIP Studio Selftest sensor", True),
        (50714, "H", 1, (black,), True),        # BlackLevel
        (50717, "H", 1, (white,), True),        # WhiteLevel
        (50721, "2i", 9, rationals, True),      # ColorMatrix1
        (50728, "2I", 3, neutral, True),        # AsShotNeutral: the camera's white balance
        (50778, "H", 1, (21,), True),           # CalibrationIlluminant1: D65
    ]
    tifffile.imwrite(path, mosaic, photometric=32803, subfiletype=0, extratags=tags)
    return path


def main() -> int:
    """Print one line; 0 when the check passes, 1 otherwise."""
    import sys
    try:
        s = run_selftest()
    except Exception as e:  # noqa: BLE001 - any failure is one line and exit 1
        print(f"selftest failed: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(f"selftest ok: restored {s['size']} in {s['iterations']} iterations on {s['device']}, "
          f"loss {s['loss_first']:.4f} -> {s['loss_last']:.4f}, PSNR input {s['psnr_input']:.2f} dB, "
          f"output {s['psnr_output']:.2f} dB, saved and reloaded; {s['formats']}, {s['seconds']:.1f} s")
    return 0
