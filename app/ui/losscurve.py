"""A small loss-curve plot (log-scale y) with a marker where auto-stop places the quality peak."""
from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget


class LossCurve(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("LossCurve")
        self.setFixedHeight(92)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.its = np.zeros(0, dtype=np.int64)
        self.losses = np.zeros(0, dtype=np.float64)
        self.total = 0
        self.peak: int | None = None
        self.peak_label = "peak"
        self.marker: int | None = None       # the snapshot being looked at
        self.setToolTip("Loss per iteration (log scale), up to the iteration the counter shows. The dashed "
                        "line marks where auto-stop places the quality peak, and after a run the result.")

    def sizeHint(self) -> QSize:
        return QSize(260, 110)

    def clear(self) -> None:
        self.its = np.zeros(0, dtype=np.int64)
        self.losses = np.zeros(0, dtype=np.float64)
        self.total = 0
        self.peak = None
        self.peak_label = "peak"
        self.marker = None
        self.update()

    def add(self, points) -> None:
        if not points:
            return
        it = np.fromiter((p[0] for p in points), dtype=np.int64, count=len(points))
        ls = np.fromiter((p[1] for p in points), dtype=np.float64, count=len(points))
        self.its = np.concatenate([self.its, it])
        self.losses = np.concatenate([self.losses, ls])
        self.update()

    def set_total(self, total: int) -> None:
        self.total = int(total or 0)

    def set_peak(self, it: int | None, label: str = "peak") -> None:
        """Mark an iteration: where auto-stop places the quality peak, or the run's result."""
        if (it, label) != (self.peak, self.peak_label):
            self.peak, self.peak_label = it, label
            self.update()

    def set_marker(self, it: int | None) -> None:
        if it != self.marker:
            self.marker = it
            self.update()

    def axis_end(self) -> int:
        """The x axis's right end: the newest iteration plotted, the one the counter shows (the
        progress bar shows the budget)."""
        good = np.isfinite(self.losses) & (self.losses > 0)
        done = int(self.its[good].max()) if good.any() else 0
        return max(1, done, self.peak or 0)

    def paintEvent(self, e) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5)
        p.setPen(QPen(QColor(52, 56, 64), 1))
        p.setBrush(QColor(27, 29, 34))
        p.drawRoundedRect(r, 6, 6)
        plot = r.adjusted(44, 10, -10, -18)
        fm = p.fontMetrics()
        small = p.font()
        small.setPointSizeF(max(7.0, small.pointSizeF() * 0.82))
        p.setFont(small)
        good = np.isfinite(self.losses) & (self.losses > 0)
        if not good.any():
            p.setPen(QColor(120, 126, 138))
            p.drawText(r, Qt.AlignmentFlag.AlignCenter, "The loss curve appears here during a run")
            p.end()
            return
        its = self.its[good]
        ys = np.log10(self.losses[good])
        xmax = self.axis_end()
        lo, hi = float(ys.min()), float(ys.max())
        if hi - lo < 1e-6:
            lo, hi = lo - 0.5, hi + 0.5
        pad = (hi - lo) * 0.06
        lo, hi = lo - pad, hi + pad

        def X(i):
            return plot.left() + plot.width() * (i / xmax)

        def Y(v):
            return plot.bottom() - plot.height() * (v - lo) / (hi - lo)

        # decade grid lines, and the range's ends labelled
        p.setPen(QPen(QColor(48, 52, 60), 1))
        for d in range(math.floor(lo), math.ceil(hi) + 1):
            if lo <= d <= hi:
                y = Y(d)
                p.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
        p.setPen(QColor(120, 126, 138))
        for v, dy in ((hi - pad, 0), (lo + pad, -10)):
            p.drawText(QRectF(r.left() + 2, Y(v) - 6 + dy, 38, 14),
                       Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, f"{10 ** v:.1g}")
        # decimate to about two points per pixel column (min and max per column)
        n = its.size
        cols = max(2, int(plot.width()))
        path = QPainterPath()
        if n > 2 * cols:
            bins = np.minimum((its / xmax * (cols - 1)).astype(np.int64), cols - 1)
            order = np.argsort(bins, kind="stable")
            b, y = bins[order], ys[order]
            starts = np.flatnonzero(np.r_[True, b[1:] != b[:-1]])
            mins = np.minimum.reduceat(y, starts)
            maxs = np.maximum.reduceat(y, starts)
            first = True
            for bi, mn, mx in zip(b[starts], mins, maxs):
                x = plot.left() + plot.width() * bi / (cols - 1)
                if first:
                    path.moveTo(x, Y(mx))
                    first = False
                else:
                    path.lineTo(x, Y(mx))
                path.lineTo(x, Y(mn))
        else:
            path.moveTo(X(its[0]), Y(ys[0]))
            for i, v in zip(its[1:], ys[1:]):
                path.lineTo(X(i), Y(v))
        p.setPen(QPen(QColor(92, 156, 255), 1.4))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawPath(path)
        if self.marker is not None:
            x = X(self.marker)
            p.setPen(QPen(QColor(200, 205, 214, 150), 1))
            p.drawLine(QPointF(x, plot.top()), QPointF(x, plot.bottom()))
        if self.peak is not None:
            x = X(self.peak)
            p.setPen(QPen(QColor(95, 211, 154), 1.4, Qt.PenStyle.DashLine))
            p.drawLine(QPointF(x, plot.top()), QPointF(x, plot.bottom()))
            label = f"{self.peak_label} {self.peak}"
            w = fm.horizontalAdvance(label) + 4
            lx = min(x + 4, plot.right() - w)
            p.setPen(QColor(95, 211, 154))
            p.drawText(QRectF(lx, plot.top() - 2, w + 4, 14), Qt.AlignmentFlag.AlignLeft, label)
        p.setPen(QColor(120, 126, 138))
        p.drawText(QRectF(plot.left(), plot.bottom() + 2, plot.width(), 14), Qt.AlignmentFlag.AlignLeft, "0")
        p.drawText(QRectF(plot.left(), plot.bottom() + 2, plot.width(), 14), Qt.AlignmentFlag.AlignRight,
                   f"{xmax:,} it")
        p.end()
