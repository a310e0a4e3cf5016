"""Where to fit: the whole photo, a crop around an inpainting mask (one per cluster of marks),
or overlapping tiles with feathered seams for photos too big to fit at once."""
from __future__ import annotations

import math

import numpy as np

Region = tuple[int, int, int, int]  # (top, left, bottom, right), bottom/right exclusive

# Below this fraction of the photo a crop pays; above it the whole photo is fitted.
CROP_WORTH = 0.6
# Inpainting marks thicker than this (radius in px of the largest disc inside them) are holes or
# objects, thinner ones text and scratches: the two want different networks (paper, fig. 8).
# The bench's masks: kate's text 3.6 px, library's holes 18-35 px, the vase 23 px.
HOLE_RADIUS = 8.0


def mask_box(mask: np.ndarray) -> Region | None:
    """Bounding box of the True pixels, or None for an empty mask."""
    rows, cols = np.any(mask, axis=1), np.any(mask, axis=0)
    if not rows.any():
        return None
    t, b = np.flatnonzero(rows)[[0, -1]]
    l, r = np.flatnonzero(cols)[[0, -1]]
    return int(t), int(l), int(b) + 1, int(r) + 1


def crop_around(mask: np.ndarray, margin: float, min_margin: int = 24, min_size: int = 64,
                worth: float | None = CROP_WORTH) -> Region:
    """The box around the mask grown by `margin` x its larger side (at least `min_margin` px) and
    to at least `min_size` px per side, clipped to the photo; the whole photo when the crop would
    not save much (more than `worth` of the photo; None: always crop)."""
    h, w = mask.shape
    box = mask_box(mask)
    if box is None:
        return 0, 0, h, w
    return grow(box, (h, w), margin, min_margin, min_size, worth)


def grow(box: Region, shape: tuple[int, int], margin: float, min_margin: int = 24, min_size: int = 64,
         worth: float | None = CROP_WORTH) -> Region:
    """`box` grown as `crop_around` grows a mask's box."""
    h, w = shape
    t, l, b, r = box
    m = max(min_margin, round(margin * max(b - t, r - l)))
    t, l, b, r = t - m, l - m, b + m, r + m
    # Grow small crops symmetrically so the network sees enough context.
    grow_h, grow_w = max(0, min_size - (b - t)), max(0, min_size - (r - l))
    t, b = t - grow_h // 2, b + grow_h - grow_h // 2
    l, r = l - grow_w // 2, r + grow_w - grow_w // 2
    t, l, b, r = max(0, t), max(0, l), min(h, b), min(w, r)
    if worth is not None and (b - t) * (r - l) > worth * h * w:
        return 0, 0, h, w
    return t, l, b, r


def thickness(mask: np.ndarray) -> float:
    """Radius in px of the largest disc inside the marks (0 for none): a few px for text and
    scratches, tens for objects and holes."""
    import cv2

    box = mask_box(mask)
    if box is None:
        return 0.0
    h, w = mask.shape
    t, l, b, r = max(box[0] - 1, 0), max(box[1] - 1, 0), min(box[2] + 1, h), min(box[3] + 1, w)
    dist = cv2.distanceTransform(mask[t:b, l:r].astype(np.uint8), cv2.DIST_L2, 5)
    return float(dist.max())


def large_holes(mask: np.ndarray) -> bool:
    """The marks are objects or large holes rather than text or scratches (HOLE_RADIUS)."""
    return thickness(mask) > HOLE_RADIUS


def whole(height: int, width: int) -> Region:
    return 0, 0, height, width


def area(region: Region) -> int:
    t, l, b, r = region
    return max(0, b - t) * max(0, r - l)


def scaled(region: Region, factor: int) -> Region:
    """The region in a photo `factor` times larger (SR: low-res tile -> its output)."""
    return tuple(v * factor for v in region)  # type: ignore[return-value]


# --- clusters of marks (inpainting) ------------------------------------------------------------

