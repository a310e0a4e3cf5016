"""The batch's manifest: a JSON-lines file in the output folder, the single record of what is done.

Each line is appended and fsynced before the batch goes on, so after a crash, kill -9 or power cut
the file holds every finished photo. A line cut short by such a stop is dropped when the manifest
is next opened for writing. The first line of each batch run is a header (`kind: "batch"`) with
the recipe (task and settings) and the inputs; every other line is a photo's new state:

    pending   found, not started          running  handed to a worker (left as is by a crash)
    done      written: `sha256` of the output file, `recipe` (the settings written into it)
    failed    `reason`: one line

The latest line of a photo is its state. Only one process writes a manifest at a time (a lock).
"""
from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

NAME = "dip-batch.jsonl"
STATES = ("pending", "running", "done", "failed")
# the temporary names imageio.save_image writes through ('.NAME.HEX8.tmp'), left by a hard stop
_TEMP = re.compile(r"^\..+\.[0-9a-f]{8}\.tmp$")

try:
    import fcntl
except ImportError:  # Windows: no advisory lock; one batch per folder is then up to the user
    fcntl = None


class ManifestError(ValueError):
    """The manifest cannot be used (locked by another batch, other settings); str() is one line."""


@dataclass
class PhotoState:
    key: str
    state: str
    record: dict = field(default_factory=dict)   # the latest line of this photo
    runs: int = 0                                # how often it was handed to a worker


def read(outdir: Path) -> tuple[list[dict], dict[str, PhotoState]]:
    """(headers, photo states by key) of the manifest in `outdir` (empty if it has none).
    Lines that do not parse (a line cut short by a hard stop) are skipped."""
    path = Path(outdir) / NAME
    headers: list[dict] = []
    photos: dict[str, PhotoState] = {}
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        return headers, photos
    for line in text.split(b"\n"):
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if not isinstance(rec, dict):
            continue
        if rec.get("kind") == "batch":
            headers.append(rec)
        elif rec.get("state") in STATES and isinstance(rec.get("photo"), str):
            st = photos.setdefault(rec["photo"], PhotoState(rec["photo"], rec["state"]))
            st.state, st.record = rec["state"], rec
            st.runs += rec["state"] == "running"
    return headers, photos


class Manifest:
    """The manifest of one output folder, opened for writing (locked until `close`)."""

    def __init__(self, outdir: Path):
        self.outdir = Path(outdir)
        self.path = self.outdir / NAME
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o666)
        if fcntl is not None:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(self._fd)
                raise ManifestError(f"{self.outdir}: another batch is writing to this folder: wait for it to "
                                    "finish or stop it, or choose another output folder") from None
        self._drop_torn_tail()
        self.headers, self.photos = read(self.outdir)
        self.removed_temp = _remove_temp_files(self.outdir)

    def _drop_torn_tail(self) -> None:
        size = os.fstat(self._fd).st_size
        if size == 0:
            return
        data = os.pread(self._fd, min(size, 1 << 20), max(0, size - (1 << 20)))
        if data.endswith(b"\n"):
            return
        cut = data.rfind(b"\n")
        os.ftruncate(self._fd, size - len(data) + cut + 1 if cut >= 0 else max(0, size - len(data)))
        os.fsync(self._fd)

    @property
    def recipe(self) -> dict | None:
        return self.headers[0]["recipe"] if self.headers else None

    def begin(self, recipe: dict, info: dict) -> None:
        """Record the start of a batch run; ManifestError when the folder holds a batch made
        with other settings (its done photos would not match)."""
        if self.recipe is not None and self.recipe != recipe:
            diff = [k for k in sorted(set(recipe) | set(self.recipe)) if recipe.get(k) != self.recipe.get(k)]
            shown = ", ".join(f"{k} {self.recipe.get(k)!r} (now {recipe.get(k)!r})" for k in diff[:3])
            raise ManifestError(f"{self.outdir}: holds a batch made with other settings ({shown}): "
                                "use those settings to continue it, or choose another output folder")
        rec = {"kind": "batch", "recipe": recipe, **info, "time": _now()}
        self._append(rec)
        self.headers.append(rec)

    def set(self, key: str, state: str, **fields) -> None:
        rec = {"photo": key, "state": state, **fields, "time": _now()}
        self._append(rec)
        st = self.photos.setdefault(key, PhotoState(key, state))
        st.state, st.record = state, rec
        st.runs += state == "running"

    def _append(self, rec: dict) -> None:
        os.write(self._fd, (json.dumps(rec, separators=(",", ":")) + "\n").encode())
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)   # releases the lock
            self._fd = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _remove_temp_files(outdir: Path) -> int:
    """Delete temporary files of outputs whose writing a hard stop cut short; return how many."""
    n = 0
    for f in outdir.rglob(".*.tmp"):
        if f.is_file() and _TEMP.match(f.name):
            f.unlink(missing_ok=True)
            n += 1
    return n


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
