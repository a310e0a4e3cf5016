"""PyInstaller runtime hook for the windowed `dip-studio`: on Windows and macOS a windowed program
has no stdout/stderr (sys.stdout is None). Our code copes with that (tests/app/test_selftest.py),
but a library that calls sys.stderr.write() directly would crash, so give it somewhere to write."""
import os
import sys

for _name in ("stdout", "stderr"):
    if getattr(sys, _name, None) is None:
        setattr(sys, _name, open(os.devnull, "w", encoding="utf-8"))
del _name
