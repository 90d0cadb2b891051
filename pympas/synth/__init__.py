"""Synthetic crowd videos with exact ground-truth masks (trajectories from JuPedSim).

``render_scene`` / ``render_suite`` write scenes to disk; ``prepare`` / ``generate`` give
frames and masks in memory. JuPedSim is imported only when a scene is simulated.
"""

from pympas.synth.scenarios import SCENARIOS, Scenario, Trajectories, get_scenario
from pympas.synth.scene import (
    Scene,
    SceneInfo,
    SynthFrame,
    generate,
    prepare,
    render_scene,
    render_suite,
)

__all__ = [
    "SCENARIOS",
    "Scenario",
    "Scene",
    "SceneInfo",
    "SynthFrame",
    "Trajectories",
    "generate",
    "get_scenario",
    "prepare",
    "render_scene",
    "render_suite",
]
