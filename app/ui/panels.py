"""The side panel's sections: task and presets, mask tools, run controls and progress."""
from __future__ import annotations

import math

from PySide6.QtCore import QEvent, QSize, Qt, Signal
from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout,
                               QFrame, QGridLayout, QHBoxLayout, QLabel, QProgressBar,
                               QPushButton, QSizePolicy, QSlider, QSpinBox, QToolButton,
                               QVBoxLayout, QWidget)

from app.model.task import SCALES, TASK_HINTS, TASK_LABELS, TaskSettings, preset_label
from app.ui.losscurve import LossCurve
from app.ui.resources import icon


def section_title(text: str) -> QLabel:
    lab = QLabel(text.upper())
    lab.setObjectName("SectionTitle")
    return lab


def hint_label(text: str = "") -> QLabel:
    lab = QLabel(text)
    lab.setObjectName("Hint")
    lab.setWordWrap(True)
    return lab


class Collapsible(QWidget):
    """A header button that shows or hides its content."""
    toggled = Signal(bool)

    def __init__(self, title: str, content: QWidget, expanded: bool = False, parent=None):
        super().__init__(parent)
        self.button = QToolButton()
        self.button.setObjectName("CollapsibleHeader")
        self.button.setText(title)
        self.button.setCheckable(True)
        self.button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.content = content
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(6)
        lay.addWidget(self.button)
        lay.addWidget(content)
        self.button.toggled.connect(self.set_expanded)
        self.set_expanded(expanded)

    def set_expanded(self, on: bool) -> None:
        self.button.blockSignals(True)
        self.button.setChecked(on)
        self.button.blockSignals(False)
        self.button.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)
        self.content.setVisible(on)
        self.toggled.emit(on)

    def is_expanded(self) -> bool:
        return self.button.isChecked()


