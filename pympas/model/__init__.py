"""MPASNet: the siamese HRNetV2 segmenter of paper Sec. 2.3 (needs torch; kornia for training).

- :mod:`pympas.model.hrnet`: HRNetV2 encoder, architecture as data, pretrained loading.
- :mod:`pympas.model.mpasnet`: encoder + psi + segmentation head, SFA in training.
- :mod:`pympas.model.losses`: L_SEG (Eq. 6), L_AIR (Eq. 7), BCE.
- :mod:`pympas.model.augment`: photometric (augmented branch) and geometric augmentation.
- :mod:`pympas.model.data`: the label sets of `pympas label` as a torch Dataset.
"""

from pympas.model.hrnet import CONFIGS, HRNet, load_pretrained
from pympas.model.mpasnet import MPASNet, SiameseOutput

__all__ = ["CONFIGS", "HRNet", "MPASNet", "SiameseOutput", "load_pretrained"]
