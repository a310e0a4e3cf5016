"""Early stopping without ground truth: ES-WMV (Wang et al., "Early Stopping for Deep Image
Prior", TMLR 2023).

The variance of the last `window` outputs is smallest near the quality peak: the network has
settled on the image before it starts fitting the noise. The detector tracks the running
minimum of that variance and calls the peak once it has not improved for `patience` updates.
"""
from __future__ import annotations

from collections import deque

# Denoising: auto-stop looks for ES-WMV's minimum only once the smoothed output's residual against
# the noisy photo has fallen to GATE x the estimated noise power (noise.estimate_sigma). Before
# that the output is still a blur: on textured photos ES-WMV's first minimum comes there, and
# stopping at it returned a heavy blur (village, coral reef, mountain at 128 px: 22-23 dB at
# iteration ~300 against 25.6-27.6 at the budget's end). Gates of 0.9, 1.0 and 1.1 were replayed
# on the same curves (bench/README.md, "Stopping rules"): 1.0 is best on average and worst case.
GATE = 1.0
# Where auto-stop ends a run on average, as a share of the budget (the stopping bench: 1232 of
# 1500 iterations over 11 runs): the ETA's best guess until the run says more.
EXPECTED_STOP = 0.82

import numpy as np


class WindowedVariance:
    """ES-WMV: feed outputs in order; `peak` is the iteration whose window had the lowest variance.

    Running sums keep each update O(pixels) whatever the window length.
    """

    def __init__(self, window: int = 50, patience: int = 300):
        self.window = window
        self.patience = patience
        self._buf: deque[np.ndarray] = deque(maxlen=window)
        self._iters: deque[int] = deque(maxlen=window)
        self.variance: float | None = None
        self.best_variance = float("inf")
        self.peak: int | None = None  # iteration at which the lowest variance was seen
        self._since_best = 0
        self._sum = self._sq = np.zeros(0)

    def update(self, iteration: int, output: np.ndarray) -> bool:
        """Add the output of `iteration`; return True when this is a new variance minimum."""
        x = np.asarray(output, dtype=np.float64).ravel()
        if len(self._buf) == self.window:  # slide: drop the oldest from the running sums
            old = self._buf[0]
            self._sum -= old
            self._sq -= old * old
        elif not self._buf:
            self._sum = np.zeros_like(x)
            self._sq = np.zeros_like(x)
        self._buf.append(x)
        self._iters.append(iteration)
        self._sum += x
        self._sq += x * x
        if len(self._buf) < self.window:
            return False
        mean = self._sum / self.window
        self.variance = float(max(0.0, (self._sq / self.window - mean * mean).mean()))
        if self.variance < self.best_variance:
            self.best_variance = self.variance
            self.peak = iteration
            self._since_best = 0
            return True
        self._since_best += 1
        return False

    def restart_minimum(self) -> None:
        """Forget the minimum seen so far: the peak is looked for from the next update on."""
        self.best_variance, self.peak, self._since_best = float("inf"), None, 0

    def earliest_stop(self, iteration: int) -> int:
        """The soonest iteration at which `should_stop` can become true, seen from `iteration`."""
        if self.peak is None:
            return max(iteration, self.window) + self.patience
        return max(iteration, self.peak + self.patience)

    @property
    def should_stop(self) -> bool:
        return self.peak is not None and self._since_best >= self.patience

    def state_dict(self) -> dict:
        return {"buf": list(self._buf), "iters": list(self._iters), "variance": self.variance,
                "best_variance": self.best_variance, "peak": self.peak, "since_best": self._since_best}

    def load_state_dict(self, s: dict) -> None:
        self._buf = deque(s["buf"], maxlen=self.window)
        self._sum = np.sum(s["buf"], axis=0) if s["buf"] else np.zeros(0)
        self._sq = np.sum(np.square(s["buf"]), axis=0) if s["buf"] else np.zeros(0)
        self._iters = deque(s["iters"], maxlen=self.window)
        self.variance, self.best_variance = s["variance"], s["best_variance"]
        self.peak, self._since_best = s["peak"], s["since_best"]
