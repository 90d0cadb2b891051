"""Deployment: MPASNet's inference path exported to ONNX, and run by ONNX Runtime.

:func:`export_onnx` (``pympas export CHECKPOINT -o model.onnx``; needs torch and ``onnx``) writes
the inference path of a training checkpoint, logits = head(psi(F)) with the ImageNet
normalisation inside and no siamese branch, as one ONNX graph:

- input ``image``: (batch, 3, height, width) float32 RGB in [0, 1], every axis dynamic (any
  height and width; ``pympas.segment`` pads frames to multiples of 32 as for a checkpoint);
- output ``logits``: (batch, 1, height, width) float32, crowd iff sigmoid(logit) > threshold;
- metadata (``metadata_props``): ``format`` ("pympas-onnx"), ``pympas_version``, ``arch``,
  ``step``, ``config`` (the training config as JSON) and, where the checkpoint records it,
  ``crm_radius`` (the CRM radius of the training labels: ``segment``'s default scales).

It is traced with PyTorch's TorchScript-based exporter (``dynamo=False``): the newer
torch.export-based exporter needs the ``onnxscript`` package and the traced graph is the same.
The file is written atomically and checked with ``onnx.checker`` before it is renamed into place.

:class:`OnnxModel` (needs only ``onnxruntime``, never torch) is such a file in an ONNX Runtime
session; :func:`pympas.segment` takes a ``.onnx`` path like a checkpoint and runs it through the
same streaming code. Device: ``cpu`` uses the CPU execution provider, ``cuda``/``cuda:N`` the
CUDA execution provider (an error if this onnxruntime has none), ``auto`` the CUDA one where
present, else the CPU.
"""

from __future__ import annotations

import io
import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from pympas._version import __version__

__all__ = ["INPUT", "ONNX_FORMAT", "OPSET", "OUTPUT", "OnnxModel", "export_onnx", "is_onnx"]

ONNX_FORMAT = "pympas-onnx"
#: the ONNX opset of exported models
OPSET = 17
INPUT, OUTPUT = "image", "logits"
_EXTRA = 'pip install "pympas[onnx]"'


def is_onnx(path: Any) -> bool:
    """True for a path whose name ends in ``.onnx`` (an exported model, not a checkpoint)."""
    return isinstance(path, (str, os.PathLike)) and Path(path).suffix.lower() == ".onnx"


def _require(module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"{module} is needed for ONNX models: {_EXTRA}") from exc


def export_onnx(
    checkpoint: str | os.PathLike, out: str | os.PathLike, *, opset: int = OPSET
) -> Path:
    """Export the inference path of a training checkpoint to ONNX (see the module docstring).

    Args:
        checkpoint: a ``*.pt`` checkpoint written by ``pympas train``.
        out: the ``.onnx`` file to write (atomically; its folder is created).
        opset: the ONNX opset.

    Returns:
        ``out`` as a Path.

    Raises:
        FileNotFoundError, ValueError: naming the checkpoint (missing, not a checkpoint).
        ImportError: torch or onnx is not installed (names the extra to install).
        OSError: naming ``out`` if it cannot be written.
    """
    torch = _require("torch")
    onnx = _require("onnx")
    from pympas.files import write_atomic
    from pympas.model.checkpoint import model_from_checkpoint, read_checkpoint

    ckpt = read_checkpoint(checkpoint)
    cfg = ckpt["config"]
    model = model_from_checkpoint(ckpt, checkpoint)
    example = torch.rand(1, 3, 64, 64)
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # tracing notes on shape checks; the graph is dynamic
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            model,
            (example,),
            buffer,
            dynamo=False,
            input_names=[INPUT],
            output_names=[OUTPUT],
            dynamic_axes={
                INPUT: {0: "batch", 2: "height", 3: "width"},
                OUTPUT: {0: "batch", 2: "height", 3: "width"},
            },
            opset_version=opset,
        )
    graph = onnx.load_from_string(buffer.getvalue())
    # the exporter leaves the output's channel axis symbolic (it comes out of a Resize): it is 1
    graph.graph.output[0].type.tensor_type.shape.dim[1].dim_value = 1
    props = {
        "format": ONNX_FORMAT,
        "pympas_version": __version__,
        "arch": str(cfg["arch"]),
        "step": str(int(ckpt["step"])),
        "config": json.dumps(cfg, sort_keys=True, default=str),
    }
    if ckpt.get("crm_radius") is not None:
        props["crm_radius"] = repr(float(ckpt["crm_radius"]))
    onnx.helper.set_model_props(graph, props)
    graph.producer_name, graph.producer_version = "pympas", __version__
    onnx.checker.check_model(graph)
    data = graph.SerializeToString()
    return write_atomic(out, lambda fh: fh.write(data))


class OnnxModel:
    """An exported MPASNet (``.onnx`` from :func:`export_onnx`) in an ONNX Runtime session.

    ``model(x)``: x (B, 3, H, W) float32 RGB in [0, 1] (NumPy) -> logits (B, 1, H, W) float32.

    Attributes:
        path: the file.
        metadata: its metadata (format, pympas_version, arch, step, config[, crm_radius]).
        crm_radius: the CRM radius of the training labels, or None when not recorded.
        providers: the execution providers of the session, first = preferred.

    Raises:
        FileNotFoundError: naming a missing file.
        ValueError: naming a file that ONNX Runtime cannot load, or that pympas did not export
            (no ``format`` "pympas-onnx" in its metadata); a CUDA device that this onnxruntime
            cannot use.
        ImportError: onnxruntime is not installed (names the extra to install).
    """

    def __init__(self, path: str | os.PathLike, device: Any = "auto") -> None:
        from pympas.device import onnx_providers

        ort = _require("onnxruntime")
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"ONNX model not found: {self.path}")
        providers = onnx_providers(device, ort.get_available_providers())
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: no notes on provider placement
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ValueError(
                f"{self.path}: not an ONNX model ONNX Runtime can load ({exc})"
            ) from exc
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        if self.metadata.get("format") != ONNX_FORMAT:
            raise ValueError(
                f"{self.path}: not a model exported by pympas (no format {ONNX_FORMAT!r} in its "
                "metadata; export one with `pympas export`)"
            )
        self.providers = self.session.get_providers()
        #: CRM radius (px) of the training labels (metadata ``crm_radius``); None when unknown
        self.crm_radius: float | None = None
        if "crm_radius" in self.metadata:
            try:
                self.crm_radius = float(self.metadata["crm_radius"])
            except ValueError:
                raise ValueError(
                    f"{self.path}: metadata crm_radius {self.metadata['crm_radius']!r} is not a "
                    "number"
                ) from None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        return self.session.run([OUTPUT], {INPUT: x})[0]

    def __repr__(self) -> str:
        return f"OnnxModel({str(self.path)!r}, providers={self.providers})"
