"""Restore many photos with one task and its settings: `dip-engine batch`, File > Batch... in the app.

    spec = Spec("denoise", ["scans/"], Path("restored"))
    summary = run(spec)                      # local worker processes; run(spec, pool=RayPool()) on Ray

A manifest in the output folder (`manifest`) records every photo's state, so running the same batch
again continues it, after any stop, and never redoes a done photo.
"""
from .cluster import ClusterError, RayPool
from .inputs import DEFAULT_NAME, InputError, Item, discover
from .manifest import NAME as MANIFEST_NAME
from .manifest import ManifestError, PhotoState, read
from .runner import BatchControl, BatchError, Event, Spec, plan_workers, run, summary_line

__all__ = ["Spec", "run", "BatchControl", "BatchError", "Event", "RayPool", "ClusterError", "Item", "discover",
           "InputError", "DEFAULT_NAME", "MANIFEST_NAME", "ManifestError", "PhotoState", "read", "plan_workers",
           "summary_line"]
