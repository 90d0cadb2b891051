"""pympas.synth: simulated crowd scenes with exact ground-truth masks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("jupedsim")
cv2 = pytest.importorskip("cv2")

from pympas.cli import main  # noqa: E402
from pympas.synth import SCENARIOS, generate, prepare, render_scene, render_suite  # noqa: E402
from pympas.synth.render import PERSON0  # noqa: E402

SMALL = (160, 120)


def _torso_pixels(scene, f: int) -> tuple[np.ndarray, np.ndarray]:
    """Projected torso centres (P, 2) of frame f's people and whether they lie in the image."""
    pp = scene.people(f)
    pts = np.column_stack([pp["xy"], 0.665 * pp["height"]])
    uv, z = scene.camera.project(pts)
    w, h = scene.size
    inside = (z > 0.5) & (uv[:, 0] >= 2) & (uv[:, 0] < w - 2) & (uv[:, 1] >= 2) & (uv[:, 1] < h - 2)
    return uv, inside


def test_same_seed_gives_identical_frames_masks_and_trajectories():
    a_img, a_mask, a = generate("corridor", seed=3, frames=4, size=SMALL)
    b_img, b_mask, b = generate("corridor", seed=3, frames=4, size=SMALL)
    np.testing.assert_array_equal(a_mask, b_mask)
    np.testing.assert_array_equal(a_img, b_img)
    np.testing.assert_array_equal(a.trajectories.ids, b.trajectories.ids)
    np.testing.assert_array_equal(a.trajectories.xy, b.trajectories.xy)
    _, c_mask, c = generate("corridor", seed=4, frames=4, size=SMALL)
    assert not np.array_equal(a_mask, c_mask)
    assert len(c.trajectories.ids) != len(a.trajectories.ids) or not np.allclose(
        c.trajectories.xy, a.trajectories.xy
    )


def test_masks_align_with_projected_people():
    scene = prepare("corridor", seed=1, frames=3, size=(320, 240), distractors=False)
    frames = list(scene)
    for fr in frames:
        np.testing.assert_array_equal(fr.mask, fr.labels >= PERSON0)
        uv, inside = _torso_pixels(scene, fr.index)
        assert inside.sum() >= 10
        px = np.round(uv[inside]).astype(int)
        hit = fr.mask[px[:, 1], px[:, 0]]
        # the torso centre of every visible person is crowd (a static pole may hide a few)
        assert hit.mean() >= 0.9, hit.mean()
        # and no crowd pixel lies far from every projected person
        near = np.zeros_like(fr.mask, dtype=np.uint8)
        for u, v in np.round(uv[np.isfinite(uv).all(axis=1)]).astype(int):
            cv2.circle(near, (int(u), int(v)), 30, 1, -1)
        assert not np.any(fr.mask & (near == 0))


