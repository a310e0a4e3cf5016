"""The fur-stroke check of issue 13: a 13-px stroke across the sample cat's forehead, filled, and
200 % crops side by side with the PSNR inside the stroke (the photo is the truth).

    python -m bench.fur_stroke mask /tmp/fur/stroke.png
    dip-engine inpaint resources/samples/chelsea.png --mask /tmp/fur/stroke.png -o /tmp/fur/after.png
    python -m bench.fur_stroke figure docs/screenshots/fur_stroke_200.png /tmp/fur/stroke.png \\
        "/tmp/fur/before.png=before: ..." "/tmp/fur/after.png=after: ..."
"""
from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from dip_engine.metrics import psnr

PHOTO = Path(__file__).resolve().parents[1] / "resources" / "samples" / "chelsea.png"
CROP = (30, 100, 150, 320)   # top, bottom, left, right of the shown region


def mask(out: str) -> None:
    m = np.zeros((300, 451), np.uint8)
    cv2.line(m, (165, 52), (305, 78), 255, 13)
    Image.fromarray(m).save(out)


def figure(out: str, stroke: str, results: list[str]) -> None:
    orig = np.asarray(Image.open(PHOTO).convert("RGB")).astype(np.float32) / 255
    m = np.asarray(Image.open(stroke)) > 127
    telea = cv2.inpaint(np.rint(orig * 255).astype(np.uint8), m.astype(np.uint8), 3, cv2.INPAINT_TELEA)
    masked = orig.copy()
    masked[m] = [1, 0, 0]
    panels = [("original (truth)", orig, False), ("the stroke to fill (13 px)", masked, False),
              ("OpenCV Telea", telea.astype(np.float32) / 255, True)]
    for item in results:
        path, label = item.split("=", 1)
        panels.append((label, np.asarray(Image.open(path).convert("RGB")).astype(np.float32) / 255, True))
    t, b, l, r = CROP
    tiles = []
    for label, img, scored in panels:
        big = Image.fromarray((np.clip(img[t:b, l:r], 0, 1) * 255).astype(np.uint8)).resize(
            ((r - l) * 2, (b - t) * 2), Image.NEAREST)
        tile = Image.new("RGB", (big.width, big.height + 22), (30, 30, 30))
        tile.paste(big, (0, 22))
        text = label + (f"  {psnr(img[m], orig[m]):.2f} dB in the stroke" if scored else "")
        ImageDraw.Draw(tile).text((6, 5), text, fill=(235, 235, 235), font=ImageFont.load_default())
        tiles.append(tile)
    w, h = tiles[0].size
    rows = (len(tiles) + 1) // 2
    sheet = Image.new("RGB", (2 * w + 8, rows * h + 8 * (rows - 1)), (15, 15, 15))
    for i, tile in enumerate(tiles):
        sheet.paste(tile, ((i % 2) * (w + 8), (i // 2) * (h + 8)))
    sheet.save(out)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) == 2 and argv[0] == "mask":
        mask(argv[1])
    elif len(argv) >= 3 and argv[0] == "figure":
        figure(argv[1], argv[2], argv[3:])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
