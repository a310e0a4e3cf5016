"""Which photos a batch restores, where each result goes, and which mask goes with each photo."""
from __future__ import annotations

import glob
import string
from dataclasses import dataclass
from pathlib import Path

# What a folder is searched for (an explicitly named file is always tried, whatever its type).
PHOTO_TYPES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp", ".heic", ".heif")
OUTPUT_TYPES = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".webp")
MASK_TAG = ".mask"       # photo.jpg -> photo.mask.png beside it
FIELDS = ("stem", "task")
DEFAULT_NAME = "{stem}_{task}.png"


class InputError(ValueError):
    """Bad batch input (a missing file or folder, a bad pattern); str() is one line."""


@dataclass
class Item:
    """One photo of a batch."""
    key: str                  # the output's path relative to the output folder (posix): its identity
    input: Path
    output: Path
    mask: Path | None = None  # inpaint: the mask found for it (None: none found)
    problem: str | None = None  # why it cannot run, found before any work (no mask, name clash)


def check_name(pattern: str) -> str:
    """The naming pattern with an extension (.png when it has none); InputError when it is bad."""
    try:
        names = [f for _, f, _, _ in string.Formatter().parse(pattern) if f is not None]
        bad = [n for n in names if n not in FIELDS]
        if bad:
            raise InputError(f"--name '{pattern}': unknown field {{{bad[0]}}}: use {{stem}} and {{task}}")
        pattern.format(stem="x", task="x")
    except (ValueError, IndexError, KeyError) as e:
        if isinstance(e, InputError):
            raise
        raise InputError(f"--name '{pattern}': not a valid pattern ({e}): use fields like {DEFAULT_NAME}") from None
    if "stem" not in names:
        raise InputError(f"--name '{pattern}': needs {{stem}}, or every photo would get the same name")
    if "/" in pattern or "\\" in pattern:
        raise InputError(f"--name '{pattern}': a name, not a path: the folder is -o OUTDIR")
    suffix = Path(pattern.format(stem="x", task="x")).suffix.lower()
    if not suffix:
        return pattern + ".png"
    if suffix not in OUTPUT_TYPES:
        raise InputError(f"--name '{pattern}': unsupported output type '{suffix}': use .png, .tif, .jpg or .webp")
    return pattern


def is_mask(path: Path) -> bool:
    return Path(path.stem).suffix.lower() == MASK_TAG


def _sources(inputs: list[str], recursive: bool, skip: list[Path]) -> list[tuple[Path, Path]]:
    """(photo, folder its output mirrors from) for every input; InputError for a missing one."""
    found: list[tuple[Path, Path]] = []
    for raw in inputs:
        p = Path(raw).expanduser()
        if p.is_file():
            found.append((p, p.parent))
        elif p.is_dir():
            pattern = "**/*" if recursive else "*"
            for f in sorted(p.glob(pattern)):
                if f.is_file() and f.suffix.lower() in PHOTO_TYPES and not is_mask(f) \
                        and not any(_inside(f, s) for s in skip) and not any(part.startswith(".") for part in f.relative_to(p).parts):
                    found.append((f, p))
        elif glob.has_magic(raw):
            matches = sorted(Path(m) for m in glob.glob(str(p), recursive=recursive))
            found += [(m, m.parent) for m in matches if m.is_file() and not is_mask(m)]
        else:
            raise InputError(f"{raw}: no such file or folder: check the path")
    return found


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def find_mask(photo: Path, masks: Path | None) -> Path | None:
    """The mask of `photo`: in `masks` a file with the same stem (or stem.mask), else
    photo.mask.* beside it; None when there is none."""
    if masks is not None:
        candidates = [masks / f"{photo.stem}{ext}" for ext in PHOTO_TYPES]
        candidates += [masks / f"{photo.stem}{MASK_TAG}{ext}" for ext in PHOTO_TYPES]
    else:
        candidates = [photo.with_name(f"{photo.stem}{MASK_TAG}{ext}") for ext in PHOTO_TYPES]
    return next((c for c in candidates if c.is_file()), None)


def expected_mask(photo: Path, masks: Path | None) -> str:
    return str(masks / f"{photo.stem}.png") if masks is not None else str(photo.with_name(f"{photo.stem}{MASK_TAG}.png"))


def discover(inputs: list[str], outdir: Path, task: str, name: str = DEFAULT_NAME, recursive: bool = False,
             masks: Path | None = None) -> list[Item]:
    """The batch's photos in a stable order, each with its output (and mask for inpainting).
    Photos whose output name clashes with an earlier one, and inpainting photos without a mask,
    come back with `problem` set."""
    name = check_name(name)
    if masks is not None and not masks.is_dir():
        raise InputError(f"--masks {masks}: no such folder: give the folder that holds the masks")
    skip = [outdir] + ([masks] if masks is not None else [])
    items: list[Item] = []
    seen: dict[str, Item] = {}
    done_inputs: set[Path] = set()
    for photo, base in _sources(inputs, recursive, skip):
        real = photo.resolve()
        if real in done_inputs:
            continue
        done_inputs.add(real)
        sub = photo.parent.relative_to(base) if recursive and _inside(photo, base) else Path()
        key = (sub / name.format(stem=photo.stem, task=task)).as_posix()
        item = Item(key, photo, outdir / key)
        if key in seen:
            item.key = f"{key}#{len(items)}"   # keep it listed (and reported) without clashing
            item.problem = (f"its output {key} would be the same file as that of {seen[key].input.name}: "
                            "rename one of them")
        else:
            seen[key] = item
        if task == "inpaint" and item.problem is None:
            item.mask = find_mask(photo, masks)
            if item.mask is None:
                item.problem = (f"no mask found (expected {expected_mask(photo, masks)}, white = fill): "
                                "add one, or leave the photo out")
        items.append(item)
    return items