def test_people_are_drawn_where_the_mask_says():
    scene = prepare("crossing", seed=2, frames=2, size=(320, 240), distractors=False)
    bg = scene.renderer.background.astype(np.int16)
    for fr in scene:
        diff = np.abs(fr.image.astype(np.int16) - bg).sum(axis=2)
        inner = cv2.erode(fr.mask.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        outer = cv2.dilate(fr.mask.astype(np.uint8), np.ones((9, 9), np.uint8)) == 0
        assert inner.sum() > 100
        # figures change the picture; away from them only shadows, noise and flicker do
        assert np.median(diff[inner]) > 3 * np.median(diff[outer]) + 10


def test_standing_people_are_crowd_in_the_masks():
    scene = prepare("plaza", seed=0, frames=3, size=(320, 240))
    tr = scene.trajectories
    assert tr.standing.sum() >= 3
    assert np.median(tr.speed[tr.standing]) < 0.2
    for fr in scene:
        sl = tr.frame(fr.index)
        uv, inside = _torso_pixels(scene, fr.index)
        sel = inside & tr.standing[sl]
        px = np.round(uv[sel]).astype(int)
        # small people seen from above: look in a 3x3 window around the torso centre
        win = cv2.dilate(fr.mask.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        assert win[px[:, 1], px[:, 0]].mean() >= 0.9


def test_passing_car_is_drawn_but_not_crowd():
    scene = prepare("plaza", seed=0, frames=50, size=(320, 240))
    w, h = scene.size
    found = None
    for f in range(scene.frames):
        for car in scene.cars_at(f):
            uv, _ = scene.camera.project(np.array([[*car["xy"], 0.65]]))
            u, v = np.round(uv[0]).astype(int)
            if found is None and 5 <= u < w - 5 and 5 <= v < h - 5:
                found = f, u, v
    if found is None:
        pytest.fail("no car crossed the view")
    f, u, v = found
    cars = scene.cars_at(f)
    img, labels = scene.renderer.frame(f, scene.people(f), cars, np.random.default_rng(0))
    assert 1 <= labels[v, u] < PERSON0  # car body, windows or wheels, never a person label
    assert (labels[v - 2 : v + 3, u - 2 : u + 3] < PERSON0).all()
    diff = np.abs(img[v, u].astype(int) - scene.renderer.background[v, u].astype(int)).sum()
    assert diff > 30


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_each_scenario_renders_people(name):
    imgs, masks, scene = generate(name, seed=0, frames=2, size=(128, 96))
    assert imgs.shape == (2, 96, 128, 3) and imgs.dtype == np.uint8
    assert masks.shape == (2, 96, 128) and masks.dtype == bool
    assert masks.any(axis=(1, 2)).all()
    assert 0 < masks.mean() < 0.6
    assert scene.trajectories.n_frames == 2


def test_cli_writes_video_masks_trajectories_and_json(tmp_path):
    out = tmp_path / "scene"
    rc = main(["synth", "split", "-o", str(out), "--frames", "3", "--size", "96x72", "--seed", "5"])
    assert rc == 0
    meta = json.loads((out / "scene.json").read_text())
    assert meta["seed"] == 5 and meta["frames"] == 3 and meta["scenario"] == "split"
    assert (meta["width"], meta["height"]) == (96, 72)
    gts = sorted((out / "gt").iterdir())
    assert [p.name for p in gts] == ["000000.png", "000001.png", "000002.png"]
    gt = cv2.imread(str(gts[0]), cv2.IMREAD_UNCHANGED)
    assert gt.shape == (72, 96) and gt.dtype == np.uint8
    assert set(np.unique(gt)) <= {0, 255} and gt.max() == 255
    cap = cv2.VideoCapture(str(out / meta["video"]))
    n = 0
    while True:
        ok, fr = cap.read()
        if not ok:
            break
        assert fr.shape == (72, 96, 3)
        n += 1
    assert n == 3
    rows = (out / "trajectories.csv").read_text().splitlines()
    assert rows[0].split(",") == meta["trajectory_columns"]
    frames = {int(r.split(",")[0]) for r in rows[1:]}
    assert frames == {0, 1, 2}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_render_scene_refuses_existing_output_unless_overwrite(tmp_path):
    out = tmp_path / "s"
    info = render_scene("plaza", out, frames=1, size=(64, 48))
    assert info.path == out and info.video.exists()
    with pytest.raises(FileExistsError, match="exists"):
        render_scene("plaza", out, frames=1, size=(64, 48))
    render_scene("plaza", out, frames=2, size=(64, 48), overwrite=True)
    assert len(list((out / "gt").iterdir())) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]


def test_suite_writes_one_folder_per_scenario(tmp_path):
    infos = render_suite(tmp_path / "suite", frames=1, size=(64, 48))
    assert [i.scenario for i in infos] == list(SCENARIOS)
    index = json.loads((tmp_path / "suite" / "suite.json").read_text())
    assert [s["dir"] for s in index["scenes"]] == list(SCENARIOS)
    for name in SCENARIOS:
        assert (tmp_path / "suite" / name / "gt" / "000000.png").exists()


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"scenario": "stadium"}, ValueError, "unknown scenario 'stadium'"),
        ({"frames": 0}, ValueError, "frames"),
        ({"frames": 2.5}, TypeError, "frames"),
        ({"size": (0, 48)}, ValueError, "width"),
        ({"size": 64}, TypeError, "size"),
        ({"density": -1.0}, ValueError, "density"),
        ({"seed": -3}, ValueError, "seed"),
    ],
)
def test_bad_arguments_raise_naming_the_argument(tmp_path, kwargs, exc, match):
    args = {"scenario": "corridor", "frames": 1, "size": (64, 48)} | kwargs
    scenario = args.pop("scenario")
    with pytest.raises(exc, match=match):
        render_scene(scenario, tmp_path / "x", **args)
    assert not list(tmp_path.iterdir())


