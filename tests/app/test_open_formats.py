"""The Open dialog and drop take HEIC and camera RAW; an unsupported file names what is."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QFileDialog

from dip_engine import imageio
from dip_engine.selftest import write_dng


def drop(window, path) -> None:
    md = QMimeData()
    md.setUrls([QUrl.fromLocalFile(str(path))])
    enter = QDragEnterEvent(QPoint(50, 50), Qt.DropAction.CopyAction, md, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window.canvas, enter)
    assert enter.isAccepted()
    ev = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, md, Qt.MouseButton.LeftButton,
                    Qt.KeyboardModifier.NoModifier)
    if not QApplication.sendEvent(window.canvas, ev):
        window.canvas.dropEvent(ev)     # without a platform drag, Qt only routes Drop to a drag target


def test_open_dialog_offers_heic_and_raw_and_opens_a_dng(window, tmp_path, monkeypatch):
    dng = write_dng(tmp_path / "IMG_0001.DNG")
    offered = []

    def dialog(parent, caption, folder, filters):
        offered.append(filters)
        return str(dng), ""

    monkeypatch.setattr(QFileDialog, "getOpenFileName", dialog)
    window.actions_["open"].trigger()
    globs = offered[0].split(";;")[0]
    for suffix in imageio.READ_SUFFIXES:
        assert f"*{suffix}" in globs and f"*{suffix.upper()}" in globs, suffix
    assert any(f.startswith("Camera RAW (") for f in offered[0].split(";;"))
    assert "96 × 64 · 16-bit RGB" in window.info_label.text()
    # the photographer is told that (and how) the RAW file was developed
    assert window.banner.isVisible() and "white balance" in window.banner.text.text().lower()


def test_dropping_heic_and_raw_opens_them(window, tmp_path):
    data = np.zeros((40, 56, 3), np.uint8)
    data[..., 1] = 200
    heic = imageio.save_image(imageio.Photo(data), tmp_path / "phone.heic")
    drop(window, heic)
    assert (window.document.photo.width, window.document.photo.height) == (56, 40)
    assert "56 × 40 · 8-bit RGB" in window.info_label.text()
    drop(window, write_dng(tmp_path / "shot.nef.dng"))
    assert "96 × 64 · 16-bit RGB" in window.info_label.text()


def test_dropping_an_unsupported_file_names_the_supported_ones(window, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo " * 40)
    drop(window, notes)
    assert window.banner.isVisible() and window.banner.kind == "error"
    text = window.banner.message()
    assert "notes.txt" in text and "HEIC" in text and "camera RAW" in text and "\n" not in text
