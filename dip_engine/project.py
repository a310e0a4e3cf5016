"""Project files (`.dipproj`): everything needed to come back to a restoration later.

One zip file, written atomically (temp file in the same folder, fsync, rename):

    manifest.json             format and program version, the job settings (task, preset, seed,
                              scale, iterations, stop, lr, channels, tile, ...), where the photo
                              is, the history list, the checkpoint's iteration, free-form `extra`
    photo.<ext>               the original file's bytes (default), or a lossless PNG when the
                              photo no longer matches a file; absent when the project refers to
                              the photo by absolute path + SHA-256 instead (`embed_photo=False`)
    mask.png                  the mask, lossless, white = fill
    snapshots/NNNNNN.png      history snapshots (region-sized; 16-bit when the photo is 16-bit)
    snapshots/NNNNNN.npy      a snapshot's confidence map, when it has one (float32, region-sized)
    result.png                the result with its metadata (16-bit when the photo is)
    checkpoint.pt             the run's state at its last checkpoint (`Step.checkpoint`):
                              network weights, optimiser state, EMA, ES-WMV window, RNG state
    confidence.npy            the result's confidence map (float32 H x W, `confidence.py`)
    variations/N.png          variations of the job (other seeds), each with its recipe in the
    variations/N.npy          manifest and its confidence map; `chosen` says which one is the result

Projects without the newer members (confidence maps, variations) open as they always did.

`checkpoint.pt` is read with `torch.load(weights_only=True)`: it holds only tensors, numbers,
strings, lists and dicts (the ES-WMV window's numpy arrays are stored as tensors), so opening a
project never runs code from it. Errors are `ProjectError`, one line saying what to do.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import time
import weakref
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import __version__, imageio, restore
from .imageio import Photo

FORMAT = "dip-studio-project"
FORMAT_VERSION = 1
SUFFIX = ".dipproj"
# the Job fields a project keeps (photo and mask are stored as files)
JOB_FIELDS = ("task", "preset", "scale", "iters", "seed", "stop", "device", "precision", "threads", "lr", "channels",
              "preview_every", "tile", "overlap")
_NDARRAY = "__ndarray__"


class ProjectError(ValueError):
    """The project cannot be read or written; str() is one line saying what to do."""


@dataclass(eq=False)
class HistoryItem:
    """One snapshot of a run: the (composited) fitted region at an iteration."""
    iteration: int
    image: np.ndarray                         # float32 HxWxC in [0, 1], region-sized
    region: tuple[int, int, int, int]         # (top, left, bottom, right) in output pixels
    loss: float | None = None
    final: bool = False
    confidence: np.ndarray | None = None      # float32 HxW over `region`: the fit's spread then


@dataclass(eq=False)
class Variation:
    """One run of the project's job with another seed (`variations.py`)."""
    seed: int
    result: Photo
    metadata: dict = field(default_factory=dict)     # restore.metadata: the recipe that reproduces it
    confidence: np.ndarray | None = None             # float32 H x W at the result's size


@dataclass(eq=False)
class Project:
    photo: Photo
    settings: dict = field(default_factory=dict)       # Job keyword arguments (JOB_FIELDS)
    mask: np.ndarray | None = None                     # bool HxW, True = fill
    history: list[HistoryItem] = field(default_factory=list)
    checkpoint: dict | None = None                     # Step.checkpoint of the last checkpoint
    result: Photo | None = None
    result_meta: dict = field(default_factory=dict)    # restore.metadata of the result
    photo_path: str | None = None                      # the original file, when there is one
    embed_photo: bool = True                           # False: refer to photo_path + its SHA-256
    name: str = ""                                     # what the user calls the document
    extra: dict = field(default_factory=dict)          # JSON-able state of the program that saved it
    program: str = f"DIP Studio {__version__}"         # on load: the program that wrote the file
    confidence: np.ndarray | None = None               # the result's confidence map, float32 H x W
    variations: list[Variation] = field(default_factory=list)
    chosen: int | None = None                          # the variation the user picked (index), if any

    @classmethod
    def from_job(cls, job: restore.Job, **kw) -> Project:
        settings = {k: getattr(job, k) for k in JOB_FIELDS}
        kw.setdefault("mask", job.mask)
        return cls(photo=job.photo, settings=settings, **kw)

    def job(self, **overrides) -> restore.Job:
        """The restore.Job these settings describe (mask only for inpainting)."""
        kw = {k: v for k, v in self.settings.items() if k in JOB_FIELDS}
        kw.update(overrides)
        mask = kw.pop("mask", self.mask)
        return restore.Job(photo=self.photo, mask=mask if kw.get("task") == "inpaint" else None, **kw)

    def choose(self, index: int) -> None:
        """Make variation `index` the project's result (with its recipe and confidence map)."""
        if not 0 <= index < len(self.variations):
            raise ProjectError(f"there is no variation {index + 1}: the project has {len(self.variations)}")
        v = self.variations[index]
        self.chosen, self.result, self.result_meta, self.confidence = index, v.result, dict(v.metadata), v.confidence

    @property
    def checkpoint_iteration(self) -> int | None:
        return None if self.checkpoint is None else int(self.checkpoint.get("iteration", 0))