def test_cli_rejects_bad_arguments(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["synth", "stadium", "-o", str(tmp_path / "a")])
    assert "invalid choice" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["synth", "corridor", "-o", str(tmp_path / "a"), "--frames", "0"])
    assert "positive" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["synth", "corridor", "-o", str(tmp_path / "a"), "--size", "64by48"])
    assert "640x480" in capsys.readouterr().err
    assert main(["synth", "corridor"]) == 2
    assert "output directory is required" in capsys.readouterr().err
    (tmp_path / "b").mkdir()
    assert main(["synth", "corridor", "-o", str(tmp_path / "b"), "--frames", "1"]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["synth", "suite", str(tmp_path / "c"), "--density", "2"]) == 2
    assert not (tmp_path / "a").exists() and not (tmp_path / "c").exists()


def test_importing_pympas_does_not_need_jupedsim():
    code = (
        "import sys; sys.modules['jupedsim'] = None\n"
        "import pympas, pympas.synth, pympas.cli\n"
        "pympas.cli.build_parser()\n"
        "try:\n"
        "    pympas.synth.prepare('corridor', frames=1, size=(64, 48))\n"
        "except ImportError as e:\n"
        "    assert 'pympas[synth]' in str(e)\n"
        "else:\n"
        "    raise SystemExit('expected ImportError')\n"
    )
    root = Path(__file__).resolve().parents[1]
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root)
    assert res.returncode == 0, res.stderr


def test_region_ground_truth_holds_the_silhouettes_without_holes():
    from scipy import ndimage

    imgs, masks, _ = generate("corridor", seed=1, frames=2, size=(320, 240))  # still 3 items
    out = generate("corridor", seed=1, frames=2, size=(320, 240), regions=True)
    assert len(out) == 4
    np.testing.assert_array_equal(out[0], imgs)
    np.testing.assert_array_equal(out[1], masks)
    regions = out[3]
    assert regions.shape == masks.shape and regions.dtype == bool
    assert (regions >= masks).all()
    assert regions.sum() > 1.1 * masks.sum()  # gaps between legs and neighbours are closed
    for reg in regions:
        np.testing.assert_array_equal(ndimage.binary_fill_holes(reg), reg)
    # fewer, larger regions than silhouettes: walkers side by side are one region
    n_sil = [ndimage.label(m, structure=np.ones((3, 3)))[1] for m in masks]
    n_reg = [ndimage.label(r, structure=np.ones((3, 3)))[1] for r in regions]
    assert all(1 <= r < s for r, s in zip(n_reg, n_sil, strict=True))


def test_render_scene_writes_region_ground_truth_beside_gt(tmp_path):
    out = tmp_path / "scene"
    render_scene("crossing", out, seed=2, frames=2, size=(160, 120))
    meta = json.loads((out / "scene.json").read_text())
    assert meta["gt"] == "gt/{:06d}.png"
    assert meta["gt_regions"] == "gt_regions/{:06d}.png"
    assert meta["gt_regions_radius_factor"] == 0.3
    assert meta["mean_gt_regions_coverage"] >= meta["mean_gt_coverage"] > 0
    for f in range(2):
        gt = cv2.imread(str(out / meta["gt"].format(f)), cv2.IMREAD_UNCHANGED)
        reg = cv2.imread(str(out / meta["gt_regions"].format(f)), cv2.IMREAD_UNCHANGED)
        assert reg.shape == gt.shape == (120, 160) and reg.dtype == np.uint8
        assert set(np.unique(reg)) <= {0, 255}
        assert (reg[gt > 0] == 255).all()
    assert sorted(p.name for p in (out / "gt_regions").iterdir()) == ["000000.png", "000001.png"]
