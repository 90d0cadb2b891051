"""Crowd masks for every frame of a video from a trained MPASNet (inference: head(psi(F))).

``pympas.segment`` streams: frames are read, batched, segmented and yielded one batch at a time,
so memory stays bounded by ``batch_size`` frames however long the video is. The model is a
training checkpoint or a ``torch.nn.Module`` (run by PyTorch), or an ONNX model exported by
``pympas export`` (run by ONNX Runtime, :class:`pympas.export.OnnxModel`; torch is then not
imported); both go through the same streaming, padding, cropping and thresholding. The ``pympas
segment`` command writes one folder of PNG masks per video (``NNNNNN.png``, 0/255), optionally
with an MP4 of the masks laid over the frames, each folder written under a temporary name and
renamed when complete.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

import pympas._validate as _validate
from pympas.config import AMP_CHOICES
from pympas.draw import overlay_mask
from pympas.export import OnnxModel, is_onnx
from pympas.files import AtomicFolder, VideoFileWriter, write_png

#: HRNet reduces the input by 32 (stem /4, then three halvings); inputs are padded to a multiple.
SIZE_MULTIPLE = 32

#: the range of ``segment(scale=...)``: the resized frame must stay a sensible network input
MIN_SCALE, MAX_SCALE = 0.125, 8.0
#: ``segment(scale=AUTO)``: the scales of the model's training labels, :func:`auto_scales`
AUTO = "auto"

#: a loaded model as the streaming code runs it: (B, H, W, 3) uint8 RGB -> (B, H, W) float32 logits
Runner = Callable[[np.ndarray], np.ndarray]


def load_for_inference(checkpoint_or_model: Any, device: Any = "auto") -> Any:
    """A model ready for inference on ``device``: a ``torch.nn.Module`` as given (in eval mode),
    MPASNet from a training checkpoint (:func:`pympas.model.checkpoint.load_model`; no training
    code is imported), or an :class:`pympas.export.OnnxModel` from a ``.onnx`` file exported
    by ``pympas export`` (ONNX Runtime; torch is not imported)."""
    if isinstance(checkpoint_or_model, OnnxModel):
        return checkpoint_or_model
    if isinstance(checkpoint_or_model, (str, os.PathLike)):
        path = Path(checkpoint_or_model)
        if not path.is_file():
            what = "ONNX model" if is_onnx(path) else "checkpoint"
            raise ValueError(f"{what} {path} does not exist or is not a file")
        if is_onnx(path):
            return OnnxModel(path, device)
    import torch

    from pympas.device import torch_device

    dev = torch_device(device)
    if isinstance(checkpoint_or_model, torch.nn.Module):
        return checkpoint_or_model.to(dev).eval()
    if isinstance(checkpoint_or_model, (str, os.PathLike)):
        from pympas.model.checkpoint import load_model

        return load_model(checkpoint_or_model, device=dev).eval()
    raise TypeError(
        "checkpoint_or_model must be a checkpoint path, a .onnx path, a torch.nn.Module or an "
        f"OnnxModel, got {type(checkpoint_or_model).__name__}"
    )


def _pad_to_multiple(x: Any, multiple: int) -> Any:
    """Pad (B, 3, H, W) at the bottom and right to multiples of ``multiple`` (edge replicated)."""
    import torch.nn.functional as F

    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return x
    return F.pad(x, (0, pw, 0, ph), mode="replicate")


def _check_logits(shape: tuple[int, ...], batch: int) -> None:
    if len(shape) != 4 or shape[1] != 1 or shape[0] != batch:
        raise ValueError(f"the model must return logits (B, 1, H, W), got {tuple(shape)}")


def _torch_runner(model: Any, device: Any, amp: Any) -> Runner:
    """Frames -> logits with PyTorch: bf16 autocast + channels_last where ``amp`` resolves to
    bf16 (:mod:`pympas.model.precision`), else fp32."""
    import torch

    from pympas.device import torch_device
    from pympas.model.precision import autocast, memory_format, resolve_amp

    dev = torch_device(device)
    bf16 = resolve_amp(amp, dev)
    layout = memory_format(bf16)
    model = model.to(memory_format=layout)

    def run(frames: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(frames).to(dev).permute(0, 3, 1, 2).float().div_(255.0)
        h, w = x.shape[-2:]
        x = _pad_to_multiple(x, SIZE_MULTIPLE).contiguous(memory_format=layout)
        with torch.inference_mode(), autocast(dev, bf16):
            logits = model(x)
        _check_logits(tuple(logits.shape), x.shape[0])
        return logits[:, 0, :h, :w].float().cpu().numpy()

    return run


def _onnx_runner(model: OnnxModel) -> Runner:
    """Frames -> logits with ONNX Runtime: the same input (float32 RGB / 255, edge-padded to
    multiples of 32) as the PyTorch runner."""

    def run(frames: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(frames.transpose(0, 3, 1, 2)).astype(np.float32) / 255.0
        h, w = x.shape[-2:]
        ph, pw = (-h) % SIZE_MULTIPLE, (-w) % SIZE_MULTIPLE
        if ph or pw:
            x = np.pad(x, ((0, 0), (0, 0), (0, ph), (0, pw)), mode="edge")
        logits = model(x)
        _check_logits(logits.shape, x.shape[0])
        return logits[:, 0, :h, :w]

    return run


def segment(
    checkpoint_or_model: str | os.PathLike | Any,
    video: Any,
    *,
    device: str = "auto",
    batch_size: int = 8,
    threshold: float = 0.5,
    probabilities: bool = False,
    max_frames: int | None = None,
    duration: float | None = None,
    amp: bool | str | None = "auto",
    scale: float | Sequence[float] | str = AUTO,
) -> Iterator[tuple[int, np.ndarray]]:
    """Segment the crowd in every frame of ``video``, streaming.

    Args:
        checkpoint_or_model: a training checkpoint (``*.pt`` written by ``pympas-train``, loaded
            with :func:`pympas.train.load_model`), an ONNX model exported by ``pympas export``
            (``*.onnx``, run by ONNX Runtime: the CPU, or its CUDA execution provider where
            present), or a model taking x (B, 3, H, W) float RGB in [0, 1] to logits
            (B, 1, H, W) (a ``torch.nn.Module`` or a :class:`pympas.export.OnnxModel`).
        video: anything :func:`pympas.video.open_video` reads: a video file, a folder of
            images, an array (T, H, W[, 3]), an iterable of frames, a stream URL (rtsp://,
            http://, ...) or a camera index; a live source is read frame by frame until its
            bound, its end or a lost connection.
        device: "auto" (CUDA if available), "cpu", "cuda", "cuda:1", ...
        batch_size: frames per forward pass; memory is bounded by this many frames.
        threshold: crowd iff sigmoid(logit) > threshold, in (0, 1).
        probabilities: yield the (H, W) float32 crowd probability instead of the bool mask.
        max_frames: stop after this many frames (None: no bound).
        duration: stop this many seconds after the first frame (None: no bound).
        amp: PyTorch models: ``"auto"`` (bf16 autocast + channels_last where the device computes
            bf16 natively: CUDA, or a CPU whose oneDNN reports bf16), ``"bf16"``/True or
            ``"fp32"``/False. ONNX models run in fp32.
        scale: each frame is resized by this factor (bilinear) before the network and the
            logits are resized back to the frame's size, so the masks are always (H, W). The
            network's output has a quarter of its input's resolution: a scale above 1 gives
            finer masks where people are small in the image. Several scales (a sequence): the
            logits of each are averaged (multi-scale inference). :func:`working_scale` gives the
            scale at which a label set's CRM discs have the paper's 20 px radius. ``"auto"``
            (the default): :func:`auto_scales` of the CRM radius the model's training labels
            were made with, as its checkpoint or ONNX model records it (``crm_radius``): 1 and
            the working scale; scale 1 alone when unknown or at the paper's radius.

    Yields:
        (frame index, mask): the 0-based index and an (H, W) bool mask (or float32 probability).

    Raises:
        ValueError / TypeError naming the argument or the file (bad video, checkpoint, device).
    """
    batch_size = _validate.integer("batch_size", batch_size, 1)
    threshold = _validate.real("threshold", threshold)
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must lie in (0, 1), got {threshold}")
    if not isinstance(amp, bool) and amp not in (None, *AMP_CHOICES):
        raise ValueError(f"amp must be one of {list(AMP_CHOICES)}, True or False, got {amp!r}")
    if not _is_auto(scale):
        scale = check_scale(scale)  # type: ignore[arg-type]
    from pympas.video import open_video

    # checks the path (and the bounds) before the model is loaded
    source = open_video(video, max_frames=max_frames, duration=duration)
    return _segment_stream(
        checkpoint_or_model, source, device, batch_size, threshold, probabilities, amp, scale
    )


def check_scale(scale: float | Sequence[float]) -> tuple[float, ...]:
    """``scale`` (one factor or a sequence of them) as a tuple of floats, each in
    [MIN_SCALE, MAX_SCALE], else ValueError / TypeError naming it."""
    scales = tuple(scale) if isinstance(scale, (list, tuple)) else (scale,)
    if not scales:
        raise ValueError("scale: at least one scale is needed, got none")
    checked = tuple(_validate.real("scale", s) for s in scales)
    for s in checked:
        if not MIN_SCALE <= s <= MAX_SCALE:
            raise ValueError(f"scale must lie in [{MIN_SCALE}, {MAX_SCALE}], got {s}")
    return checked


def _is_auto(scale: Any) -> bool:
    return isinstance(scale, str) and scale == AUTO


def auto_scales(crm_radius: float | None) -> tuple[float, ...]:
    """The scales ``segment(scale="auto")`` uses for a model trained on labels made with CRM
    discs of ``crm_radius`` pixels: 1 and :func:`working_scale` (logits averaged), kept within
    [MIN_SCALE, MAX_SCALE]; 1 alone when the radius is unknown (None) or the paper's.

    >>> auto_scales(10.0)
    (1.0, 2.0)
    >>> auto_scales(20.0), auto_scales(None)
    ((1.0,), (1.0,))
    """
    if crm_radius is None:
        return (1.0,)
    scale = min(max(working_scale(crm_radius), MIN_SCALE), MAX_SCALE)
    return (1.0,) if scale == 1.0 else (1.0, scale)


def model_scales(model: Any, scale: float | Sequence[float] | str) -> tuple[float, ...]:
    """``scale`` checked, or for ``"auto"`` the :func:`auto_scales` of the model's
    ``crm_radius`` (an MPASNet loaded from a checkpoint, an :class:`OnnxModel`; other modules
    have none: scale 1)."""
    if _is_auto(scale):
        return auto_scales(getattr(model, "crm_radius", None))
    return check_scale(scale)  # type: ignore[arg-type]


def working_scale(crm_radius: float) -> float:
    """The inference scale at which CRM discs of ``crm_radius`` pixels have the paper's radius
    (20 px at 640x480): ``RADIUS / crm_radius``. A label set made at half the paper's resolution
    (radius 10) is segmented at scale 2.

    >>> working_scale(10.0)
    2.0
    """
    from pympas.crm import RADIUS

    radius = _validate.real("crm_radius", crm_radius)
    if not radius > 0:
        raise ValueError(f"crm_radius must be > 0, got {radius}")
    return RADIUS / radius


def _rescaled(runner: Runner, scales: tuple[float, ...]) -> Runner:
    """``runner`` on frames resized by each of ``scales``, its logits resized back to the frames'
    size and averaged over the scales."""
    if scales == (1.0,):
        return runner
    import cv2

    def at(frames: np.ndarray, scale: float) -> np.ndarray:
        if scale == 1.0:
            return runner(frames)
        h, w = frames.shape[1:3]
        size = (max(1, round(w * scale)), max(1, round(h * scale)))  # cv2: (width, height)
        big = np.stack([cv2.resize(f, size, interpolation=cv2.INTER_LINEAR) for f in frames])
        logits = runner(big)
        return np.stack([cv2.resize(lg, (w, h), interpolation=cv2.INTER_LINEAR) for lg in logits])

    def run(frames: np.ndarray) -> np.ndarray:
        return np.mean([at(frames, s) for s in scales], axis=0, dtype=np.float32)

    return run


def _segment_stream(
    checkpoint_or_model: Any,
    source: Any,
    device: str,
    batch_size: int,
    threshold: float,
    probabilities: bool,
    amp: Any = "auto",
    scale: tuple[float, ...] | str = (1.0,),
) -> Iterator[tuple[int, np.ndarray]]:
    from scipy.special import expit

    model = load_for_inference(checkpoint_or_model, device)
    scale = model_scales(model, scale)
    if isinstance(model, OnnxModel):
        runner = _onnx_runner(model)
    else:
        runner = _torch_runner(model, device, amp)
    runner = _rescaled(runner, scale)
    cut = np.float32(np.log(threshold / (1.0 - threshold)))  # sigmoid(l) > t <=> l > logit(t)

    def run(batch: list[np.ndarray], first: int) -> Iterator[tuple[int, np.ndarray]]:
        logits = runner(np.stack(batch))
        out = expit(logits).astype(np.float32) if probabilities else logits > cut
        for j in range(out.shape[0]):
            yield first + j, out[j]

    batch: list[np.ndarray] = []
    first = 0
    for index, frame in enumerate(source):
        batch.append(source.to_rgb(frame))
        if len(batch) == batch_size:
            yield from run(batch, first)
            batch, first = [], index + 1
    if batch:
        yield from run(batch, first)


# --------------------------------------------------------------------------------------------
# overlays and writing


def _fps(video: Any) -> float:
    import cv2

    from pympas.video import VideoSource

    if isinstance(video, VideoSource):
        video = video.name
    if isinstance(video, (str, os.PathLike)) and Path(video).is_file():
        cap = cv2.VideoCapture(str(video))
        fps = cap.get(cv2.CAP_PROP_FPS)
        cap.release()
        if fps and 1.0 <= fps <= 240.0:
            return float(fps)
    return 25.0


class _OverlayWriter:
    """``overlay.mp4`` (``overlay.avi`` where mp4 cannot be written) of the frames with the mask
    laid over, checked frame by frame when closed (:class:`pympas.files.VideoFileWriter`)."""

    def __init__(self, folder: Path, fps: float) -> None:
        self.folder, self.fps = folder, fps
        self.video: VideoFileWriter | None = None

    def add(self, rgb: np.ndarray, mask: np.ndarray) -> None:
        import cv2

        if self.video is None:
            h, w = rgb.shape[:2]
            self.video = VideoFileWriter(self.folder / "overlay", self.fps, (w, h))
        self.video.write(cv2.cvtColor(overlay_mask(rgb, mask), cv2.COLOR_RGB2BGR))

    @property
    def count(self) -> int:
        """Frames written so far."""
        return self.video.frames if self.video is not None else 0

    def close(self) -> None:
        """Finish the video and check that it holds every frame (OSError naming it if not)."""
        if self.video is not None:
            self.video.close()

    def abort(self) -> None:
        if self.video is not None:
            self.video.abort()


def segment_to_folder(
    checkpoint_or_model: Any,
    video: Any,
    out_dir: str | os.PathLike,
    *,
    overlay_video: bool = False,
    device: str = "auto",
    batch_size: int = 8,
    threshold: float = 0.5,
    max_frames: int | None = None,
    duration: float | None = None,
    progress: bool = False,
    amp: bool | str | None = "auto",
    scale: float | Sequence[float] | str = AUTO,
) -> int:
    """Write the masks of ``video`` to ``out_dir/NNNNNN.png`` (0/255) atomically.

    The folder is built under a temporary name beside ``out_dir`` and renamed only when every
    mask (and the overlay video, checked frame by frame) was written completely; an existing
    ``out_dir`` is replaced. Returns the number of frames written.

    A live source (a stream URL or a camera, :func:`pympas.video.is_stream`) has no end to wait
    for: the folder is committed with the masks of every frame received when the run stops,
    whether by its bound (``max_frames``, ``duration``), because the stream ended or its
    connection was lost, or by Ctrl-C / SIGTERM (the KeyboardInterrupt is raised again after the
    folder is committed); the overlay video then holds the same frames. A file, a folder or an
    array that is interrupted leaves nothing. ``progress`` shows a tqdm bar with the frames per
    second (where stderr is a terminal). ``amp``, ``scale``: see :func:`segment`.

    Raises:
        OSError: naming the file that could not be written (a full disk); ``out_dir`` is left
            as it was.
    """
    from tqdm.auto import tqdm

    from pympas.video import open_video

    source = open_video(video, max_frames=max_frames, duration=duration)
    with AtomicFolder(out_dir, overwrite=True) as folder:
        tmp = folder.path
        writer = _OverlayWriter(tmp, _fps(video)) if overlay_video else None
        bar = tqdm(
            desc=Path(str(source.name)).name, unit="frame", total=source.length, leave=False,
            disable=None if progress else True,
        )  # fmt: skip
        done = 0
        try:
            pending: list[np.ndarray] = []  # the frames of the batch being segmented (overlay)

            def frames() -> Iterator[np.ndarray]:
                for frame in source:
                    rgb = source.to_rgb(frame)
                    if writer is not None:
                        pending.append(rgb)
                    yield rgb

            stream = segment(
                checkpoint_or_model, frames(), device=device, batch_size=batch_size,
                threshold=threshold, amp=amp, scale=scale,
            )  # fmt: skip
            index, mask = -1, None
            try:
                for index, mask in stream:
                    if writer is not None:  # the overlay frame first, then the mask
                        writer.add(pending.pop(0), mask)
                    write_png(tmp / f"{index:06d}.png", mask)
                    done += 1
                    bar.update()
            except KeyboardInterrupt:
                if not source.live or (done == 0 and (writer is None or writer.count == 0)):
                    raise  # a file, folder or array: nothing is kept; a stream: nothing received
                # keep every frame whose mask and overlay frame are both written
                if writer is not None and writer.count > done:
                    write_png(tmp / f"{index:06d}.png", mask)  # type: ignore[arg-type]
                    done += 1
                else:
                    (tmp / f"{done:06d}.png").unlink(missing_ok=True)
                if writer is not None:
                    writer.close()
                folder.commit()
                raise
            if writer is not None:
                writer.close()
        finally:
            bar.close()
            if writer is not None:
                writer.abort()
        folder.commit()
    return done
