"""PySide6 6.12.0 on Python 3.11 drops a reference to None on every call of a void method
(QPainterPath.lineTo, QWidget.update, ...): a long run of the app then dies with "Fatal Python
error: none_dealloc". constraints.txt pins 6.11.3; this test keeps a bad binding out."""
import sys

from PySide6.QtCore import QPointF
from PySide6.QtGui import QPainterPath


def test_void_qt_calls_keep_references_to_none(qapp):
    path = QPainterPath()
    before = sys.getrefcount(None)
    for _ in range(1000):
        path.lineTo(QPointF(1.0, 2.0))
        path.moveTo(1.0, 2.0)
    assert sys.getrefcount(None) - before > -100
