"""The restoration settings the user picks (task, preset, advanced values). Qt-free."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from dip_engine import presets

TASK_LABELS = {
    "denoise": "Denoise",
    "jpeg": "JPEG clean-up",
    "sr": "Super-resolution",
    "inpaint": "Inpaint",
}
TASK_HINTS = {
    "denoise": "Remove sensor noise and grain; detail is kept where the photo has structure.",
    "jpeg": "Smooth away blocking and ringing from heavy JPEG compression.",
    "sr": "Enlarge the photo 2x, 4x or 8x with new, plausible detail.",
    "inpaint": "Paint over what should go (text, scratches, objects); it is filled from the rest of the photo.",
}
PRESET_LABELS = {
    "draft": "Draft (quickest)",
    "fast": "Fast",
    "balanced": "Balanced",
    "quality": "Best quality",
    "best": "Best quality",
    "paper": "Paper (reference settings)",
    "paper-object": "Paper: object removal (reference)",
    "paper-holes": "Paper: large holes (reference)",
}
SCALES = (2, 4, 8)


def preset_label(name: str) -> str:
    return PRESET_LABELS.get(name, name.replace("_", " ").capitalize())


@dataclass
class TaskSettings:
    task: str = "inpaint"
    preset: str = presets.DEFAULT
    scale: int = 2
    iters: int | None = None        # None: the preset's value
    lr: float | None = None
    channels: int | None = None
    seed: int = 0
    auto_stop: bool = True

    def job_kwargs(self) -> dict:
        return dict(
            task=self.task,
            preset=self.preset,
            scale=self.scale if self.task == "sr" else 1,
            iters=self.iters,
            lr=self.lr,
            channels=self.channels,
            seed=int(self.seed),
            stop="auto" if self.auto_stop else "never",
        )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict | None) -> "TaskSettings":
        s = cls()
        if not isinstance(d, dict):
            return s
        names = {f.name for f in fields(cls)}
        for k, v in d.items():
            if k in names:
                setattr(s, k, v)
        try:
            s.scale = int(s.scale) if int(s.scale) in SCALES else 2
            s.seed = int(s.seed)
            s.auto_stop = s.auto_stop in (True, "true", "1", 1)
            s.iters = None if s.iters in (None, "", "None") else int(s.iters)
            s.lr = None if s.lr in (None, "", "None") else float(s.lr)
            s.channels = None if s.channels in (None, "", "None") else int(s.channels)
        except (TypeError, ValueError):
            return cls()
        if s.task not in TASK_LABELS:
            s.task = "inpaint"
        return s
