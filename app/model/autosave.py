"""Autosave sessions and crash recovery. Qt-free.

Each running DIP Studio holds a session: `session-<id>.lock` in the autosave folder, locked with
an OS file lock for as long as the process lives, and autosaves its document to
`session-<id>.dipproj` next to it. The kernel drops the lock when the process ends in any way
(quit, crash, SIGKILL), so on the next start a lock file that can be locked again belongs to a
session that did not exit cleanly: its autosave is offered for recovery. A clean exit removes
both files. Several windows or processes at once each have their own session.
"""
from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

ENV_DIR = "DIP_STUDIO_DATA_DIR"      # overrides the user data folder (tests, portable installs)


def data_dir() -> Path:
    env = os.environ.get(ENV_DIR)
    if env:
        return Path(env)
    import platformdirs
    return Path(platformdirs.user_data_dir("DIP Studio", appauthor=False))


def _lock(fd: int) -> bool:
    """Take an exclusive, non-blocking lock on an open file; False when another process holds it."""
    try:
        if os.name == "nt":
            import msvcrt
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        else:
            import fcntl
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


@dataclass
class Orphan:
    """The autosave of a session that ended without a clean exit."""
    lock: Path
    autosave: Path
    saved_at: float          # mtime of the autosave

    def describe(self) -> str:
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(self.saved_at))

    def discard(self) -> None:
        for p in (self.autosave, self.lock):
            try:
                p.unlink()
            except OSError:
                pass


class Session:
    def __init__(self, folder: str | os.PathLike | None = None):
        self.folder = Path(folder) if folder else data_dir() / "autosave"
        self.id = f"{os.getpid()}-{secrets.token_hex(3)}"
        self.lock_path = self.folder / f"session-{self.id}.lock"
        self.autosave_path = self.folder / f"session-{self.id}.dipproj"
        self._fd: int | None = None

    @property
    def active(self) -> bool:
        return self._fd is not None

    def start(self) -> list[Orphan]:
        """Take this session's lock; return the autosaves of sessions that did not exit cleanly
        (newest first). Raises OSError when the folder cannot be used."""
        self.folder.mkdir(parents=True, exist_ok=True)
        orphans = self.orphans()
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        if not _lock(fd):
            os.close(fd)
            raise OSError(f"cannot lock {self.lock_path}")
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return orphans

    def orphans(self) -> list[Orphan]:
        out, live = [], {self.lock_path.stem}
        for lock in self.folder.glob("session-*.lock"):
            if lock == self.lock_path:
                continue
            try:
                fd = os.open(lock, os.O_RDWR)
            except OSError:
                continue
            try:
                dead = _lock(fd)      # we got it: its owner is gone (the lock ends with this fd)
            finally:
                os.close(fd)
            if not dead:
                live.add(lock.stem)
                continue
            save = lock.with_suffix(".dipproj")
            if save.is_file():
                out.append(Orphan(lock, save, save.stat().st_mtime))
            else:
                try:
                    lock.unlink()     # ended before anything was saved: nothing to offer
                except OSError:
                    pass
        for tmp in self.folder.glob(".session-*.dipproj.*.tmp"):   # left by a write that was cut off
            if tmp.name[1:].split(".dipproj")[0] not in live:
                try:
                    tmp.unlink()
                except OSError:
                    pass
        return sorted(out, key=lambda o: o.saved_at, reverse=True)

    def clear_autosave(self) -> None:
        """The document was closed or saved on purpose: nothing to recover any more."""
        try:
            self.autosave_path.unlink()
        except OSError:
            pass

    def end(self) -> None:
        """Clean exit: remove the autosave and the lock."""
        if self._fd is None:
            return
        self.clear_autosave()
        os.close(self._fd)     # first: Windows cannot remove a file that is open
        self._fd = None
        try:
            self.lock_path.unlink()
        except OSError:
            pass
