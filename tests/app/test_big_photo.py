"""Big photos: a 50-megapixel photo opens and displays through the engine's reader, and the
engine plans tiles for it instead of running out of memory; a 24-megapixel one is read off the
GUI thread."""
import numpy as np
import pytest
from PIL import Image

W, H = 8200, 6100  # 50.02 megapixels


def _gradient_png(path, w: int, h: int) -> str:
    """Red grows left to right, green top to bottom."""
    x = np.linspace(0, 255, w, dtype=np.float32)[None, :]
    y = np.linspace(0, 255, h, dtype=np.float32)[:, None]
    img = np.stack(np.broadcast_arrays(x + 0 * y, y + 0 * x, (x + y) / 2), axis=2).astype(np.uint8)
    Image.fromarray(img).save(path, compress_level=1)
    return str(path)


@pytest.fixture(scope="module")
def photo_50mp(tmp_path_factory):
    return _gradient_png(tmp_path_factory.mktemp("big") / "fifty.png", W, H)


@pytest.mark.slow
def test_fifty_megapixels_open_display_and_plan_tiles(window, photo_50mp, qtbot):
    from dip_engine import restore

    assert window.files.open_path(photo_50mp)
    assert (window.document.photo.width, window.document.photo.height) == (W, H)
    window.canvas.repaint()
    shot = window.canvas.grab().toImage()
    # The view shows the gradient: left darker than right in red, top darker than bottom in green.
    cy, cx = shot.height() // 2, shot.width() // 2
    left, right = shot.pixelColor(cx - cx // 2, cy), shot.pixelColor(cx + cx // 2, cy)
    top, bottom = shot.pixelColor(cx, cy - cy // 2), shot.pixelColor(cx, cy + cy // 2)
    assert right.red() > left.red() + 40 and bottom.green() > top.green() + 40
    plan = restore.plan(restore.Job("denoise", window.document.photo))
    assert len(plan.tiles) > 1 and any("tiles" in n for n in plan.notes)


@pytest.fixture(scope="module")
def photo_24mp(tmp_path_factory):
    return _gradient_png(tmp_path_factory.mktemp("big") / "twentyfour.png", 6000, 4000)


@pytest.mark.slow
def test_a_24_megapixel_photo_is_read_while_the_window_keeps_drawing(window, photo_24mp, qapp):
    """Opening reads the photo on a worker thread under qasync: a 10 ms timer keeps firing on the
    GUI thread while the photo is decoded, and the photo is shown afterwards."""
    import time

    import qasync
    from PySide6.QtCore import QTimer

    ticks, shown = [], []
    window.document.on("photo", lambda: shown.append(time.monotonic()))
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start(10)
    loop = qasync.QEventLoop(qapp)
    try:
        t0 = time.monotonic()
        assert loop.run_until_complete(window.files.open_async(photo_24mp))
    finally:
        timer.stop()
        loop.close()
    assert (window.document.photo.width, window.document.photo.height) == (6000, 4000)
    reading = [t for t in ticks if t < shown[0]]
    assert len(reading) >= 10                       # read on the GUI thread, the timer would not fire
    gaps = np.diff([t0] + reading)
    print(f"read {shown[0] - t0:.2f} s, {len(reading)} ticks, longest gap {gaps.max() * 1000:.0f} ms")
    assert gaps.max() < 0.5 * (shown[0] - t0)
    window.canvas.repaint()
    shot = window.canvas.grab().toImage()
    cy, cx = shot.height() // 2, shot.width() // 2
    assert shot.pixelColor(cx + cx // 2, cy).red() > shot.pixelColor(cx - cx // 2, cy).red() + 40
    assert "6000 × 4000" in window.info_label.text() and "twentyfour.png" in window.windowTitle()


@pytest.mark.slow
def test_nothing_else_opens_while_a_photo_is_being_read(window, photo_24mp, tiny_photo, qapp):
    """A photo opened (or pasted) while another is still being read would be replaced by it a
    moment later: it is refused with a word in the status bar, and the first photo arrives."""
    import asyncio

    import qasync

    loop = qasync.QEventLoop(qapp)
    refused = []

    async def both():
        task = asyncio.ensure_future(window.files.open_async(photo_24mp))
        await asyncio.sleep(0.05)                       # the big read has started
        refused.append((window.files.open_path(tiny_photo), window.hint_label.text()))
        return await task
    try:
        assert loop.run_until_complete(both())
    finally:
        loop.close()
    assert refused == [(False, "Still opening twentyfour.png…")]
    assert (window.document.photo.width, window.document.photo.height) == (6000, 4000)
