"""Where the app's icons and style sheet live, and small loaders for them."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PySide6.QtGui import QIcon

ROOT = Path(__file__).resolve().parents[2] / "resources"
ICONS = ROOT / "icons"
STYLES = ROOT / "styles"


@lru_cache(maxsize=None)
def icon(name: str) -> QIcon:
    path = ICONS / f"{name}.svg"
    return QIcon(str(path)) if path.exists() else QIcon()


def style_sheet(name: str = "dark") -> str:
    path = STYLES / f"{name}.qss"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return ""
    return text.replace("@ICONS@", ICONS.as_posix())