# ---------------------------------------------------------------------------------------------
# saving

def save_project(project: Project, path: str | os.PathLike, *, overwrite: bool = True) -> Path:
    """Write `project` to `path` atomically: a crash or a full disk leaves the previous file as
    it was. Raises ProjectError (one line) when it cannot be written."""
    path = Path(path)
    if not path.suffix:
        path = path.with_suffix(SUFFIX)
    members = _members(project)           # encode first: nothing touches the disk if this fails
    try:
        return imageio.write_atomic(path, lambda fp: _write_zip(fp, members), overwrite)
    except imageio.ImageError as e:
        raise ProjectError(str(e)) from None
    except FileExistsError as e:
        raise ProjectError(str(e)) from None


def _write_zip(fp, members: list[tuple[str, bytes | str, int]]) -> None:
    with zipfile.ZipFile(fp, "w") as zf:
        for name, data, compress in members:
            zf.writestr(name, data, compress_type=compress)


def _members(p: Project) -> list[tuple[str, bytes | str, int]]:
    """(name, bytes, compression) of every file in the zip, manifest last."""
    if p.photo is None:
        raise ProjectError("a project needs a photo")
    stored, deflated = zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED
    out: list[tuple[str, bytes | str, int]] = []
    manifest: dict = {
        "format": FORMAT, "version": FORMAT_VERSION, "program": f"DIP Studio {__version__}",
        "saved": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "name": p.name,
        "settings": {k: p.settings[k] for k in JOB_FIELDS if k in p.settings},
        "extra": p.extra,
    }
    photo = {"width": p.photo.width, "height": p.photo.height, "bit_depth": p.photo.bit_depth,
             "original_path": p.photo_path}
    if p.embed_photo:
        name, blob = _photo_blob(p.photo, p.photo_path)
        out.append((name, blob, stored))
        photo["file"] = name
    else:
        if not p.photo_path or not Path(p.photo_path).is_file():
            raise ProjectError(f"{p.photo_path or 'the photo'}: no such file to refer to: "
                               "embed the photo in the project instead")
        if not _matches_file(p.photo, p.photo_path):
            raise ProjectError(f"{p.photo_path}: the photo being edited is not this file any more: "
                               "embed the photo in the project instead")
        photo["path"] = str(Path(p.photo_path).resolve())
        photo["sha256"] = _sha256_file(p.photo_path)
    manifest["photo"] = photo
    if p.mask is not None:
        mask = np.asarray(p.mask, bool)
        if mask.shape != (p.photo.height, p.photo.width):
            raise ProjectError(f"the mask is {mask.shape[1]}x{mask.shape[0]} px but the photo is "
                               f"{p.photo.width}x{p.photo.height} px")
        out.append(("mask.png", _png(np.where(mask, 255, 0).astype(np.uint8)[..., None]), stored))
        manifest["mask"] = "mask.png"
    else:
        manifest["mask"] = None
    dtype = p.photo.data.dtype
    history = []
    for i, h in enumerate(p.history):
        name = f"snapshots/{i:03d}_{int(h.iteration):06d}.png"
        out.append((name, _png(imageio.to_samples(np.atleast_3d(h.image), dtype)), stored))
        item = {"iteration": int(h.iteration), "loss": None if h.loss is None else float(h.loss),
                "region": [int(v) for v in h.region], "final": bool(h.final), "file": name}
        if h.confidence is not None:
            item["confidence"] = name[:-4] + ".npy"
            out.append((item["confidence"], _npy(h.confidence), deflated))
        history.append(item)
    manifest["history"] = history
    if p.result is not None:
        buf = io.BytesIO()
        imageio.write_png(buf, p.result, {str(k): str(v) for k, v in p.result_meta.items()} or None)
        out.append(("result.png", buf.getvalue(), stored))
        manifest["result"] = {"file": "result.png", "metadata": {str(k): str(v) for k, v in p.result_meta.items()}}
    else:
        manifest["result"] = None
    if p.checkpoint is not None:
        import torch
        buf = io.BytesIO()
        torch.save(_storable(p.checkpoint), buf)
        out.append(("checkpoint.pt", buf.getvalue(), stored))
        manifest["checkpoint"] = {"file": "checkpoint.pt", "iteration": p.checkpoint_iteration}
    else:
        manifest["checkpoint"] = None
    if p.confidence is not None:
        out.append(("confidence.npy", _npy(p.confidence), deflated))
    manifest["confidence"] = "confidence.npy" if p.confidence is not None else None
    if p.chosen is not None and not 0 <= p.chosen < len(p.variations):
        raise ProjectError(f"the chosen variation {p.chosen} is not one of the {len(p.variations)}")
    manifest["variations"] = []
    for i, v in enumerate(p.variations):
        name = f"variations/{i + 1}"
        buf = io.BytesIO()
        imageio.write_png(buf, v.result, {str(k): str(x) for k, x in v.metadata.items()} or None)
        out.append((name + ".png", buf.getvalue(), stored))
        if v.confidence is not None:
            out.append((name + ".npy", _npy(v.confidence), deflated))
        manifest["variations"].append({"seed": int(v.seed), "file": name + ".png",
                                       "metadata": {str(k): str(x) for k, x in v.metadata.items()},
                                       "confidence": name + ".npy" if v.confidence is not None else None})
    manifest["chosen"] = p.chosen
    out.append(("manifest.json", json.dumps(manifest, indent=1), deflated))
    return out