class TaskPanel(QWidget):
    """Task picker, scale, preset and the advanced settings."""
    changed = Signal()            # any setting changed
    taskChanged = Signal(str)

    def __init__(self, presets_module=None, parent=None):
        super().__init__(parent)
        self._presets = presets_module
        self._loading = False
        self._overrides: dict[str, object] = {}
        self._holes = False  # inpainting marks are objects / large holes (another network)
        self._auto_stop_applies = True  # the preset can end a run at a quality peak (inpainting cannot)
        # The user's choice, kept while a preset without a peak shows the box unticked: a greyed
        # tick would claim a stop that never comes.
        self._auto_stop_wanted = True
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(8)
        lay.addWidget(section_title("Task"))
        grid = QGridLayout()
        grid.setSpacing(6)
        self.task_group = QButtonGroup(self)
        self.task_group.setExclusive(True)
        self.task_buttons: dict[str, QToolButton] = {}
        for i, task in enumerate(("denoise", "jpeg", "sr", "inpaint")):
            b = QToolButton()
            b.setObjectName("TaskButton")
            b.setText(TASK_LABELS[task])
            b.setIcon(icon(task))
            b.setIconSize(QSize(18, 18))
            b.setCheckable(True)
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            b.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            b.setToolTip(TASK_HINTS[task])
            self.task_group.addButton(b)
            self.task_buttons[task] = b
            grid.addWidget(b, i // 2, i % 2)
            b.clicked.connect(lambda _=False, t=task: self._on_task(t))
        lay.addLayout(grid)
        self.task_hint = hint_label()
        lay.addWidget(self.task_hint)

        form = QFormLayout()
        form.setHorizontalSpacing(10)
        form.setVerticalSpacing(6)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.scale_combo = QComboBox()
        for s in SCALES:
            self.scale_combo.addItem(f"{s}x  (enlarge {s} times)", s)
        self.scale_label = QLabel("Scale")
        form.addRow(self.scale_label, self.scale_combo)
        self.preset_combo = QComboBox()
        self.preset_combo.setObjectName("PresetCombo")
        form.addRow("Preset", self.preset_combo)
        lay.addLayout(form)
        self.preset_hint = hint_label()
        lay.addWidget(self.preset_hint)

        adv = QWidget()
        af = QFormLayout(adv)
        af.setContentsMargins(12, 0, 0, 0)
        af.setHorizontalSpacing(10)
        af.setVerticalSpacing(6)
        self.iters_spin = QSpinBox()
        self.iters_spin.setRange(1, 100000)
        self.iters_spin.setSingleStep(100)
        self.iters_spin.setToolTip("The most iterations the fit may run (auto-stop may end it earlier).")
        self.lr_spin = QDoubleSpinBox()
        self.lr_spin.setDecimals(4)
        self.lr_spin.setRange(0.0001, 1.0)
        self.lr_spin.setSingleStep(0.001)
        self.lr_spin.setToolTip("Adam learning rate.")
        self.channels_spin = QSpinBox()
        self.channels_spin.setRange(8, 512)
        self.channels_spin.setSingleStep(8)
        self.channels_spin.setSuffix(" channels")
        self.channels_spin.setToolTip("Network size: the width of each layer. Larger is slower, often sharper.")
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2 ** 31 - 1)
        self.seed_spin.setToolTip("The random seed: the same seed and settings give the same result.")
        self.auto_stop = QCheckBox("Stop at the quality peak")
        self.auto_stop.setToolTip("Auto-stop watches how much the output still changes and ends the run "
                                  "near its best point.")
        for spin in (self.iters_spin, self.lr_spin, self.channels_spin, self.seed_spin):
            spin.setMinimumWidth(90)
            spin.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        af.addRow("Iterations", self.iters_spin)
        af.addRow("Learning rate", self.lr_spin)
        af.addRow("Network size", self.channels_spin)
        af.addRow("Seed", self.seed_spin)
        af.addRow("Auto-stop", self.auto_stop)
        self.reset_advanced = QPushButton("Use preset values")
        self.reset_advanced.setObjectName("LinkButton")
        af.addRow("", self.reset_advanced)
        self.advanced = Collapsible("Advanced", adv, expanded=False)
        lay.addWidget(self.advanced)

        self.scale_combo.currentIndexChanged.connect(self._on_changed)
        self.preset_combo.currentIndexChanged.connect(self._on_preset)
        self.iters_spin.valueChanged.connect(lambda v: self._override("iters", v))
        self.lr_spin.valueChanged.connect(lambda v: self._override("lr", v))
        self.channels_spin.valueChanged.connect(lambda v: self._override("channels", v))
        self.seed_spin.valueChanged.connect(self._on_changed)
        self.auto_stop.toggled.connect(self._on_auto_stop)
        self.reset_advanced.clicked.connect(self._on_reset_advanced)
        self.set_settings(TaskSettings())

    # -- presets ----------------------------------------------------------------------------
    def presets(self):
        if self._presets is None:
            from dip_engine import presets
            self._presets = presets
        return self._presets

    def task(self) -> str:
        for t, b in self.task_buttons.items():
            if b.isChecked():
                return t
        return "inpaint"

    def _fill_presets(self, task: str, select: str) -> None:
        p = self.presets()
        self.preset_combo.blockSignals(True)
        self.preset_combo.clear()
        names = list(p.names(task))
        for n in names:
            self.preset_combo.addItem(preset_label(n), n)
            try:
                desc = p.get(task, n).description
            except Exception:
                desc = ""
            self.preset_combo.setItemData(self.preset_combo.count() - 1, desc, Qt.ItemDataRole.ToolTipRole)
        idx = names.index(select) if select in names else (names.index(p.DEFAULT) if p.DEFAULT in names else 0)
        self.preset_combo.setCurrentIndex(idx)
        self.preset_combo.blockSignals(False)

    def set_holes(self, holes: bool) -> None:
        """The painted marks are objects or large holes (`regions.large_holes`): show the values
        of the network the engine will use for them."""
        if holes != self._holes:
            self._holes = holes
            self._show_preset_values()

    def _show_preset_values(self) -> None:
        task, name = self.task(), self.preset_combo.currentData()
        try:
            pr = self.presets().get(task, name, holes=self._holes and task == "inpaint")
        except Exception:
            return
        self._loading = True
        ch = pr.channels if isinstance(pr.channels, int) else max(pr.channels)
        self.iters_spin.setValue(int(self._overrides.get("iters") or pr.iterations))
        # a preset that fits every tile several times and averages them: the budget is per fit
        self.iters_spin.setSuffix(f" per fit, {pr.fits} fits" if pr.fits > 1 else "")
        self.iters_spin.setToolTip("The most iterations the fit may run (auto-stop may end it earlier)."
                                   + (f" This preset fits every tile {pr.fits} times, each with the next seed, "
                                      "and averages the fits: together they are better than any one of them." if pr.fits > 1
                                      else ""))
        self.lr_spin.setValue(float(self._overrides.get("lr") or pr.lr))
        self.channels_spin.setValue(int(self._overrides.get("channels") or ch))
        self._loading = False
        self.preset_hint.setText(pr.description)
        self.preset_combo.setToolTip(pr.description)
        # inpainting and SR have no quality peak to find: their presets run their whole budget
        self._auto_stop_applies = pr.auto_stop
        self.auto_stop.setEnabled(pr.auto_stop and self.preset_combo.isEnabled())
        loading, self._loading = self._loading, True
        self.auto_stop.setChecked(self._auto_stop_wanted and pr.auto_stop)
        self._loading = loading
        whole_budget = {
            "inpaint": "Inpainting runs its whole budget: the fill keeps improving after the rest of the photo "
                       "has settled, so there is no peak to stop at.",
            "sr": "Super-resolution runs its whole budget: the upscale keeps improving to the end, so there "
                  "is no peak to stop at."}.get(task, "This preset runs its whole budget, which ends near its best point.")
        if pr.loss == "sure":
            whole_budget = ("This preset learns the noise away (SURE) instead of racing it, so it runs its whole "
                            "budget: there is no peak to stop at.")
        self.auto_stop.setToolTip("Auto-stop watches how much the output still changes and ends the run near "
                                  "its best point." if pr.auto_stop else whole_budget)
        for key, spin in (("iters", self.iters_spin), ("lr", self.lr_spin), ("channels", self.channels_spin)):
            spin.setProperty("overridden", key in self._overrides)
            spin.style().unpolish(spin)
            spin.style().polish(spin)

    # -- events -----------------------------------------------------------------------------
    def _on_task(self, task: str) -> None:
        if self._loading:
            return
        self._overrides.clear()
        self._apply_task_ui(task, self.preset_combo.currentData())
        self.taskChanged.emit(task)
        self.changed.emit()

    def _apply_task_ui(self, task: str, preset: str | None) -> None:
        self.task_buttons[task].setChecked(True)
        self.task_hint.setText(TASK_HINTS[task])
        sr = task == "sr"
        self.scale_combo.setVisible(sr)
        self.scale_label.setVisible(sr)
        self._fill_presets(task, preset or self.presets().DEFAULT)
        self._show_preset_values()

    def _on_preset(self, _i: int) -> None:
        self._overrides.clear()
        self._show_preset_values()
        self.changed.emit()

    def _override(self, key: str, value) -> None:
        if self._loading:
            return
        self._overrides[key] = value
        self._show_preset_values()
        self.changed.emit()

    def _on_reset_advanced(self) -> None:
        self._overrides.clear()
        self._show_preset_values()
        self.changed.emit()

    def _on_auto_stop(self, on: bool) -> None:
        if not self._loading:
            self._auto_stop_wanted = on
            self.changed.emit()

    def _on_changed(self, *_a) -> None:
        if not self._loading:
            self.changed.emit()

    # -- state ------------------------------------------------------------------------------
    def settings(self) -> TaskSettings:
        return TaskSettings(
            task=self.task(),
            preset=self.preset_combo.currentData() or self.presets().DEFAULT,
            scale=int(self.scale_combo.currentData() or 2),
            iters=self._overrides.get("iters"),
            lr=self._overrides.get("lr"),
            channels=self._overrides.get("channels"),
            seed=self.seed_spin.value(),
            auto_stop=self._auto_stop_wanted,
        )

    def set_settings(self, s: TaskSettings) -> None:
        self._loading = True
        try:
            self._overrides = {k: v for k, v in (("iters", s.iters), ("lr", s.lr), ("channels", s.channels))
                               if v is not None}
            i = self.scale_combo.findData(s.scale)
            self.scale_combo.setCurrentIndex(max(0, i))
            self.seed_spin.setValue(int(s.seed))
            self._auto_stop_wanted = bool(s.auto_stop)
            self.preset_combo.blockSignals(True)
            self._apply_task_ui(s.task, s.preset)
            self.preset_combo.blockSignals(False)
        finally:
            self._loading = False
        self._show_preset_values()

    def set_running(self, running: bool) -> None:
        """During a run only the learning rate stays editable (it applies from the next step)."""
        for w in [*self.task_buttons.values(), self.scale_combo, self.preset_combo, self.iters_spin,
                  self.channels_spin, self.seed_spin, self.auto_stop, self.reset_advanced]:
            w.setEnabled(not running)
        self.auto_stop.setEnabled(not running and self._auto_stop_applies)
        self.lr_spin.setEnabled(True)
        self.lr_spin.setToolTip("Adam learning rate." + ("  Changes apply to the running fit." if running else ""))

    def select_preset(self, name: str) -> None:
        i = self.preset_combo.findData(name)
        if i >= 0:
            self.preset_combo.setCurrentIndex(i)


