"""pympas: unsupervised crowd segmentation in surveillance video (MPASNet).

Data flows one way: video -> particles -> collectiveness -> pseudo-masks -> training -> masks
-> metrics. The motion-prior half (collectiveness, Circular Region Merging) runs on native C++
kernels; see :mod:`pympas.collectiveness` and :mod:`pympas.crm`. ARCHITECTURE.md maps every
stage to its module.
"""

from pympas._version import __version__
from pympas.collectiveness import (
    Collectiveness,
    CollectivenessBatch,
    collectiveness,
    collectiveness_batch,
    individual_collectiveness,
    link_threshold,
)
from pympas.crm import rasterize_circles
from pympas.knn import knn_correlation
from pympas.labels import label
from pympas.labelset import LabelSet
from pympas.trajectories import read_trajectories

__all__ = [
    "Collectiveness",
    "CollectivenessBatch",
    "LabelSet",
    "__version__",
    "collectiveness",
    "collectiveness_batch",
    "evaluate",
    "individual_collectiveness",
    "knn_correlation",
    "label",
    "link_threshold",
    "rasterize_circles",
    "read_trajectories",
    "segment",
]

# modules are named apart from the functions: `import pympas.evaluate` would shadow the function
_LAZY = {"evaluate": "pympas.evaluation", "segment": "pympas.segmentation"}


def __getattr__(name: str) -> object:
    # segment/evaluate load on first use so that `import pympas` does not import torch
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'pympas' has no attribute {name!r}")
