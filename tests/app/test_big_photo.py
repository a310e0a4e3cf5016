"""A 50-megapixel photo opens and displays through the engine's reader, and the engine plans
tiles for it instead of running out of memory."""
import numpy as np
import pytest
from PIL import Image

W, H = 8200, 6100  # 50.02 megapixels


@pytest.fixture(scope="module")
def photo_50mp(tmp_path_factory):
    path = tmp_path_factory.mktemp("big") / "fifty.png"
    x = np.linspace(0, 255, W, dtype=np.float32)[None, :]
    y = np.linspace(0, 255, H, dtype=np.float32)[:, None]
    img = np.stack(np.broadcast_arrays(x + 0 * y, y + 0 * x, (x + y) / 2), axis=2).astype(np.uint8)
    Image.fromarray(img).save(path, compress_level=1)
    return str(path)


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
