"""The window's actions, menus and toolbar as tables, and when each action is enabled.

`ACTIONS` names each action once: its text, shortcut, icon, tip and the method it calls (a path
from the window, "files.open_dialog"). `MENUS` and `TOOLBAR` place them by key. `ENABLED` says
when an action can be used, from a `Facts` snapshot of the document and the run; the window
computes it when one of those changes, never per frame.
"""
from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter
from typing import Any, Callable, NamedTuple

from PySide6.QtGui import QAction, QActionGroup, QKeySequence

from app.ui.resources import icon

K = QKeySequence.StandardKey
RECENT = "@recent"                 # in MENUS: the Open Recent submenu
MASK = "@mask"                     # in MENUS: the Mask submenu (load, save)


@dataclass(frozen=True)
class Act:
    key: str
    text: str
    slot: str                      # path from the window to the method called
    shortcut: Any = None           # a QKeySequence.StandardKey, a string, or a list of strings
    icon: str | None = None
    tip: str | None = None
    checkable: bool = False
    checked: bool = False
    group: str | None = None       # actions in one group are exclusive
    arg: Any = None                # passed to the slot (a checkable one: when it is checked)


ACTIONS = [
    Act("open", "&Open Photo…", "files.open_dialog", K.Open, "open"),
    Act("paste", "&Paste Photo", "files.paste", K.Paste),
    Act("save", "&Save Result…", "files.save_result_dialog", K.Save, "save"),
    Act("save_snapshot", "Save Shown &Snapshot…", "files.save_snapshot_dialog", icon="save"),
    Act("save_compare", "Save &Comparison Image…", "files.save_comparison_dialog"),
    Act("batch", "&Batch…", "open_batch",
        tip="Restore a whole folder of photos with the current task and settings"),
    Act("open_project", "Open Pro&ject…", "files.open_project_dialog", "Ctrl+Shift+O", "open",
        "Open a project: photo, mask, settings, history and the saved run"),
    Act("save_project", "Save Pro&ject", "files.save_project", "Ctrl+Alt+S", "save",
        "Save photo, mask, settings, history and the run's state in one file"),
    Act("save_project_as", "Save Project &As…", "files.save_project_as_dialog", "Ctrl+Shift+S"),
    Act("embed_photo", "Keep a Copy of the Photo in Projects", "files.set_embed_photo",
        tip="On: projects hold the photo. Off: they refer to the photo file by path and checksum",
        checkable=True),
    Act("load_mask", "Load…", "masks.load_dialog", icon="mask-load", tip="Load a mask PNG (white = fill)"),
    Act("save_mask", "Save…", "masks.save_dialog", icon="mask-save",
        tip="Save the mask as a lossless PNG (white = fill)"),
    Act("quit", "&Quit", "close", K.Quit),
    Act("undo", "&Undo", "masks.undo", K.Undo, "undo"),
    Act("redo", "&Redo", "masks.redo", ["Ctrl+Shift+Z", "Ctrl+Y"], "redo"),
    Act("clear_mask", "Clear", "masks.clear", icon="clear", tip="Clear the whole mask"),
    Act("invert_mask", "Invert", "masks.invert", icon="invert", tip="Invert the mask"),
    Act("grow_mask", "Grow", "masks.grow", icon="grow", tip="Grow the mask outwards"),
    Act("shrink_mask", "Shrink", "masks.shrink", icon="shrink", tip="Shrink the mask inwards"),
    Act("make_result", "Make Shown Snapshot the Result", "run.make_shown_result", icon="check",
        tip="Use the snapshot being looked at as the result (saved with Ctrl+S)"),
    Act("use_result", "Use Result as Photo", "run.use_result_as_photo",
        tip="Continue working on the result: it becomes the photo"),
    Act("fit", "Fit to Window", "canvas.fit", "Ctrl+0", "fit"),
    Act("actual", "Actual Size (100 %)", "compare.actual_size", "Ctrl+1", "zoom100"),
    Act("zoom_in", "Zoom In", "canvas.zoom_by", K.ZoomIn, arg=1.25),
    Act("zoom_out", "Zoom Out", "canvas.zoom_by", K.ZoomOut, arg=0.8),
    Act("show_mask", "Show Mask", "masks.update_display", "M", "eye", "Show or hide the mask overlay",
        checkable=True, checked=True),
    Act("show_confidence", "Show Confidence Map", "compare.set_confidence_visible", "C",
        tip="Colour where the result is still a guess: how much each pixel changed over the last iterations",
        checkable=True),
    Act("view_single", "Single View", "compare.set_view_mode", None, "single", "Show one picture",
        checkable=True, checked=True, group="view", arg="single"),
    Act("view_split", "Split Compare", "compare.set_view_mode", None, "split",
        "Compare two pictures with a draggable divider", checkable=True, group="view", arg="split"),
    Act("view_side", "Side by Side", "compare.set_view_mode", None, "sidebyside",
        "Compare two pictures side by side (zoom and pan stay in sync)", checkable=True, group="view", arg="side"),
    Act("brush", "Brush", "masks.set_tool", "P", "brush", "Paint the mask", checkable=True, group="tool",
        arg="brush"),
    Act("eraser", "Eraser", "masks.set_tool", "E", "eraser", "Erase the mask", checkable=True, group="tool",
        arg="eraser"),
    Act("pan", "Hand", "masks.set_tool", "H", "pan", "Pan the view", checkable=True, checked=True, group="tool",
        arg="pan"),
    Act("brush_smaller", "Smaller Brush", "canvas.step_brush", "[", arg=-1),
    Act("brush_larger", "Larger Brush", "canvas.step_brush", "]", arg=1),
    Act("run", "&Restore", "run.start", ["Ctrl+Return", "Ctrl+R"], "play", "Start restoring with the chosen task"),
    Act("pause", "Pause", "run.toggle_pause", "Ctrl+P", "pause", "Pause or resume the run"),
    Act("stop", "Stop", "run.stop", "Esc", "stop",
        "Stop and keep the best result so far (or the starting picture, if it is too early)"),
    Act("continue", "&Continue Run", "run.continue_run", "Ctrl+Shift+Return", "play",
        "Continue the last run from where it stopped (same settings)"),
    Act("variations", "&Variations…", "variations.open_dialog", "Ctrl+Shift+V",
        tip="Run the job with several seeds, see them side by side and pick one as the result"),
    Act("reset_settings", "Reset Settings…", "reset_settings"),
    Act("shortcuts", "Keyboard Shortcuts", "show_shortcuts", "F1"),
    Act("about", "About DIP Studio", "show_about"),
]