class MaskPanel(QWidget):
    """Brush, eraser, size, overlay opacity and the whole-mask operations."""
    sizeChanged = Signal(float)
    opacityChanged = Signal(float)
    growRequested = Signal(int)
    shrinkRequested = Signal(int)

    def __init__(self, actions: dict, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(8)
        lay.addWidget(section_title("Mask"))
        self.setToolTip("Paint over what should be filled. In a saved mask PNG, white = fill.")
        tools = QHBoxLayout()
        tools.setSpacing(6)
        for key in ("brush", "eraser"):
            b = QToolButton()
            b.setObjectName("ToolChoice")
            b.setDefaultAction(actions[key])
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            b.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            tools.addWidget(b)
        self.show_box = QToolButton()
        self.show_box.setObjectName("ToolChoice")
        self.show_box.setDefaultAction(actions["show_mask"])
        self.show_box.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        tools.addWidget(self.show_box)
        lay.addLayout(tools)

        form = QFormLayout()
        form.setHorizontalSpacing(10)
        form.setVerticalSpacing(6)
        size_row = QHBoxLayout()
        self.size_slider = QSlider(Qt.Orientation.Horizontal)
        self.size_slider.setRange(0, 1000)
        self.size_slider.setToolTip("Brush size ([ and ], or Alt+wheel)")
        self.size_spin = QSpinBox()
        self.size_spin.setRange(1, 2000)
        self.size_spin.setSuffix(" px")
        self.size_spin.setFixedWidth(84)
        size_row.addWidget(self.size_slider, 1)
        size_row.addWidget(self.size_spin)
        form.addRow("Size", size_row)
        op_row = QHBoxLayout()
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(5, 100)
        self.opacity_slider.setValue(55)
        self.opacity_label = QLabel("55 %")
        self.opacity_label.setFixedWidth(84)
        self.opacity_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        op_row.addWidget(self.opacity_slider, 1)
        op_row.addWidget(self.opacity_label)
        form.addRow("Overlay", op_row)
        lay.addLayout(form)

        self.grow_spin = QSpinBox()
        self.grow_spin.setRange(1, 200)
        self.grow_spin.setValue(4)
        self.grow_spin.setSuffix(" px")
        self.grow_spin.setToolTip("How far Grow and Shrink move the mask's edge")
        form.addRow("Grow step", self.grow_spin)
        ops = QGridLayout()
        ops.setSpacing(6)
        for i, key in enumerate(("clear_mask", "invert_mask", "load_mask", "grow_mask", "shrink_mask", "save_mask")):
            b = QToolButton()
            b.setObjectName("SmallAction")
            b.setDefaultAction(actions[key])
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            b.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            ops.addWidget(b, i // 3, i % 3)
        lay.addLayout(ops)
        self.info = hint_label("No mask yet")
        lay.addWidget(self.info)

        self.size_slider.valueChanged.connect(self._slider_moved)
        self.size_spin.valueChanged.connect(lambda v: self.sizeChanged.emit(float(v)))
        self.opacity_slider.valueChanged.connect(self._opacity)

    # the slider is logarithmic: 1 px .. 2000 px
    @staticmethod
    def _to_slider(size: float) -> int:
        return int(round(math.log(max(1.0, size)) / math.log(2000) * 1000))

    @staticmethod
    def _from_slider(v: int) -> float:
        return round(math.exp(v / 1000 * math.log(2000)))

    def _slider_moved(self, v: int) -> None:
        size = self._from_slider(v)
        if size != self.size_spin.value():
            self.size_spin.setValue(int(size))

    def set_size(self, size: float) -> None:
        self.size_spin.blockSignals(True)
        self.size_slider.blockSignals(True)
        self.size_spin.setValue(int(round(size)))
        self.size_slider.setValue(self._to_slider(size))
        self.size_spin.blockSignals(False)
        self.size_slider.blockSignals(False)

    def _opacity(self, v: int) -> None:
        self.opacity_label.setText(f"{v} %")
        self.opacityChanged.emit(v / 100.0)

    def set_opacity(self, opacity: float) -> None:
        self.opacity_slider.setValue(int(round(opacity * 100)))

    def set_info(self, count: int, total: int) -> None:
        if count == 0:
            self.info.setText("No mask yet: paint with the brush (P).")
        else:
            self.info.setText(f"{count:,} pixels to fill ({100.0 * count / max(1, total):.1f} % of the photo)")


def fmt_duration(s: float | None) -> str:
    if s is None or not math.isfinite(s):
        return "–"
    s = int(round(s))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60}:{s % 60:02d}"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def fmt_eta_range(lo: float, hi: float) -> str:
    """(low, high) seconds left as a person would say it: 'about 2–4 min', 'under 3 min'."""
    lo, hi = max(0.0, min(lo, hi)), max(0.0, lo, hi)
    if hi < 60:
        a, b = max(5, int(round(lo / 5)) * 5), max(5, int(math.ceil(hi / 5)) * 5)
        return f"about {a} s" if a == b else f"about {a}–{b} s"
    if hi >= 5400:
        a, b = round(lo / 3600, 1), round(hi / 3600, 1)
        return f"about {a:g} h" if a == b else f"about {a:g}–{b:g} h"
    b = int(math.ceil(hi / 60))
    if lo < 60:
        return f"under {b} min"
    a = int(lo // 60)
    return f"about {a} min" if a == b else f"about {a}–{b} min"


BAR_STEPS = 1000          # the progress bar's resolution


class RunPanel(QWidget):
    """Restore / pause / stop and the progress read-out."""

    def __init__(self, actions: dict, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(8)
        lay.addWidget(section_title("Run"))
        self.run_button = QPushButton("Restore")
        self.run_button.setObjectName("PrimaryButton")
        self.run_button.setIcon(icon("play"))
        self.run_button.setIconSize(QSize(16, 16))
        self.run_button.setMinimumHeight(36)
        self.run_button.clicked.connect(actions["run"].trigger)
        actions["run"].changed.connect(lambda: self.run_button.setEnabled(actions["run"].isEnabled()))
        self.run_button.setToolTip(actions["run"].toolTip())
        lay.addWidget(self.run_button)
        row = QHBoxLayout()
        row.setSpacing(6)
        self.pause_button = QToolButton()
        self.pause_button.setDefaultAction(actions["pause"])
        self.stop_button = QToolButton()
        self.stop_button.setDefaultAction(actions["stop"])
        for b in (self.pause_button, self.stop_button):
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            b.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            b.setObjectName("RunControl")
            row.addWidget(b)
        lay.addLayout(row)
        self.bar = QProgressBar()
        self.bar.setTextVisible(False)
        self.bar.setFixedHeight(6)
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        lay.addWidget(self.bar)
        stats = QGridLayout()
        stats.setHorizontalSpacing(12)
        stats.setVerticalSpacing(2)
        self.iter_value = QLabel("–")
        self.speed_value = QLabel("–")
        self.eta_value = QLabel("–")
        self.elapsed_value = QLabel("–")
        captions = []
        for i, (name, lab) in enumerate((("Iteration", self.iter_value), ("Speed", self.speed_value),
                                         ("Remaining", self.eta_value), ("Elapsed", self.elapsed_value))):
            cap = QLabel(name)
            captions.append(cap)
            cap.setObjectName("StatCaption")
            lab.setObjectName("StatValue")
            stats.addWidget(cap, (i // 2) * 2, i % 2)
            stats.addWidget(lab, (i // 2) * 2 + 1, i % 2)
        lay.addLayout(stats)
        self.iter_caption = captions[0]      # a run in parts also says how many are done
        self.phase = hint_label("")         # the first minutes: why it looks rough, what Stop keeps
        self.phase.setObjectName("RunPhase")
        lay.addWidget(self.phase)
        self.curve = LossCurve()
        lay.addWidget(self.curve)
        self.message = hint_label("")
        self.message.setObjectName("RunMessage")
        lay.addWidget(self.message)
        self.idle_hint = hint_label("Stop any time: the best so far is kept, or the starting picture "
                                    "if it is too early.")
        lay.addWidget(self.idle_hint)
        self.progress_widgets = [self.bar, self.curve] + [stats.itemAt(i).widget() for i in range(stats.count())]
        self.set_active(False)

    def set_active(self, on: bool) -> None:
        for w in self.progress_widgets:
            w.setVisible(on)
        self.idle_hint.setVisible(not on)
        self.phase.setVisible(False)

    def reset(self, total: int = 0, active: bool = True) -> None:
        self.set_active(active)
        self.curve.clear()
        self.curve.set_total(total)
        self.bar.setRange(0, BAR_STEPS)
        self.bar.setValue(0)
        self.iter_value.setText(f"0 / {total}" if total else "–")
        self.iter_caption.setText("Iteration")
        self.speed_value.setText("–")
        self.eta_value.setText("–")
        self.elapsed_value.setText("–")
        self.message.setText("")
        self.phase.setText("")

    def show_progress(self, p, fallback: str = "the original") -> None:
        """`fallback`: what Stop keeps before the run is usable (the engine decides; this only says it)."""
        frac = p.progress if p.progress is not None else min(p.iteration, p.total) / max(1, p.total)
        # the engine keeps its fraction monotone; this guards the bar against an older engine's jumps
        self.bar.setValue(BAR_STEPS if p.done else max(self.bar.value(), round(frac * BAR_STEPS)))
        self.curve.set_total(p.total)
        # parts run shuffled (dip_engine.eta.order): how many are done says more than which one runs
        parts = p.parts and p.parts > 1 and p.parts_done is not None and not p.done
        self.iter_caption.setText(f"Iteration  ·  {p.parts_done} of {p.parts} parts done" if parts else "Iteration")
        self.iter_value.setText(f"{p.iteration:,} / {p.total:,}")
        spi = p.s_per_iter or 0.0
        if spi <= 0:
            self.speed_value.setText("–")
        elif spi < 1:
            self.speed_value.setText(f"{1.0 / spi:.1f} it/s")
        else:
            self.speed_value.setText(f"{spi:.1f} s/it")
        if p.done:
            self.eta_value.setText("done")
        elif p.eta_range is not None:
            self.eta_value.setText(fmt_eta_range(*p.eta_range))
        else:
            self.eta_value.setText(fmt_duration(p.eta_s))
        self.eta_value.setToolTip("A range: the run may end sooner, when auto-stop finds the quality peak."
                                  if p.eta_range is not None else "")
        self.elapsed_value.setText(fmt_duration(p.elapsed_s))
        self.curve.set_peak(p.peak_iteration)
        early = not p.done and not p.usable
        if early:
            when = (f" The run should end in {fmt_eta_range(*p.eta_range)}." if p.eta_range is not None
                    else "")
            self.phase.setText(f"Early iterations look rough: the picture sharpens as the fit goes on. "
                               f"Stopping now keeps {fallback}.{when}")
        self.phase.setVisible(early)


class Banner(QFrame):
    """A non-modal message strip at the top of the canvas: errors and notices."""
    closed = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self._over: QWidget | None = None
        self.setObjectName("Banner")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(12, 8, 8, 8)
        lay.setSpacing(10)
        self.icon_label = QLabel()
        self.icon_label.setFixedSize(20, 20)
        self.text = QLabel()
        self.text.setObjectName("BannerText")
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.close_button = QToolButton()
        self.close_button.setIcon(icon("close"))
        self.close_button.setAutoRaise(True)
        self.close_button.setToolTip("Dismiss")
        self.close_button.clicked.connect(self.dismiss)
        lay.addWidget(self.icon_label)
        lay.addWidget(self.text, 1)
        lay.addWidget(self.close_button)
        self.kind = ""
        self.hide()

    def show_message(self, text: str, kind: str = "error") -> None:
        self.kind = kind
        self.setProperty("kind", kind)
        self.style().unpolish(self)
        self.style().polish(self)
        name = {"error": "error", "info": "info", "success": "check"}.get(kind, "info")
        self.icon_label.setPixmap(icon(name).pixmap(20, 20))
        self.text.setText(text)
        self.show()
        self._place()

    def float_over(self, target: QWidget) -> None:
        """Float over the bottom edge of `target`, a sibling, instead of taking layout space:
        the photo keeps its place and zoom when a message comes or goes."""
        self._over = target
        target.installEventFilter(self)

    def eventFilter(self, obj, ev) -> bool:
        if obj is self._over and ev.type() in (QEvent.Type.Resize, QEvent.Type.Move):
            self._place()
        return False

    def _place(self) -> None:
        t = self._over
        if t is None or not self.isVisible():
            return
        w = t.width()
        h = self.heightForWidth(w) if self.hasHeightForWidth() else self.sizeHint().height()
        self.setGeometry(t.x(), t.y() + t.height() - h, w, h)
        self.raise_()

    def message(self) -> str:
        return self.text.text() if self.isVisible() else ""

    def dismiss(self) -> None:
        self.hide()
        self.closed.emit()
