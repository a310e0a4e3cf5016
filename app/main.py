"""`dip-studio [PHOTO | PROJECT.dipproj]`: QApplication + qasync event loop, the main window, the dark theme."""
from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

APP_NAME = "DIP Studio"
ORG = "DIP Studio"


def dark_palette() -> QPalette:
    p = QPalette()
    bg, base, text = QColor(33, 36, 42), QColor(26, 28, 33), QColor(218, 222, 229)
    p.setColor(QPalette.ColorRole.Window, bg)
    p.setColor(QPalette.ColorRole.WindowText, text)
    p.setColor(QPalette.ColorRole.Base, base)
    p.setColor(QPalette.ColorRole.AlternateBase, bg)
    p.setColor(QPalette.ColorRole.ToolTipBase, QColor(45, 49, 57))
    p.setColor(QPalette.ColorRole.ToolTipText, text)
    p.setColor(QPalette.ColorRole.Text, text)
    p.setColor(QPalette.ColorRole.Button, QColor(44, 48, 56))
    p.setColor(QPalette.ColorRole.ButtonText, text)
    p.setColor(QPalette.ColorRole.BrightText, QColor(255, 255, 255))
    p.setColor(QPalette.ColorRole.Highlight, QColor(76, 141, 255))
    p.setColor(QPalette.ColorRole.HighlightedText, QColor(255, 255, 255))
    p.setColor(QPalette.ColorRole.Link, QColor(111, 177, 255))
    p.setColor(QPalette.ColorRole.PlaceholderText, QColor(120, 126, 138))
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor(110, 116, 128))
    return p


def apply_theme(app: QApplication) -> None:
    from app.ui.resources import style_sheet
    app.setStyle("Fusion")
    app.setPalette(dark_palette())
    app.setStyleSheet(style_sheet("dark"))


def make_settings() -> QSettings:
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORG, "dip-studio")


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="dip-studio", description="Restore photos with Deep Image Prior.")
    ap.add_argument("photo", nargs="?", help="a photo or a project (.dipproj) to open")
    ap.add_argument("--demo-state", choices=["mask", "running", "compare", "error", "confidence", "variations",
                                             "scratches"],
                    help=argparse.SUPPRESS)   # drives the real UI into a state, for screenshots
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--selftest" in argv:
        from app.selftest import run
        return run()
    args = parse_args(argv)
    import qasync

    QApplication.setAttribute(Qt.ApplicationAttribute.AA_DontShowIconsInMenus, False)
    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(ORG)
    app.setApplicationDisplayName(APP_NAME)
    apply_theme(app)

    from app.ui.resources import icon
    from app.ui.window import MainWindow
    app.setWindowIcon(icon("inpaint"))

    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    window = MainWindow(make_settings())
    window.show()
    app.aboutToQuit.connect(window.shutdown)

    def start() -> None:
        window.start_session()          # autosave; offers to restore work after a crash
        if args.photo:
            window.files.open_soon(args.photo)
    QTimer.singleShot(0, start)
    if args.demo_state:
        from app.ui.demo import drive
        QTimer.singleShot(50, lambda: drive(window, args.demo_state))
    # Ctrl+C in the terminal closes the window the normal way
    signal.signal(signal.SIGINT, lambda *_: window.close())
    wake = QTimer()
    wake.timeout.connect(lambda: None)     # lets Python run its signal handlers while Qt waits
    wake.start(500)

    closed = asyncio.Event()
    app.lastWindowClosed.connect(closed.set)
    with loop:
        loop.run_until_complete(closed.wait())
    window.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
