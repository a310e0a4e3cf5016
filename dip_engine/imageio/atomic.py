"""Files appear whole or not at all: temp file in the same folder, fsync, rename."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from .photo import ImageError


def write_atomic(path: str | os.PathLike, write: Callable[[BinaryIO], None], overwrite: bool = False) -> Path:
    """Call `write(fp)` on a temp file next to `path`, fsync it, then rename it over `path`.

    A failure (in `write` or on disk) leaves any old file untouched and no temp file behind.
    Raises FileExistsError when `path` exists and not `overwrite`; ImageError (one line) for a
    missing or unwritable folder, a full disk or another I/O error.
    """
    path = Path(path)
    folder = path.parent
    if not folder.is_dir():
        raise ImageError(f"{folder}: folder does not exist; choose an existing folder.")
    if path.is_dir():
        raise ImageError(f"{path}: is a folder; choose a file name.")
    existed = path.exists()
    if existed and not overwrite:
        raise FileExistsError(f"{path} already exists; choose another name or allow overwriting.")
    tmp = folder / f".{path.name}.{secrets.token_hex(4)}.tmp"
    try:
        # 0o666 lets the umask decide the permissions, as for any new file
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as e:
        raise ImageError(
            f"{folder}: cannot write in this folder ({e.strerror}); choose another folder."
        ) from None
    try:
        with os.fdopen(fd, "wb") as fp:
            write(fp)
            fp.flush()
            os.fsync(fp.fileno())
        if existed:
            shutil.copymode(path, tmp)
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError) and e.errno is not None:  # disk full, I/O error, ...
            raise ImageError(
                f"{folder}: could not write {path.name} ({e.strerror}); "
                "free some space or choose another folder."
            ) from None
        raise
    if os.name == "posix":  # make the rename itself durable
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return path
