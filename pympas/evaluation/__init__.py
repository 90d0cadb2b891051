"""Crowd-segmentation accuracy as in the paper's Table 1: IoU per scene and mIoU over scenes.

- :mod:`pympas.evaluation.metrics`: the metric (:func:`scene_iou`, :func:`evaluate`) and its
  result types;
- :mod:`pympas.evaluation.sources`: where predicted and ground-truth masks come from (folders,
  scene sub-folders, label sets, synthetic scenes, mappings);
- :mod:`pympas.evaluation.labelme`: labelme JSON shapes filled into masks.
"""

from pympas.evaluation.labelme import labelme_mask
from pympas.evaluation.metrics import (
    PAPER_TABLE1_MIOU,
    Evaluation,
    SceneScore,
    evaluate,
    scene_iou,
)
from pympas.files import read_mask

__all__ = [
    "PAPER_TABLE1_MIOU",
    "Evaluation",
    "SceneScore",
    "evaluate",
    "labelme_mask",
    "read_mask",
    "scene_iou",
]
