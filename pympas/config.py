"""What defines a training run of MPASNet: :class:`TrainConfig`, torch-free.

The config is stored in every run's ``config.json`` and every checkpoint, so a run can be
resumed exactly and a checkpoint loaded for inference; ``pympas train`` takes its option
defaults from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pympas.background import BG_IGNORE, BG_LABEL, bg_value

#: HRNetV2 architectures (``pympas.model.hrnet.CONFIGS`` holds their definitions)
ARCHS = ("w18-small", "w18", "w32", "w48")
#: L_SEG variants: soft Dice (default), Eq. 6 as printed, binary cross entropy
LOSSES = ("dice", "dice-literal", "ce")
#: L_AIR variants: MSE on standardised channels (default), Eq. 7 on raw features
AIR_MODES = ("standardized", "raw")
#: numeric precision: bf16 autocast + channels_last where native ("auto"), or forced
AMP_CHOICES = ("auto", "bf16", "fp32")
#: initialisation from scratch: the official HRNet classification code (Kaiming normal,
#: fan_out; the default), its segmentation code (normal, std 0.001), or PyTorch's defaults
INIT_SCHEMES = ("kaiming", "normal", "torch")


@dataclass
class TrainConfig:
    """Everything that defines a training run (stored in config.json and every checkpoint).

    ``arch=None`` picks w48 on CUDA and w18-small on CPU; ``device`` is any spec of
    :mod:`pympas.device` (``"auto"``: CUDA when available; None means "auto");
    ``amp="auto"`` (None is the same) runs bf16 autocast + channels_last where the device
    computes bf16 natively (CUDA, or a CPU whose oneDNN reports bf16), fp32 elsewhere;
    ``True``/``"bf16"`` and ``False``/``"fp32"`` force it (:mod:`pympas.model.precision`);
    a run's config.json records the result as ``amp`` (bool) and ``precision``. ``init`` is the
    initialisation of a run from scratch (:mod:`pympas.model.init`; pretrained weights then
    replace the encoder's). ``batch_size`` is per process. ``pretrained_partial``
    lets ``pretrained`` weights load although some encoder keys are missing or unexpected
    (otherwise an error). ``ddp_timeout``: seconds a DDP process waits for the others, at the
    start and in every collective, before the run fails (a dead or stuck peer must not hang it).
    Loss: ``w_air * L_AIR + w_seg * L_SEG``; ``air``/``sfa``/``siamese`` switch the paper's
    ablations (``siamese=False`` is MPASNet*: no augmented branch at all). ``bg_ignore``: CRM
    pixels whose colour is within that distance of their label set's stationary background are
    labelled background (``bg_label="background"``) or left out of L_SEG (``"ignore"``)
    (:mod:`pympas.background`); 0 is the paper's form (every CRM pixel is crowd).
    """

    labelsets: list[str] = field(default_factory=list)
    out: str = ""
    arch: str | None = None
    steps: int = 10000
    batch_size: int = 8
    crop: int = 512
    pretrained: str | None = None
    pretrained_partial: bool = False
    resume: str | None = None
    device: str | None = "auto"
    amp: bool | str | None = "auto"
    air: bool = True
    air_mode: str = "standardized"
    sfa: bool = True
    siamese: bool = True
    loss: str = "dice"
    init: str = "kaiming"
    bg_ignore: float = BG_IGNORE
    bg_label: str = BG_LABEL
    w_air: float = 1.0
    w_seg: float = 1.0
    lr: float = 0.02
    momentum: float = 0.9
    weight_decay: float = 1e-4
    poly_power: float = 0.9
    scale_min: float = 0.5
    scale_max: float = 2.0
    flip_p: float = 0.5
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.4
    hue: float = 0.1
    grayscale_p: float = 0.2
    save_every: int = 1000
    log_every: int = 10
    seed: int = 0
    num_workers: int = 2
    progress: bool = True
    ddp_timeout: float = 600.0


#: fields a resumed run may change; all others must match the checkpoint
RESUME_OVERRIDES = (
    "steps", "device", "save_every", "log_every", "num_workers", "out", "progress", "ddp_timeout",
)  # fmt: skip


def check_config(cfg: TrainConfig) -> None:
    """ValueError naming the field of ``cfg`` that is out of range."""
    if not cfg.out:
        raise ValueError("out: a run directory is needed (-o RUN_DIR)")
    if cfg.arch is not None and cfg.arch not in ARCHS:
        raise ValueError(f"arch must be one of {list(ARCHS)}, got {cfg.arch!r}")
    if cfg.loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {cfg.loss!r}")
    if cfg.init not in INIT_SCHEMES:
        raise ValueError(f"init must be one of {list(INIT_SCHEMES)}, got {cfg.init!r}")
    if not isinstance(cfg.amp, bool) and cfg.amp not in (None, *AMP_CHOICES):
        raise ValueError(
            f"amp must be one of {list(AMP_CHOICES)}, True, False or None, got {cfg.amp!r}"
        )
    if not cfg.bg_ignore >= 0:
        raise ValueError(f"bg_ignore must be >= 0 (0: the paper's form), got {cfg.bg_ignore}")
    bg_value(cfg.bg_label)  # ValueError naming bg_label when it is none of BG_LABELS
    if cfg.air_mode not in AIR_MODES:
        raise ValueError(f"air_mode must be one of {AIR_MODES}, got {cfg.air_mode!r}")
    for name in ("steps", "batch_size", "crop", "save_every", "log_every"):
        if int(getattr(cfg, name)) < 1:
            raise ValueError(f"{name} must be >= 1, got {getattr(cfg, name)}")
    if cfg.num_workers < 0:
        raise ValueError(f"num_workers must be >= 0, got {cfg.num_workers}")
    if not cfg.ddp_timeout > 0:
        raise ValueError(f"ddp_timeout must be > 0 seconds, got {cfg.ddp_timeout}")
    if cfg.pretrained_partial and not cfg.pretrained:
        raise ValueError("pretrained_partial: only applies with pretrained (--pretrained PATH)")
    if not 0 < cfg.scale_min <= cfg.scale_max:
        raise ValueError(f"need 0 < scale_min <= scale_max, got {cfg.scale_min}, {cfg.scale_max}")