MENUS = {
    "&File": ["open", RECENT, "paste", "open_project", "batch", None, "save", "save_snapshot", "save_compare", None,
              "save_project", "save_project_as", "embed_photo", None, MASK, None, "quit"],
    "&Edit": ["undo", "redo", None, "clear_mask", "invert_mask", "grow_mask", "shrink_mask", None, "make_result",
              "use_result"],
    "&View": ["fit", "actual", "zoom_in", "zoom_out", None, "show_mask", "show_confidence", None, "view_single", "view_split",
              "view_side"],
    "&Tools": ["brush", "eraser", "pan", None, "brush_smaller", "brush_larger"],
    "&Run": ["run", "continue", "pause", "stop", None, "variations"],
    "&Settings": ["reset_settings"],
    "&Help": ["shortcuts", "about"],
}
MASK_MENU = ["load_mask", "save_mask"]
TOOLBAR = ["open", "save", None, "undo", "redo", None, "brush", "eraser", "pan", None, "fit", "actual",
           None, "view_single", "view_split", "view_side"]


class Facts(NamedTuple):
    """What the enabled state of the actions depends on."""
    photo: bool                    # a photo is open
    busy: bool                     # a run is going
    inpaint: bool                  # the task is inpainting
    result: bool                   # there is a result
    checkpoint: bool               # the last run can be continued
    can_undo: bool
    can_redo: bool
    shown: Any                     # the Snapshot being looked at, or None
    result_snapshot: Any           # the Snapshot made the result, or None
    task: str = ""                 # the task chosen in the panel


def _mask_tool(f: Facts) -> bool:
    return f.photo and not f.busy and f.inpaint


def _viewing(f: Facts) -> bool:
    return f.photo


