"""The history filmstrip (original, snapshots, current) and the compare bar above it."""
from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QHBoxLayout, QLabel, QListView,
                               QListWidget, QListWidgetItem, QToolButton, QWidget)

from app.ui.layers import pixmap_from_rgb

ORIGINAL, CURRENT = "original", "current"
THUMB_H = 64
ROLE = Qt.ItemDataRole.UserRole
# one numbering everywhere, said once: iterations are the fit's optimisation steps
RESULT_TIP = ("The result is the smoothed output at iteration {it}. Iterations count the fit's "
              "steps, the same in the counter, the loss chart, the history and the result; a run "
              "may go on past its result to make sure the quality has peaked.")


def key_label(key, current_label: str = "Current") -> str:
    if key == ORIGINAL:
        return "Original"
    if key == CURRENT:
        return current_label
    return getattr(key, "label", str(key))


def _thumb_icon(arr) -> QIcon:
    if arr is None:
        pm = QPixmap(96, THUMB_H)
        pm.fill(QColor(40, 43, 50))
        p = QPainter(pm)
        p.setPen(QColor(120, 126, 138))
        p.drawText(pm.rect(), Qt.AlignmentFlag.AlignCenter, "—")
        p.end()
        return QIcon(pm)
    pm = pixmap_from_rgb(arr[:, :, :3] if arr.shape[2] == 4 else arr)
    ic = QIcon()
    for mode in (QIcon.Mode.Normal, QIcon.Mode.Selected, QIcon.Mode.Active):
        ic.addPixmap(pm, mode)     # no blue tint on the selected thumbnail
    return ic


class Filmstrip(QListWidget):
    activatedKey = Signal(object)     # ORIGINAL, CURRENT or a Snapshot
    menuRequested = Signal(object, object)   # key, global position

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("Filmstrip")
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(False)
        self.setMovement(QListView.Movement.Static)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setIconSize(QSize(112, THUMB_H))
        self.setSpacing(4)
        self.setUniformItemSizes(False)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setFixedHeight(THUMB_H + 58)   # room for the labels and a scroll bar
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._menu)
        self.currentItemChanged.connect(self._changed)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self._quiet = False
        self.model().rowsInserted.connect(self._auto_show)
        self.model().rowsRemoved.connect(self._auto_show)
        self.model().modelReset.connect(self._auto_show)
        self.setVisible(False)

    def _auto_show(self, *_a) -> None:
        # shown as soon as a photo is open, so the canvas does not shrink when a run starts
        self.setVisible(self.count() > 0)

    def paintEvent(self, e) -> None:
        super().paintEvent(e)
        if self.count() == 1:          # only the original: say what will come here
            p = QPainter(self.viewport())
            r = self.visualItemRect(self.item(0))
            p.setPen(QColor(120, 126, 138))
            p.drawText(self.viewport().rect().adjusted(r.right() + 20, 0, 0, 0),
                       Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                       "Snapshots of a run appear here: click one to look at it, compare it, or make it the result.")
            p.end()

    def reset_strip(self, original_thumb) -> None:
        self._quiet = True
        self.clear()
        self._add(ORIGINAL, "Original", original_thumb)
        self._quiet = False

    def _add(self, key, text, thumb, row=None) -> QListWidgetItem:
        item = QListWidgetItem(_thumb_icon(thumb), text)
        item.setData(ROLE, key)
        item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter)
        item.setToolTip(key_label(key))
        if row is None:
            self.addItem(item)
        else:
            self.insertItem(row, item)
        return item

    def row_of(self, key) -> int:
        for i in range(self.count()):
            if self.item(i).data(ROLE) is key or self.item(i).data(ROLE) == key and isinstance(key, str):
                return i
        return -1

    def keys(self) -> list:
        return [self.item(i).data(ROLE) for i in range(self.count())]

    def set_current(self, thumb, text: str = "Current", tip: str | None = None) -> None:
        """Show (or update) the live 'current' item at the end."""
        i = self.row_of(CURRENT)
        if i < 0:
            it = self._add(CURRENT, text, thumb)
        else:
            it = self.item(i)
            if thumb is not None:
                it.setIcon(_thumb_icon(thumb))
            it.setText(text)
        it.setToolTip(tip or text)

    def remove_current(self) -> None:
        i = self.row_of(CURRENT)
        if i >= 0:
            self._quiet = True
            self.takeItem(i)
            self._quiet = False

    def add_snapshot(self, snap) -> None:
        """Insert in iteration order; a snapshot of the same iteration (a preview the result
        replaces) goes."""
        row = None
        for i in range(self.count()):
            key = self.item(i).data(ROLE)
            if key == CURRENT or (not isinstance(key, str) and key.iteration >= snap.iteration):
                if not isinstance(key, str) and key.iteration == snap.iteration:
                    self._quiet = True
                    self.takeItem(i)
                    self._quiet = False
                row = i
                break
        item = self._add(snap, f"{snap.iteration}" + (" ✓" if snap.final else ""), snap.thumb, row=row)
        if snap.final:
            item.setToolTip(RESULT_TIP.format(it=snap.iteration))

    def remove_snapshot(self, snap) -> None:
        i = self.row_of(snap)
        if i >= 0:
            self._quiet = True
            self.takeItem(i)
            self._quiet = False

    def select_key(self, key) -> None:
        i = self.row_of(key)
        if i >= 0:
            self._quiet = True
            self.setCurrentRow(i)
            self.scrollToItem(self.item(i))
            self._quiet = False

    def _changed(self, cur, _prev) -> None:
        if cur is not None and not self._quiet:
            self.activatedKey.emit(cur.data(ROLE))

    def _menu(self, pos) -> None:
        item = self.itemAt(pos)
        if item is not None:
            self.menuRequested.emit(item.data(ROLE), self.viewport().mapToGlobal(pos))