# the encoded photo of each Photo object, so autosaves do not re-encode it every time
_BLOBS: "weakref.WeakKeyDictionary[Photo, tuple]" = weakref.WeakKeyDictionary()


def _photo_blob(photo: Photo, path: str | None) -> tuple[str, bytes]:
    """The original file's bytes when `path` (or photo.source) decodes to exactly this photo,
    else a lossless PNG of it (with its ICC profile, EXIF and DPI)."""
    src = path or (str(photo.source) if photo.source else None)
    key = (src, _stat(src))
    hit = _BLOBS.get(photo)
    if hit is not None and hit[0] == key:
        return hit[1], hit[2]
    if src and _matches_file(photo, src):
        name, blob = "photo" + Path(src).suffix.lower(), Path(src).read_bytes()
    else:
        name, blob = "photo.png", _encode_photo(photo)
    _BLOBS[photo] = (key, name, blob)
    return name, blob


def _stat(path: str | None):
    try:
        st = os.stat(path) if path else None
    except OSError:
        return None
    return None if st is None else (st.st_size, st.st_mtime_ns)


def _matches_file(photo: Photo, path: str) -> bool:
    try:
        return np.array_equal(imageio.load_image(path).data, photo.data)
    except (imageio.ImageError, OSError, MemoryError):
        return False


def _encode_photo(photo: Photo) -> bytes:
    buf = io.BytesIO()
    imageio.write_png(buf, photo)
    return buf.getvalue()


def _png(data: np.ndarray) -> bytes:
    buf = io.BytesIO()
    imageio.write_png(buf, Photo(data))
    return buf.getvalue()


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.asarray(a, np.float32), allow_pickle=False)
    return buf.getvalue()


def _read_npy(blob: bytes) -> np.ndarray:
    a = np.load(io.BytesIO(blob), allow_pickle=False)
    if a.ndim != 2 or a.dtype != np.float32:
        raise ValueError("a confidence map inside is not a float32 H x W array")
    return a


def _sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _storable(obj):
    """numpy arrays become {"__ndarray__": tensor} so the file loads with weights_only=True."""
    import torch
    if isinstance(obj, np.ndarray):
        return {_NDARRAY: torch.from_numpy(np.ascontiguousarray(obj))}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {k: _storable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_storable(v) for v in obj)
    return obj


def _unstorable(obj):
    if isinstance(obj, dict):
        if set(obj) == {_NDARRAY}:
            return obj[_NDARRAY].numpy()
        return {k: _unstorable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_unstorable(v) for v in obj)
    return obj


# ---------------------------------------------------------------------------------------------
# loading