ENABLED: dict[str, Callable[[Facts], bool]] = {
    "open": lambda f: not f.busy,
    "paste": lambda f: not f.busy,
    "open_project": lambda f: not f.busy,
    "save": lambda f: f.result,
    "save_snapshot": lambda f: f.shown is not None or f.result,
    "save_compare": _viewing,
    "save_project": _viewing,
    "save_project_as": _viewing,
    "use_result": lambda f: f.result and not f.busy,
    "make_result": lambda f: f.shown is not None and f.shown.restorable and not f.busy
    and f.shown is not f.result_snapshot,
    **{k: _mask_tool for k in ("load_mask", "save_mask", "clear_mask", "invert_mask", "grow_mask", "shrink_mask")},
    "undo": lambda f: f.can_undo and not f.busy,
    "redo": lambda f: f.can_redo and not f.busy,
    "brush": lambda f: f.photo and not f.busy,        # P / E on another task switch to Inpaint
    "eraser": lambda f: f.photo and not f.busy,
    **{k: _viewing for k in ("fit", "actual", "zoom_in", "zoom_out", "show_confidence", "view_single",
                             "view_split", "view_side")},
    "variations": lambda f: f.photo and not f.busy and f.task in ("inpaint", "sr"),
    "run": lambda f: f.photo and not f.busy,
    "continue": lambda f: f.photo and not f.busy and f.checkpoint,
    "pause": lambda f: f.busy,
    "stop": lambda f: f.busy,
}


def _tip(a: Act) -> str:
    tip = a.tip or a.text.replace("&", "").rstrip(".…")
    if a.shortcut:
        sc = a.shortcut[0] if isinstance(a.shortcut, list) else a.shortcut
        tip += f"  ({QKeySequence(sc).toString(QKeySequence.SequenceFormat.NativeText)})"
    return tip


def build_actions(window) -> dict[str, QAction]:
    """One QAction per row of ACTIONS, added to `window`; slots are connected by `connect_actions`."""
    actions, groups = {}, {}
    for a in ACTIONS:
        q = QAction(a.text, window)
        if isinstance(a.shortcut, list):
            q.setShortcuts([QKeySequence(s) for s in a.shortcut])
        elif a.shortcut:
            q.setShortcut(QKeySequence(a.shortcut))
        if a.icon:
            q.setIcon(icon(a.icon))
        tip = _tip(a)
        q.setToolTip(tip)
        q.setStatusTip(tip)
        q.setCheckable(a.checkable)
        q.setChecked(a.checked)
        if a.group:
            groups.setdefault(a.group, QActionGroup(window)).addAction(q)
        window.addAction(q)
        actions[a.key] = q
    return actions


def connect_actions(window, actions: dict[str, QAction]) -> None:
    """Connect each action to its slot (once the window's controllers exist)."""
    for a in ACTIONS:
        fn = attrgetter(a.slot)(window)
        q = actions[a.key]
        if a.checkable and a.arg is not None:
            q.toggled.connect(lambda on, fn=fn, arg=a.arg: on and fn(arg))
        elif a.checkable:
            q.toggled.connect(fn)
        elif a.arg is not None:
            q.triggered.connect(lambda _=False, fn=fn, arg=a.arg: fn(arg))
        else:
            q.triggered.connect(lambda _=False, fn=fn: fn())


def build_menus(menubar, actions: dict[str, QAction]):
    """The menu bar from MENUS; returns the (empty) Open Recent menu."""
    recent = None
    for title, keys in MENUS.items():
        m = menubar.addMenu(title)
        for k in keys:
            if k is None:
                m.addSeparator()
            elif k == RECENT:
                recent = m.addMenu("Open &Recent")
            elif k == MASK:
                mm = m.addMenu("Mask")
                for mk in MASK_MENU:
                    mm.addAction(actions[mk])
            else:
                m.addAction(actions[k])
    return recent


def fill_toolbar(toolbar, actions: dict[str, QAction]) -> None:
    for k in TOOLBAR:
        if k is None:
            toolbar.addSeparator()
        else:
            toolbar.addAction(actions[k])


def update_enabled(actions: dict[str, QAction], facts: Facts) -> None:
    for key, rule in ENABLED.items():
        actions[key].setEnabled(bool(rule(facts)))