def clusters(mask: np.ndarray, margin: float, min_margin: int = 24, min_size: int = 64) -> list[tuple[Region, np.ndarray]]:
    """One (crop, its marks inside the crop) pair per group of marks whose crops do not overlap:
    marks far apart are fitted separately instead of in one huge box. Crops are grown like
    `crop_around` (never the whole photo just because it is large) and merged while any two
    overlap. Each mask has its crop's size; pasted back they are disjoint and together equal
    `mask`. Sorted top to bottom, left to right."""
    import cv2

    h, w = mask.shape
    box = mask_box(mask)
    if box is None:
        return []
    bt, bl, bb, br = box  # label only the marks' bounding box: quicker on big photos
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask[bt:bb, bl:br].astype(np.uint8), connectivity=8)
    boxes = {i: (int(stats[i, 1]) + bt, int(stats[i, 0]) + bl, int(stats[i, 1] + stats[i, 3]) + bt,
                 int(stats[i, 0] + stats[i, 2]) + bl) for i in range(1, n)}
    groups: list[tuple[Region, list[int]]] = [
        (grow(b, (h, w), margin, min_margin, min_size, None), [i]) for i, b in boxes.items()]
    merged = True
    while merged:  # merge any two crops that overlap, re-growing the union of their marks' boxes
        merged = False
        for a in range(len(groups)):
            for b in range(a + 1, len(groups)):
                if _overlap(groups[a][0], groups[b][0]):
                    ids = groups[a][1] + groups[b][1]
                    union = _union([boxes[i] for i in ids])
                    groups[a] = (grow(union, (h, w), margin, min_margin, min_size, None), ids)
                    del groups[b]
                    merged = True
                    break
            if merged:
                break
    groups.sort(key=lambda g: (g[0][0], g[0][1]))
    out = []
    for (t, l, b, r), ids in groups:
        local = np.zeros((b - t, r - l), bool)
        # The labelled box and the crop overlap in [max(t, bt), min(b, bb)) x [max(l, bl), min(r, br)).
        t0, l0, b0, r0 = max(t, bt), max(l, bl), min(b, bb), min(r, br)
        local[t0 - t:b0 - t, l0 - l:r0 - l] = np.isin(labels[t0 - bt:b0 - bt, l0 - bl:r0 - bl], ids)
        out.append(((t, l, b, r), local))
    return out


def _union(boxes: list[Region]) -> Region:
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def _overlap(a: Region, b: Region) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


# --- tiles -------------------------------------------------------------------------------------

def _spans(length: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    """Equal spans of at most `tile` covering 0..length, neighbours overlapping by >= `overlap`."""
    if length <= tile:
        return [(0, length)]
    n = math.ceil((length - overlap) / (tile - overlap))
    size = min(tile, math.ceil((length + (n - 1) * overlap) / n))
    starts = [round(i * (length - size) / (n - 1)) for i in range(n)]
    return [(s, s + size) for s in starts]


def tiles(height: int, width: int, tile: int, overlap: int) -> list[Region]:
    """Tiles of at most `tile` x `tile` covering the photo, neighbours overlapping by at least
    `overlap` px, all of the same size (the count per axis is the fewest that fits, the size
    the smallest that then covers). Row by row, top left first."""
    if tile < 1 or overlap < 0:
        raise ValueError(f"tile must be positive and overlap not negative, not {tile} and {overlap}")
    if overlap >= tile:
        raise ValueError(f"the overlap ({overlap} px) must be smaller than the tile ({tile} px)")
    return [(t, l, b, r) for t, b in _spans(height, tile, overlap) for l, r in _spans(width, tile, overlap)]


def _ramp_1d(span: tuple[int, int], spans: list[tuple[int, int]]) -> np.ndarray:
    """Raised-cosine window over `span`: 1 inside, easing to ~0 across each overlap with another span."""
    s, e = span
    x = np.arange(s, e, dtype=np.float64) + 0.5
    wgt = np.ones(e - s)
    for o_s, o_e in spans:
        if (o_s, o_e) == (s, e) or o_e <= s or o_s >= e:
            continue
        if o_s < s < o_e <= e:       # the other span overlaps our start: ease in over [s, o_e)
            wgt *= np.where(x < o_e, 0.5 - 0.5 * np.cos(np.pi * np.clip((x - s) / (o_e - s), 0, 1)), 1.0)
        elif s <= o_s < e < o_e:     # ... our end: ease out over [o_s, e)
            wgt *= np.where(x > o_s, 0.5 + 0.5 * np.cos(np.pi * np.clip((x - o_s) / (e - o_s), 0, 1)), 1.0)
    return wgt


def _axis_weights(spans: list[tuple[int, int]], length: int) -> dict[tuple[int, int], np.ndarray]:
    raw = {sp: _ramp_1d(sp, spans) for sp in spans}
    total = np.zeros(length)
    for (s, e), wgt in raw.items():
        total[s:e] += wgt
    return {(s, e): (wgt / total[s:e]).astype(np.float32) for (s, e), wgt in raw.items()}


def weights(all_tiles: list[Region], height: int, width: int) -> list[np.ndarray]:
    """The blend weight (h x w float32) of every tile of a `tiles` grid, in order: a raised cosine
    across every overlap, normalised so that the weights of all tiles sum to exactly 1 at each pixel."""
    ys = _axis_weights(sorted({(a[0], a[2]) for a in all_tiles}), height)
    xs = _axis_weights(sorted({(a[1], a[3]) for a in all_tiles}), width)
    return [np.outer(ys[(t, b)], xs[(l, r)]) for t, l, b, r in all_tiles]