class CompareBar(QWidget):
    """View mode buttons and the two pickers: A (left) and B (right)."""
    sourcesChanged = Signal(object, object)

    def __init__(self, actions: dict, parent=None):
        super().__init__(parent)
        self.setObjectName("CompareBar")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(10, 4, 10, 4)
        lay.setSpacing(6)
        title = QLabel("HISTORY")
        title.setObjectName("SectionTitle")
        lay.addWidget(title)
        self.info = QLabel("")
        self.info.setObjectName("Hint")
        lay.addWidget(self.info)
        lay.addStretch(1)
        self.a_label = QLabel("Left")
        self.a_combo = QComboBox()
        self.b_label = QLabel("Right")
        self.b_combo = QComboBox()
        for c in (self.a_combo, self.b_combo):
            c.setMinimumWidth(150)
            c.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        lay.addWidget(self.a_label)
        lay.addWidget(self.a_combo)
        lay.addWidget(self.b_label)
        lay.addWidget(self.b_combo)
        for key in ("make_result", "save_snapshot"):
            b = QToolButton()
            b.setObjectName("SmallAction")
            b.setDefaultAction(actions[key])
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            lay.addWidget(b)
        actions["make_result"].setIconText("Make result")
        actions["save_snapshot"].setIconText("Save…")
        lay.addSpacing(10)
        for key in ("view_single", "view_split", "view_side"):
            b = QToolButton()
            b.setObjectName("ModeButton")
            b.setDefaultAction(actions[key])
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
            lay.addWidget(b)
        self._quiet = False
        self.a_combo.currentIndexChanged.connect(self._emit)
        self.b_combo.currentIndexChanged.connect(self._emit)

    def set_keys(self, keys: list, a, b, current_label: str = "Current") -> None:
        self._quiet = True
        for combo, sel in ((self.a_combo, a), (self.b_combo, b)):
            combo.clear()
            for k in keys:
                combo.addItem(key_label(k, current_label), k)
            idx = 0
            for i, k in enumerate(keys):
                if k is sel or (isinstance(sel, str) and k == sel):
                    idx = i
            combo.setCurrentIndex(idx)
        self._quiet = False

    def set_mode(self, mode: str) -> None:
        single = mode == "single"
        self.a_label.setVisible(not single)
        self.a_combo.setVisible(not single)
        self.b_label.setText("Showing" if single else "Right")

    def _emit(self, *_a) -> None:
        if not self._quiet:
            self.sourcesChanged.emit(self.a_combo.currentData(), self.b_combo.currentData())
