"""Network builders: the paper's skip hourglass and the Deep Decoder."""
from .decoder import DeepDecoder
from .skip import Skip, skip

__all__ = ["DeepDecoder", "Skip", "skip"]
