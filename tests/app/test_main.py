"""`dip-studio PHOTO` starts under the qasync event loop, opens the photo and quits cleanly."""
from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = r"""
import sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
app = QApplication(sys.argv[:1])
seen = {}
tries = [0]
def check():
    w = QApplication.topLevelWidgets()
    win = [x for x in w if x.objectName() == "MainWindow"][0]
    if win.document.photo is None and tries[0] < 300:   # a busy machine opens it later: wait up to a minute
        tries[0] += 1
        QTimer.singleShot(200, check)
        return
    seen["photo"] = None if win.document.photo is None else (win.document.photo.width, win.document.photo.height)
    import asyncio
    seen["loop"] = type(asyncio.get_event_loop()).__name__
    win.close()
QTimer.singleShot(500, check)
from app.main import main
rc = main([sys.argv[1]])
print("RESULT", rc, seen["photo"], seen["loop"])
"""


def test_entry_point_opens_the_photo_under_qasync_and_quits(tiny_photo, tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "cfg"),
               HOME=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", SCRIPT, tiny_photo], env=env, capture_output=True, text=True,
                         timeout=120, cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert "RESULT 0 (48, 40)" in out.stdout, out.stdout + out.stderr
    assert "SelectorEventLoop" in out.stdout and out.stdout.split()[-1].startswith("Q")   # qasync's loop
    assert (tmp_path / "cfg" / "DIP Studio" / "dip-studio.ini").exists()   # settings were written