def load_project(path: str | os.PathLike, *, checkpoint: bool = True) -> Project:
    """Read a project; `checkpoint=False` skips the run state. Raises ProjectError (one line):
    not a project, damaged, written by a newer version, or its referenced photo is missing or
    has changed."""
    path = Path(path)
    if not path.is_file():
        raise ProjectError(f"{path}: no such project file")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise ProjectError(f"{path}: not a DIP Studio project ({_why(e)})") from None
    with zf:
        try:
            manifest = json.loads(zf.read("manifest.json"))
        except KeyError:
            raise ProjectError(f"{path}: not a DIP Studio project (no manifest.json)") from None
        except (ValueError, zipfile.BadZipFile, OSError, EOFError) as e:
            raise ProjectError(f"{path}: the project file is damaged ({_why(e)})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise ProjectError(f"{path}: not a DIP Studio project (unknown manifest)")
        version = manifest.get("version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise ProjectError(f"{path}: made by a newer DIP Studio ({manifest.get('program', '?')}, format "
                               f"{version}; this one reads up to {FORMAT_VERSION}): update DIP Studio to open it")
        try:
            return _read(path, zf, manifest, checkpoint)
        except ProjectError:
            raise
        except (KeyError, TypeError, ValueError, IndexError, zipfile.BadZipFile, OSError, EOFError,
                RuntimeError) as e:
            raise ProjectError(f"{path}: the project file is damaged ({_why(e)})") from None


def _why(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text[:160]}" if text else type(e).__name__


def _read(path: Path, zf: zipfile.ZipFile, m: dict, want_checkpoint: bool) -> Project:
    ph = m["photo"]
    original = ph.get("original_path")
    if ph.get("file"):
        photo = _load_photo_bytes(zf.read(ph["file"]), ph["file"], path)
        photo = _with_source(photo, original)
        embed = True
    else:
        ref = ph["path"]
        if not Path(ref).is_file():
            raise ProjectError(f"{path}: its photo {ref} is missing: put it back there, or open the "
                               "photo itself and start again")
        if _sha256_file(ref) != ph["sha256"]:
            raise ProjectError(f"{path}: its photo {ref} has changed since the project was saved "
                               "(checksum differs): restore the original file")
        try:
            photo = imageio.load_image(ref)
        except imageio.ImageError as e:
            raise ProjectError(str(e)) from None
        original, embed = ref, False
    if (photo.width, photo.height) != (ph["width"], ph["height"]):
        raise ProjectError(f"{path}: the photo is {photo.width}x{photo.height} px, the project says "
                           f"{ph['width']}x{ph['height']} px: the file is damaged")
    mask = None
    if m.get("mask"):
        mdata = _decode_png(zf.read(m["mask"]))
        mask = mdata[..., 0] > 127
        if mask.shape != (photo.height, photo.width):
            raise ProjectError(f"{path}: the mask's size differs from the photo's: the file is damaged")
    history = []
    for h in m.get("history") or []:
        data = _decode_png(zf.read(h["file"]))
        image = imageio.to_float(data)
        conf = _read_npy(zf.read(h["confidence"])) if h.get("confidence") else None
        history.append(HistoryItem(int(h["iteration"]), image, tuple(int(v) for v in h["region"]),
                                   h.get("loss"), bool(h.get("final")), conf))
    result, meta = None, {}
    if m.get("result"):
        result = _load_photo_bytes(zf.read(m["result"]["file"]), m["result"]["file"], path)
        result = _with_source(result, None)
        meta = dict(m["result"].get("metadata") or {})
    ckpt = None
    if want_checkpoint and m.get("checkpoint"):
        import torch
        raw = zf.read(m["checkpoint"]["file"])
        ckpt = _unstorable(torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True))
    settings = {k: v for k, v in (m.get("settings") or {}).items() if k in JOB_FIELDS}
    conf = _read_npy(zf.read(m["confidence"])) if m.get("confidence") else None
    variations = []
    for v in m.get("variations") or []:
        img = _with_source(_load_photo_bytes(zf.read(v["file"]), v["file"], path), None)
        vc = _read_npy(zf.read(v["confidence"])) if v.get("confidence") else None
        variations.append(Variation(int(v["seed"]), img, dict(v.get("metadata") or {}), vc))
    chosen = m.get("chosen")
    if chosen is not None and not (isinstance(chosen, int) and 0 <= chosen < len(variations)):
        raise ValueError(f"the chosen variation {chosen!r} is not one of the {len(variations)}")
    return Project(photo=photo, settings=settings, mask=mask, history=history, checkpoint=ckpt,
                   result=result, result_meta=meta, photo_path=original, embed_photo=embed,
                   name=m.get("name") or "", extra=m.get("extra") or {}, program=m.get("program") or "",
                   confidence=conf, variations=variations, chosen=chosen)


def _with_source(photo: Photo, source: str | None) -> Photo:
    import dataclasses
    return dataclasses.replace(photo, source=Path(source) if source else None)


def _load_photo_bytes(blob: bytes, name: str, project: Path) -> Photo:
    """A photo member of the project (`name`: its name in the zip)."""
    try:
        return imageio.load_image_bytes(blob, name)
    except imageio.ImageError as e:
        msg = str(e).removeprefix(f"{name}: ")
        raise ProjectError(f"{project}: its embedded photo cannot be read ({msg})") from None


def _decode_png(blob: bytes) -> np.ndarray:
    """HxWxC uint8/uint16 samples of a PNG written by `_png`."""
    import cv2
    a = cv2.imdecode(np.frombuffer(blob, np.uint8), cv2.IMREAD_UNCHANGED)
    if a is None:
        raise ValueError("an image inside cannot be decoded")
    if a.ndim == 2:
        return a[..., None]
    return a[..., ::-1].copy() if a.shape[2] == 3 else a[..., [2, 1, 0, 3]].copy()
