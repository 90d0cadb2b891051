"""Scene orchestration: simulate, render and write one synthetic scene or the six-scene suite.

On disk a scene directory holds ``video.mp4`` (``video.avi`` where mp4 cannot be written),
``gt/NNNNNN.png`` (uint8 0/255 per frame, 255 iff a person is drawn on the pixel),
``gt_regions/NNNNNN.png`` (uint8 0/255, the annotator-like crowd regions of
:mod:`pympas.synth.annotation`), ``trajectories.csv`` and ``scene.json`` (every parameter and
the seed). Everything is written into a temporary sibling directory first and renamed into
place at the end.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import pympas._validate as _validate
from pympas._version import __version__
from pympas.files import AtomicFolder, VideoFileWriter, write_png, write_text_atomic
from pympas.synth.annotation import RADIUS_FACTOR, region_mask
from pympas.synth.appearance import gait_phase, make_appearance
from pympas.synth.camera import Camera, fit_camera
from pympas.synth.objects import car_colour
from pympas.synth.people import image_heights
from pympas.synth.raster import PERSON0, person_index
from pympas.synth.render import Renderer
from pympas.synth.scenarios import FPS, SCENARIOS, Scenario, Trajectories, get_scenario, simulate

CSV_COLUMNS = "frame,id,kind,x,y,heading_x,heading_y,speed,standing,foot_u,foot_v,head_u,head_v"


@dataclass
class SynthFrame:
    """One rendered frame: ``image`` (H, W, 3) uint8 BGR (as cv2 reads video), ``mask``
    (H, W) bool ground truth (True iff a person is drawn there), ``labels`` (H, W) uint16
    (0 background, 1 .. PERSON0 - 1 car parts, >= PERSON0 person parts) and ``heights`` (P,)
    the image height in pixels of each person of :meth:`Scene.people` (the projected
    feet-to-head-top segment). :attr:`regions` is the annotator-like ground truth."""

    index: int
    image: np.ndarray
    mask: np.ndarray
    labels: np.ndarray
    heights: np.ndarray | None = None

    @functools.cached_property
    def regions(self) -> np.ndarray:
        """Annotator-like crowd regions (H, W) bool (:func:`pympas.synth.annotation.region_mask`
        with ``RADIUS_FACTOR``), computed on first access."""
        if self.heights is None:
            raise ValueError("regions need the people's image heights (SynthFrame.heights)")
        return region_mask(person_index(self.labels), self.heights, RADIUS_FACTOR)


@dataclass
class Scene:
    """A prepared scene: the simulated trajectories, camera, cars and the renderer."""

    scenario: Scenario
    seed: int
    frames: int
    size: tuple[int, int]
    density: float
    distractors: bool
    camera: Camera
    trajectories: Trajectories
    cars: list[dict]
    renderer: Renderer
    _phase: np.ndarray = field(repr=False, default=None)
    _app: object = field(repr=False, default=None)

    def people(self, f: int) -> dict[str, np.ndarray]:
        """Per-person arrays for frame ``f`` (P rows), as :meth:`Renderer.frame` takes them."""
        tr, sl = self.trajectories, self.trajectories.frame(f)
        k = self._app.index(tr.ids[sl])
        a = self._app
        return {
            "ids": tr.ids[sl],
            "xy": tr.xy[sl],
            "heading": tr.heading[sl],
            "speed": tr.speed[sl],
            "standing": tr.standing[sl],
            "phase": self._phase[sl],
            "height": a.height[k],
            "build": a.build[k],
            "shirt": a.shirt[k],
            "trousers": a.trousers[k],
            "skin": a.skin[k],
            "hair": a.hair[k],
            "pattern": a.pattern[k],
            "period": a.period[k],
            "contrast": a.contrast[k],
        }

    def cars_at(self, f: int) -> list[dict]:
        """Cars on the road at frame ``f``: dicts with id, xy (2,), dir (2,), speed, colour."""
        if not self.cars:
            return []
        (a, b), t = np.asarray(self.scenario.road, dtype=np.float64), f / FPS
        length = float(np.linalg.norm(b - a))
        d = (b - a) / length
        n = np.array([-d[1], d[0]])
        out = []
        for c in self.cars:
            s = c["speed"] * (t - c["t0"])
            if not 0 <= s <= length:
                continue
            if c["sign"] > 0:
                xy, dd = a + s * d - n * c["lane"], d
            else:
                xy, dd = b - s * d + n * c["lane"], -d
            out.append(
                {"id": c["id"], "xy": xy, "dir": dd, "speed": c["speed"], "colour": c["colour"]}
            )
        return out

    def __iter__(self) -> Iterator[SynthFrame]:
        rng = np.random.default_rng([self.seed, 31])
        for f in range(self.frames):
            pp = self.people(f)
            img, labels = self.renderer.frame(f, pp, self.cars_at(f), rng)
            yield SynthFrame(f, img, labels >= PERSON0, labels, image_heights(self.camera, pp))


def _check(
    scenario, seed, frames, size, density
) -> tuple[Scenario, int, int, tuple[int, int], float]:
    sc = scenario if isinstance(scenario, Scenario) else get_scenario(scenario)
    seed = _validate.integer("seed", seed, 0)
    frames = _validate.integer("frames", frames, 1)
    if not isinstance(size, (tuple, list)) or len(size) != 2:
        raise TypeError(f"size must be a (width, height) pair, got {size!r}")
    w = _validate.integer("size[0] (width)", size[0], 32)
    h = _validate.integer("size[1] (height)", size[1], 32)
    density = _validate.real("density", density)
    if not 0 < density <= 5:
        raise ValueError(f"density must lie in (0, 5], got {density}")
    return sc, seed, frames, (w, h), density


def prepare(
    scenario: str | Scenario,
    *,
    seed: int = 0,
    frames: int = 300,
    size: tuple[int, int] = (640, 480),
    density: float = 1.0,
    distractors: bool = True,
) -> Scene:
    """Simulate ``scenario`` (a name from :data:`SCENARIOS`) and set up its renderer; iterate
    the returned :class:`Scene` to get :class:`SynthFrame` objects without touching disk.
    ``size`` is (width, height) in pixels; ``density`` scales every head count."""
    sc, seed, frames, size, density = _check(scenario, seed, frames, size, density)
    rng = np.random.default_rng([seed, 3])
    view = np.array(sc.view, dtype=np.float64)
    yaw = sc.yaw + float(rng.uniform(-6, 6))
    pitch = sc.pitch + float(rng.uniform(-3, 3))
    cam = fit_camera(view, size[0], size[1], yaw=yaw, pitch=pitch, fov=sc.fov, zoom=sc.zoom)
    traj = simulate(sc, frames=frames, seed=seed, density=density)
    app = make_appearance(traj.ids, seed)
    phase = gait_phase(traj, app)
    cars = []
    if distractors and sc.road is not None:
        (a, b) = np.asarray(sc.road, dtype=np.float64)
        length = float(np.linalg.norm(b - a))
        t = -length / 8.0 + float(rng.exponential(sc.car_period))
        k = 0
        while t < frames / FPS:
            cars.append({
                "id": 2_000_000 + k, "t0": t, "speed": float(rng.uniform(6, 10)),
                "sign": int(rng.choice([-1, 1])), "lane": sc.road_width / 4,
                "colour": car_colour(rng).tolist(),
            })  # fmt: skip
            t += float(rng.exponential(sc.car_period)) + 1.5
            k += 1
    renderer = Renderer(sc, cam, seed)
    return Scene(
        sc, seed, frames, size, density, bool(distractors), cam, traj, cars, renderer, phase, app
    )


def generate(
    scenario: str | Scenario,
    *,
    seed: int = 0,
    frames: int = 30,
    size: tuple[int, int] = (320, 240),
    density: float = 1.0,
    distractors: bool = True,
    regions: bool = False,
) -> tuple[np.ndarray, np.ndarray, Scene] | tuple[np.ndarray, np.ndarray, Scene, np.ndarray]:
    """In-memory scene: frames (F, H, W, 3) uint8 BGR, masks (F, H, W) bool and the
    :class:`Scene` (trajectories, camera). Meant for tests and small experiments. With
    ``regions=True`` a fourth item follows: the annotator-like region masks (F, H, W) bool
    (:attr:`SynthFrame.regions`, as written to ``gt_regions/``)."""
    scene = prepare(
        scenario, seed=seed, frames=frames, size=size, density=density, distractors=distractors
    )
    imgs, masks, areas = [], [], []
    for fr in scene:
        imgs.append(fr.image)
        masks.append(fr.mask)
        if regions:
            areas.append(fr.regions)
    if regions:
        return np.stack(imgs), np.stack(masks), scene, np.stack(areas)
    return np.stack(imgs), np.stack(masks), scene


@dataclass
class SceneInfo:
    """What :func:`render_scene` wrote: the directory, video path and a summary."""

    scenario: str
    path: Path
    video: Path
    frames: int
    size: tuple[int, int]
    seed: int
    density: float
    people: int
    mean_coverage: float


def _write_scene(scene: Scene, out: Path) -> SceneInfo:
    """Render ``scene`` into the (existing, empty) directory ``out``."""
    (out / "gt").mkdir()
    (out / "gt_regions").mkdir()
    writer = VideoFileWriter(out / "video", FPS, scene.size)
    video, fourcc = writer.path, writer.fourcc
    tr, cam = scene.trajectories, scene.camera
    lines = [CSV_COLUMNS]
    coverage, region_coverage = [], []
    try:
        for fr in scene:
            writer.write(fr.image)
            for sub, m in (("gt", fr.mask), ("gt_regions", fr.regions)):
                write_png(out / sub / f"{fr.index:06d}.png", m, compression=1)
            coverage.append(float(fr.mask.mean()))
            region_coverage.append(float(fr.regions.mean()))
            pp = scene.people(fr.index)
            if len(pp["xy"]):
                ground = np.column_stack([pp["xy"], np.zeros(len(pp["xy"]))])
                head = np.column_stack([pp["xy"], 0.925 * pp["height"]])
                fuv, _ = cam.project(ground)
                huv, _ = cam.project(head)
                for i in range(len(pp["xy"])):
                    lines.append(
                        f"{fr.index},{pp['ids'][i]},person,"
                        f"{pp['xy'][i, 0]:.4f},{pp['xy'][i, 1]:.4f},"
                        f"{pp['heading'][i, 0]:.4f},{pp['heading'][i, 1]:.4f},{pp['speed'][i]:.4f},"
                        f"{int(pp['standing'][i])},{fuv[i, 0]:.2f},{fuv[i, 1]:.2f},"
                        f"{huv[i, 0]:.2f},{huv[i, 1]:.2f}"
                    )
            for c in scene.cars_at(fr.index):
                uv, _ = cam.project(np.array([[c["xy"][0], c["xy"][1], 0.0]]))
                lines.append(
                    f"{fr.index},{c['id']},car,{c['xy'][0]:.4f},{c['xy'][1]:.4f},{c['dir'][0]:.4f},"
                    f"{c['dir'][1]:.4f},{c['speed']:.4f},0,{uv[0, 0]:.2f},{uv[0, 1]:.2f},nan,nan"
                )
        writer.close()  # checks that the video holds every frame
    finally:
        writer.abort()
    write_text_atomic(out / "trajectories.csv", "\n".join(lines) + "\n")
    meta = {
        "format": "pympas-synth",
        "format_version": 1,
        "pympas_version": __version__,
        "scenario": scene.scenario.name,
        "description": scene.scenario.description,
        "seed": scene.seed,
        "frames": scene.frames,
        "width": scene.size[0],
        "height": scene.size[1],
        "density": scene.density,
        "distractors": scene.distractors,
        "fps": FPS,
        "video": video.name,
        "codec": fourcc,
        "gt": "gt/{:06d}.png",
        "gt_regions": "gt_regions/{:06d}.png",
        "gt_regions_radius_factor": RADIUS_FACTOR,
        "gt_regions_definition": (
            "person mask S closed, per person i, with a disc of radius round(factor * h_i) "
            "(h_i: projected feet-to-head-top height in px), kept within that radius of "
            "person i's silhouette; union with S; holes of each region filled"
        ),
        "trajectories": "trajectories.csv",
        "trajectory_columns": CSV_COLUMNS.split(","),
        "camera": cam.to_dict(),
        "sun_shadow_per_metre": scene.renderer.sun.tolist(),
        "cars": [{k: v for k, v in c.items()} for c in scene.cars],
        "people": len(np.unique(tr.ids)),
        "standing_person_frames": int(tr.standing.sum()),
        "mean_gt_coverage": float(np.mean(coverage)),
        "mean_gt_regions_coverage": float(np.mean(region_coverage)),
        "scenario_params": scene.scenario.to_dict(),
    }
    write_text_atomic(out / "scene.json", json.dumps(meta, indent=1))
    return SceneInfo(scene.scenario.name, out, video, scene.frames, scene.size, scene.seed,
                     scene.density, meta["people"], meta["mean_gt_coverage"])  # fmt: skip


def _atomic_dir(out_dir: str | os.PathLike, overwrite: bool, fill) -> object:
    """Run ``fill(tmp)`` on a fresh temporary sibling of ``out_dir``, then rename it into place
    (:class:`pympas.files.AtomicFolder`)."""
    with AtomicFolder(out_dir, overwrite=overwrite) as folder:
        result = fill(folder.path)
        folder.commit()
    return result


def render_scene(
    scenario: str | Scenario,
    out_dir: str | os.PathLike,
    *,
    seed: int = 0,
    frames: int = 300,
    size: tuple[int, int] = (640, 480),
    density: float = 1.0,
    distractors: bool = True,
    overwrite: bool = False,
) -> SceneInfo:
    """Simulate and render ``scenario`` (a name from :data:`SCENARIOS`, or a :class:`Scenario`
    such as one with another camera ``zoom``) into ``out_dir`` (video, gt/, gt_regions/,
    trajectories.csv, scene.json). ``size`` is (width, height). Raises FileExistsError if
    ``out_dir`` exists and ``overwrite`` is false; nothing half-written is left behind on
    errors."""
    _check(scenario, seed, frames, size, density)
    out = Path(out_dir)
    if out.exists() and not overwrite:  # fail before the (long) simulation
        raise FileExistsError(
            f"output directory {str(out)!r} exists (pass overwrite=True / --overwrite)"
        )
    scene = prepare(
        scenario, seed=seed, frames=frames, size=size, density=density, distractors=distractors
    )
    info = _atomic_dir(out, overwrite, lambda tmp: _write_scene(scene, tmp))
    info.path, info.video = out, out / info.video.name
    return info


def render_suite(
    out_dir: str | os.PathLike,
    *,
    seed: int = 0,
    frames: int = 300,
    size: tuple[int, int] = (640, 480),
    overwrite: bool = False,
    progress: bool = False,
) -> list[SceneInfo]:
    """Render the standard six-scene suite, one sub-directory per scenario (seed + i for the
    i-th), plus ``suite.json`` listing them."""
    for i, name in enumerate(SCENARIOS):
        _check(name, seed + i, frames, size, 1.0)
    out = Path(out_dir)
    if out.exists() and not overwrite:
        raise FileExistsError(
            f"output directory {str(out)!r} exists (pass overwrite=True / --overwrite)"
        )

    def fill(tmp: Path) -> list[SceneInfo]:
        infos = []
        for i, name in enumerate(SCENARIOS):
            if progress:
                print(f"synth suite: {name} ({i + 1}/{len(SCENARIOS)})", flush=True)
            (tmp / name).mkdir()
            scene = prepare(name, seed=seed + i, frames=frames, size=size)
            infos.append(_write_scene(scene, tmp / name))
        index = {
            "format": "pympas-synth-suite",
            "format_version": 1,
            "pympas_version": __version__,
            "seed": seed,
            "frames": frames,
            "width": size[0],
            "height": size[1],
            "scenes": [{"scenario": s.scenario, "dir": s.scenario, "seed": s.seed} for s in infos],
        }
        write_text_atomic(tmp / "suite.json", json.dumps(index, indent=1))
        return infos

    infos = _atomic_dir(out, overwrite, fill)
    for s in infos:
        s.path = out / s.scenario
        s.video = s.path / s.video.name
    return infos


__all__ = [
    "Scene",
    "SceneInfo",
    "SynthFrame",
    "generate",
    "prepare",
    "render_scene",
    "render_suite",
]
