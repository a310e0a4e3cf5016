"""Files in and out of the window: opening (dialog, path, drop, paste, recent files), projects,
and saving the result, a snapshot or the comparison. Reading and writing go through
`dip_engine.imageio` and `dip_engine.project`; what is loaded goes into the document.

What the user opens is read by a coroutine on a worker thread (qasync's executor) while the
window keeps drawing: a 24 MP photo takes seconds to decode. `open_path` reads on the calling
thread, for callers that need the photo at once.
"""
from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QObject, Qt
from PySide6.QtWidgets import QApplication, QFileDialog, QInputDialog

from app.model.display import DisplayConverter
from app.model.history import Snapshot
from app.ui.projects import PROJECT_FILTER

# what dip_engine.imageio reads (imageio/formats.py), in both cases: camera files are often upper case
PICTURE_TYPES = "png jpg jpeg tif tiff webp bmp heic heif hif avif".split()
RAW_TYPES = "dng cr2 cr3 crw nef nrw arw srf sr2 raf orf rw2 pef srw x3f 3fr iiq erf kdc mef mos mrw raw rwl".split()
_GLOBS = {name: " ".join(f"*.{e} *.{e.upper()}" for e in types)
          for name, types in (("photos", PICTURE_TYPES + RAW_TYPES), ("raw", RAW_TYPES))}
IMAGE_FILTER = f"Photos ({_GLOBS['photos']});;Camera RAW ({_GLOBS['raw']});;All files (*)"
SAVE_FILTERS = {"PNG (lossless) (*.png)": ".png", "TIFF (lossless) (*.tif *.tiff)": ".tif",
                "JPEG (*.jpg *.jpeg)": ".jpg", "WebP (*.webp)": ".webp"}
MAX_RECENT = 10


def read_photo(path: str):
    """The photo at `path` and its screen image (the slow part of opening; any thread)."""
    from dip_engine import imageio
    photo = imageio.load_image(path)
    return photo, DisplayConverter(getattr(photo, "icc_profile", None))(photo.data, None)


def _one_line(e: BaseException, path) -> str:
    """The error's first line without the file name it starts with (the message names it)."""
    msg = str(e).strip().splitlines()[0] if str(e).strip() else "unreadable file"
    for prefix in (f"{path}: ", f"{Path(path)}: ", f"{Path(path).resolve()}: "):
        msg = msg.replace(prefix, "")
    return msg


