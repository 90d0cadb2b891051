"""Synthetic crowd videos with exact ground-truth masks (trajectories from JuPedSim).

:func:`render_scene` / :func:`render_suite` write scenes to disk; :func:`prepare` /
:func:`generate` give frames and masks in memory. The six scene types are listed in
:data:`SCENARIOS`. JuPedSim is imported only when a scene is simulated, and OpenCV only when
the renderer is first used, so importing this package (or ``pympas``) stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

from pympas.synth.scenarios import SCENARIOS, Scenario, Trajectories, get_scenario, simulate

_LAZY = {
    "Scene": "pympas.synth.scene",
    "SceneInfo": "pympas.synth.scene",
    "SynthFrame": "pympas.synth.scene",
    "generate": "pympas.synth.scene",
    "prepare": "pympas.synth.scene",
    "render_scene": "pympas.synth.scene",
    "render_suite": "pympas.synth.scene",
    "Camera": "pympas.synth.camera",
    "fit_camera": "pympas.synth.camera",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'pympas.synth' has no attribute {name!r}")


__all__ = [
    "SCENARIOS",
    "Camera",
    "Scenario",
    "Scene",
    "SceneInfo",
    "SynthFrame",
    "Trajectories",
    "fit_camera",
    "generate",
    "get_scenario",
    "prepare",
    "render_scene",
    "render_suite",
    "simulate",
]
