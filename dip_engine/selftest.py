"""`dip-engine --selftest`: a quick end-to-end check that the engine works where it is installed.

It restores a tiny photo made in memory (a 48x40 gradient with noise) with the fast preset, a
narrow network and a few iterations, writes the result through `imageio.save_image` into a
temporary folder, reads it back and checks it. It needs no files and no network, so it also
proves that a frozen bundle (PyInstaller) found torch, OpenCV and Pillow. Ten iterations are too
few to beat the noisy input; the check is that the fit learns (the loss falls) and the written
photo is the right size and valid. Both PSNRs are reported for information.
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
    photo = imageio.Photo(np.rint(noisy * 255).astype(np.uint8))
    job = restore.Job("denoise", photo, preset="fast", iters=iterations, channels=CHANNELS, stop="never",
                      device="cpu", threads=threads, seed=0)
    losses, last = [], None
    for step in restore.run(job):
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
    if (back.width, back.height) != (WIDTH, HEIGHT):
        raise SelftestError(f"the saved result is {back.width}x{back.height}, expected {WIDTH}x{HEIGHT}")
    if not np.array_equal(back.data, last.result.data):
        raise SelftestError("the saved result reads back different from what was written")
    out = back.data.astype(np.float32) / 255.0
    if out.shape != clean.shape or not np.all(np.isfinite(out)) or float(out.std()) == 0.0:
        raise SelftestError(f"the result is not a valid picture (shape {out.shape}, std {float(out.std()):.4f})")
    return {"size": f"{WIDTH}x{HEIGHT}", "iterations": last.iteration, "loss_first": losses[0],
            "loss_last": losses[-1], "psnr_input": metrics.psnr(photo.data.astype(np.float32) / 255.0, clean),
            "psnr_output": metrics.psnr(out, clean), "seconds": time.perf_counter() - start,
            "device": str(restore.devices.pick("cpu"))}


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
          f"output {s['psnr_output']:.2f} dB, saved and reloaded, {s['seconds']:.1f} s")
    return 0
