"""Network builders: the paper's skip hourglass and the Deep Decoder."""
from .decoder import DeepDecoder
from .shuffled import Shuffled
from .skip import Skip, skip

__all__ = ["DeepDecoder", "Shuffled", "Skip", "skip"]