class Files(QObject):
    def __init__(self, window, recent_menu):
        super().__init__(window)
        self.w = window
        self.doc = window.document
        self.recent_menu = recent_menu
        self.recent: list[str] = []
        self.opening: str | None = None       # the photo being read in the background

    # ------------------------------------------------------------------ folders and recent files
    def last_folder(self) -> str:
        f = self.w.settings.value("lastFolder", "")
        return f if isinstance(f, str) and f and os.path.isdir(f) else str(Path.home())

    def _used(self, path: str) -> None:
        """`path` was opened or saved: its folder is where dialogs start, it heads the recent files."""
        self.w.settings.setValue("lastFolder", str(Path(path).parent))

    def _add_recent(self, path: str) -> None:
        path = str(Path(path).resolve())
        self.set_recent([path] + [p for p in self.recent if p != path])

    def set_recent(self, paths: list[str]) -> None:
        self.recent = [p for p in paths if isinstance(p, str)][:MAX_RECENT]
        self.w.settings.setValue("recent", self.recent)
        m = self.recent_menu
        m.clear()
        for i, p in enumerate(self.recent):
            act = m.addAction(f"&{i + 1}  {Path(p).name}" if i < 9 else Path(p).name)
            act.setToolTip(p)
            act.setStatusTip(p)
            act.triggered.connect(lambda _=False, path=p: self.open_soon(path))
        if self.recent:
            m.addSeparator()
            m.addAction("Clear Recent Files", lambda: self.set_recent([]))
        m.setEnabled(bool(self.recent))

    # ------------------------------------------------------------------ opening
    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.w, "Open photo", self.last_folder(), IMAGE_FILTER)
        if path:
            self.open_soon(path)

    def open_soon(self, path: str) -> None:
        """Open what the user chose (dialog, drop, recent file): a photo is read in the
        background when the asyncio loop runs (the app's qasync loop), else at once."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            self.open_path(path)
            return
        if str(path).lower().endswith(".dipproj"):
            self.open_project(path)
        else:
            asyncio.ensure_future(self.open_async(path))

    def open_path(self, path: str) -> bool:
        """Open a photo (or a .dipproj project) into the document, reading it on this thread."""
        if str(path).lower().endswith(".dipproj"):
            return self.open_project(path)
        if not self._may_open(path):
            return False
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            photo, display = read_photo(path)
        except Exception as e:  # noqa: BLE001 - a message, never a traceback dialog
            return self._unreadable(path, e)
        finally:
            QApplication.restoreOverrideCursor()
        return self._show(path, photo, display)

    async def open_async(self, path: str) -> bool:
        """Open a photo, reading it on a worker thread while the window stays live."""
        w = self.w
        if not self._may_open(path):
            return False
        self.opening = path
        w.hint_label.setText(f"Opening {Path(path).name}…")
        try:
            photo, display = await asyncio.get_running_loop().run_in_executor(None, read_photo, path)
        except Exception as e:  # noqa: BLE001
            return self._unreadable(path, e)
        finally:
            self.opening = None
            w.update_hint()
        if w.busy:                 # a run of the previous photo started while this one was read
            w.show_error(f"Did not open {Path(path).name}: a restoration is running.")
            return False
        return self._show(path, photo, display)

    def _still_opening(self) -> bool:
        """True, said in the status bar, while a photo is being read: it would replace whatever
        were opened or pasted meanwhile."""
        if self.opening is None:
            return False
        self.w.flash(f"Still opening {Path(self.opening).name}…")
        return True

    def _may_open(self, path: str) -> bool:
        w = self.w
        if self._still_opening():
            return False
        if w.busy:
            w.show_error("A restoration is running: stop it before opening another photo.")
            return False
        return w.may_discard_result("Open another photo", f"Open {Path(path).name} and discard the result?")

    def _unreadable(self, path: str, e: Exception) -> bool:
        from dip_engine import imageio
        name = Path(path).name
        if isinstance(e, imageio.ImageError):
            self.w.show_error(f"Could not open {name}: {_one_line(e, path)}")
        elif isinstance(e, MemoryError):
            self.w.show_error(f"Could not open {name}: not enough memory for a photo this large.")
        else:
            self.w.show_error(f"Could not open {name}: {type(e).__name__}: {e}")
        return False

    def _show(self, path: str, photo, display) -> bool:
        w = self.w
        try:
            self.doc.load(photo, path, display=display)
        except MemoryError:
            w.show_error(f"Could not show {Path(path).name}: not enough memory for a photo this large.")
            return False
        self._used(path)
        self._add_recent(path)
        if getattr(photo, "developed", None):   # a camera RAW file: say how it was turned into a photo
            w.notify(photo.developed, "info")
        w.photoLoaded.emit(path)
        return True

    def paste(self) -> None:
        w = self.w
        md = QApplication.clipboard().mimeData()
        if md is None:
            return
        if md.hasUrls():
            for u in md.urls():
                if u.isLocalFile() and os.path.isfile(u.toLocalFile()):
                    self.open_soon(u.toLocalFile())
                    return
        if md.hasText() and os.path.isfile(md.text().strip()):
            self.open_soon(md.text().strip())
            return
        if not md.hasImage():
            w.show_error("The clipboard holds no picture or photo file to paste.")
            return
        img = QApplication.clipboard().image()
        if img.isNull():
            w.show_error("The clipboard holds no picture.")
            return
        if self._still_opening() or not w.may_discard_result("Paste a photo", "Paste the picture and discard the result?"):
            return
        fd, tmp = tempfile.mkstemp(suffix=".png", prefix="dip-paste-")
        os.close(fd)
        try:
            if not img.save(tmp, "PNG"):
                w.show_error("Could not read the picture on the clipboard.")
                return
            from dip_engine import imageio
            try:
                photo = imageio.load_image(tmp)
            except Exception as e:  # noqa: BLE001
                w.show_error(f"Could not read the picture on the clipboard: {e}")
                return
            self.doc.load(photo, None, name="Pasted image")
        finally:
            try:
                os.unlink(tmp)
            except OSError:
                pass

    # ------------------------------------------------------------------ projects
    def open_project_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.w, "Open project", self.last_folder(), PROJECT_FILTER)
        if path:
            self.open_path(path)

    def open_project(self, path: str) -> bool:
        w = self.w
        if w.busy:
            w.show_error("A restoration is running: stop it before opening a project.")
            return False
        if not w.may_discard_result("Open a project", "Open the project anyway?"):
            return False
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            ok = w.projects.open_project(path)
        finally:
            QApplication.restoreOverrideCursor()
        if ok:
            self._used(path)
            self._add_recent(path)
            w.photoLoaded.emit(path)
        return ok

    def save_project(self) -> bool:
        if self.doc.project_path:
            return self.save_project_to(self.doc.project_path)
        return self.save_project_as_dialog()

    def save_project_as_dialog(self) -> bool:
        if self.doc.photo is None:
            return False
        start = self.doc.project_path or self.default_save_path("project", ".dipproj")
        path, _ = QFileDialog.getSaveFileName(self.w, "Save project", start, PROJECT_FILTER)
        return bool(path) and self.save_project_to(path)

    def save_project_to(self, path: str, embed: bool | None = None) -> bool:
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            ok = self.w.projects.save_project_to(path, embed)
        finally:
            QApplication.restoreOverrideCursor()
        if ok:
            self._used(path)
            self._add_recent(path)
        return ok

    def set_embed_photo(self, on: bool) -> None:
        self.w.settings.setValue("project/embed_photo", bool(on))

    # ------------------------------------------------------------------ saving pictures
    def default_save_path(self, suffix: str, ext: str = ".png") -> str:
        stem = Path(self.doc.name).stem or "photo"
        folder = Path(self.doc.path).parent if self.doc.path else Path(self.last_folder())
        return str(folder / f"{stem}_{suffix}{ext}")

    def _ask_save_path(self, title: str, start: str) -> tuple[str | None, int | None]:
        w = self.w
        path, flt = QFileDialog.getSaveFileName(w, title, start, ";;".join(SAVE_FILTERS))
        if not path:
            return None, None
        if not Path(path).suffix:
            path += SAVE_FILTERS.get(flt, ".png")
        quality = None
        if Path(path).suffix.lower() in (".jpg", ".jpeg", ".webp"):
            q, ok = QInputDialog.getInt(w, "JPEG quality" if "jp" in Path(path).suffix.lower() else "WebP quality",
                                        "Quality (1–100; higher keeps more detail, larger file):",
                                        int(w.settings.value("save/quality", 95)), 1, 100, 1)
            if not ok:
                return None, None
            quality = q
            w.settings.setValue("save/quality", q)
        return path, quality

    def _is_original(self, path: str) -> bool:
        return bool(self.doc.path and Path(path).resolve() == Path(self.doc.path))

    def save_result_dialog(self) -> None:
        if self.doc.result is None:
            self.w.notify("There is no result to save yet: run a restoration first.", "info")
            return
        path, quality = self._ask_save_path("Save result", self.default_save_path("restored"))
        if path:
            # the file dialog already asked before replacing an existing file
            self.save_result_to(path, quality=quality, overwrite=os.path.exists(path), confirmed=False)

    def save_photo_to(self, photo, path: str, quality: int | None = None, overwrite: bool = False,
                      confirmed: bool = False, metadata: dict | None = None) -> bool:
        from dip_engine import imageio
        w = self.w
        is_original = self._is_original(path)
        if is_original and not confirmed and not w.confirm(
                "Replace the original photo?",
                f"{Path(path).name} is the original photo. Replace it with the result? This cannot be undone."):
            return False
        kw = {"overwrite": overwrite or is_original}
        if quality is not None:
            kw["quality"] = int(quality)
        if metadata:
            kw["metadata"] = metadata
        try:
            imageio.save_image(photo, path, **kw)
        except FileExistsError:
            if not w.confirm("Replace file?", f"{Path(path).name} already exists. Replace it?"):
                return False
            kw["overwrite"] = True
            try:
                imageio.save_image(photo, path, **kw)
            except Exception as e:  # noqa: BLE001
                w.show_error(f"Could not save {Path(path).name}: {e}")
                return False
        except MemoryError:
            w.show_error(f"Could not save {Path(path).name}: out of memory.")
            return False
        except Exception as e:  # noqa: BLE001
            w.show_error(f"Could not save {Path(path).name}: {e}")
            return False
        self._used(path)
        return True

    def save_result_to(self, path: str, quality: int | None = None, overwrite: bool = False,
                       confirmed: bool = False) -> bool:
        if self.doc.result is None:
            return False
        ok = self.save_photo_to(self.doc.result, path, quality, overwrite, confirmed, self.doc.result_meta or None)
        if ok:
            self.doc.mark_saved()
            self.w.notify(f"Saved the result to {path}", "success")
        return ok

    def save_snapshot_dialog(self, snap: Snapshot | None = None) -> None:
        snap = snap if isinstance(snap, Snapshot) else self.w.compare.shown_snapshot()
        if snap is None:
            if self.doc.result is not None:
                return self.save_result_dialog()
            self.w.notify("Pick a snapshot in the history strip first.", "info")
            return
        path, quality = self._ask_save_path(f"Save iteration {snap.iteration}",
                                            self.default_save_path(f"it{snap.iteration}"))
        if path:
            self.save_snapshot_to(snap, path, quality, overwrite=os.path.exists(path))

    def save_snapshot_to(self, snap: Snapshot, path: str, quality: int | None = None,
                         overwrite: bool = False, confirmed: bool = False) -> bool:
        photo = self.w.run.snapshot_photo(snap)
        if photo is None:
            return False
        meta = dict(self.doc.result_meta or {})
        if meta:
            meta["dip:iterations"] = str(snap.iteration)
        ok = self.save_photo_to(photo, path, quality, overwrite, confirmed, meta or None)
        if ok:
            self.w.notify(f"Saved iteration {snap.iteration} to {path}", "success")
        return ok

    def save_comparison_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self.w, "Save comparison image", self.default_save_path("compare"),
                                              "PNG (*.png);;JPEG (*.jpg *.jpeg)")
        if path:
            if not Path(path).suffix:
                path += ".png"
            self.save_comparison_to(path)

    def save_comparison_to(self, path: str) -> bool:
        """The compare view as the user sees it, as a PNG or JPEG, written atomically."""
        from dip_engine import imageio
        w = self.w
        if self._is_original(path):
            w.show_error("That is the original photo: choose another name for the comparison image.")
            return False
        fmt = "JPG" if Path(path).suffix.lower() in (".jpg", ".jpeg") else "PNG"
        data = QByteArray()
        buf = QBuffer(data)
        buf.open(QIODevice.OpenModeFlag.WriteOnly)
        try:
            if not w.compare.render().save(buf, fmt, 95):
                raise OSError("could not encode the picture")
            imageio.write_atomic(path, lambda fp: fp.write(bytes(data)), overwrite=True)
        except Exception as e:  # noqa: BLE001
            w.show_error(f"Could not save the comparison: {e}")
            return False
        self.w.notify(f"Saved the comparison to {path}", "success")
        return True
