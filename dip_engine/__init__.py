"""DIP Studio's engine: Deep Image Prior restoration, with no Qt and no downloaded weights."""
__version__ = "0.1.0"
