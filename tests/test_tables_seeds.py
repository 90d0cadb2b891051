"""benchmarks/tables.py: rows averaged over training seeds and the seed-noise verdict."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from pympas.evaluation import evaluate

TABLES = Path(__file__).resolve().parents[1] / "benchmarks" / "tables.py"


@pytest.fixture(scope="module")
def tables():
    spec = importlib.util.spec_from_file_location("pympas_bench_tables", TABLES)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look the module up while the class is built
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def _evaluation(hits: dict[str, int]):
    """Two scenes of one 10-pixel frame each; ``hits[scene]`` of the 4 crowd pixels predicted
    (no false positives), so the scene's IoU is hits / 4."""
    gt, pred = {}, {}
    for scene, k in hits.items():
        g = np.zeros((1, 10), bool)
        g[0, :4] = True
        p = np.zeros((1, 10), bool)
        p[0, :k] = True
        gt[scene], pred[scene] = {0: g}, {0: p}
    return evaluate(pred, gt)


def test_row_averages_scene_iou_and_miou_over_seeds(tables):
    row = tables.Row([_evaluation({"a": 4, "b": 2}), _evaluation({"a": 2, "b": 0})])
    assert row.iou("a") == pytest.approx(0.75)  # (1 + 0.5) / 2
    assert row.iou("b") == pytest.approx(0.25)  # (0.5 + 0) / 2
    assert row.miou == pytest.approx(0.5)  # seeds' mIoU 0.75 and 0.25
    assert row.sd == pytest.approx(np.std([0.75, 0.25], ddof=1))
    assert row.coverage == pytest.approx((6 / 8 + 2 / 8) / 2)
    assert row.cell() == f"0.5000 ± {np.std([0.75, 0.25], ddof=1):.4f}"
    doc = row.to_dict()
    assert doc["miou_mean"] == pytest.approx(0.5) and len(doc["seeds"]) == 2


def test_one_seed_has_no_spread_and_differences_count_as_exact(tables):
    a = tables.Row([_evaluation({"a": 4, "b": 4})])
    b = tables.Row([_evaluation({"a": 4, "b": 3})])
    assert math.isnan(a.sd) and a.cell() == "1.0000"
    d, word = tables.compare(b, a)
    assert d == pytest.approx((0.75 - 1.0) / 2) and word == ""


def test_difference_under_twice_its_standard_error_is_within_seed_noise(tables):
    noisy = tables.Row([_evaluation({"a": 4, "b": 4}), _evaluation({"a": 0, "b": 0})])  # 1, 0
    ref = tables.Row([_evaluation({"a": 2, "b": 2})])  # 0.5 exactly
    slightly_better = tables.Row([_evaluation({"a": 3, "b": 3})])  # 0.75
    # se of the noisy row: sd / sqrt(2) = 0.5; |0.5 - 0.75| < 2 * 0.5
    assert tables.compare(noisy, slightly_better) == (pytest.approx(-0.25), "within seed noise")
    tight = tables.Row([_evaluation({"a": 4, "b": 4}), _evaluation({"a": 4, "b": 3})])
    d, word = tables.compare(tight, ref)  # 0.9375 - 0.5 against se 0.0625 / sqrt(2)
    assert d == pytest.approx(0.4375) and word == ""


def test_a_scale_outside_its_range_stops_the_tables_before_any_work(tables, tmp_path):
    with pytest.raises(SystemExit, match="--scale must lie in"):
        tables.main(["-o", str(tmp_path / "t"), "--scale", "1", "0", "--device", "cpu"])
    assert not (tmp_path / "t").exists()


def test_targets_judge_ablations_but_not_the_scale_1_row(tables):
    ref = tables.Row([_evaluation({"a": 4, "b": 4}), _evaluation({"a": 4, "b": 3})])
    worse = tables.Row([_evaluation({"a": 1, "b": 1}), _evaluation({"a": 1, "b": 0})])
    t2 = {"MPASNet": ref, "w/o SFA": worse, tables.SCALE1: worse}
    lines = tables._targets({}, t2, {})
    sfa = next(line for line in lines if line.startswith("- w/o SFA"))
    scale1 = next(line for line in lines if line.startswith(f"- {tables.SCALE1}"))
    assert sfa.endswith("costs accuracy")
    assert "not an ablation" in scale1 and "MISSED" not in scale1 and "costs" not in scale1


def test_cross_scene_ablations_are_compared_with_cross_scene_mpasnet(tables):
    pseudo = tables.Row([_evaluation({"a": 1, "b": 1})])
    ref = tables.Row([_evaluation({"a": 4, "b": 4}), _evaluation({"a": 4, "b": 3})])
    same = tables.Row([_evaluation({"a": 4, "b": 3}), _evaluation({"a": 4, "b": 4})])
    lines = tables._targets({}, {}, {"CM+CRM": pseudo, "MPASNet": ref, "w/o SFA": same})
    assert any(x.startswith("- cross-scene, MPASNet - CM+CRM") and x.endswith("met") for x in lines)
    sfa = next(line for line in lines if line.startswith("- cross-scene, w/o SFA"))
    assert "+0.0000" in sfa and sfa.endswith("no difference beyond noise")
    half = tables.Row([_evaluation({"a": 2, "b": 2})] * 2)  # 0.5 on both seeds
    full = tables.Row([_evaluation({"a": 4, "b": 4})] * 2)  # 1.0 on both seeds
    lines = tables._targets({}, {}, {"CM+CRM": pseudo, "MPASNet": half, "w/o SFA": full})
    (line,) = [x for x in lines if x.startswith("- cross-scene, w/o SFA")]
    assert line.endswith("raises accuracy beyond noise")


def test_an_unknown_cross_scene_variant_stops_the_tables_before_any_work(tables, tmp_path):
    with pytest.raises(SystemExit, match="unknown variants \\['w/o AIRR'\\]"):
        tables.main(["-o", str(tmp_path / "t"), "--cross-variants", "MPASNet,w/o AIRR",
                     "--device", "cpu"])  # fmt: skip
    assert not (tmp_path / "t").exists()


def test_beyond_prior_scores_only_the_crowd_outside_the_pseudo_labels(tables):
    gt = np.zeros((1, 10), bool)
    gt[0, :6] = True  # crowd at 0..5
    prior = np.zeros((1, 10), bool)
    prior[0, :3] = True  # the pseudo-label covers 0..2
    net = np.zeros((1, 10), bool)
    net[0, [0, 1, 3, 4, 8]] = True  # two pixels inside the prior, 3 and 4 found, 8 false
    held = {"s": SimpleNamespace(masks_by_frame=lambda: {7: prior})}
    gts = {"s": {7: gt}}

    ev = tables._beyond_prior(held, gts, ["s"], {"s": {7: net}})
    # outside the prior: ground truth {3, 4, 5}, network {3, 4, 8}
    assert (ev["s"].intersection, ev["s"].union, ev["s"].gt_pixels) == (2, 4, 3)
    assert ev.miou == pytest.approx(0.5)
    assert tables._recall(tables.Row([ev])) == pytest.approx(2 / 3)
    # the pseudo-labels themselves find nothing there
    assert tables._beyond_prior(held, gts, ["s"], {"s": {7: prior}}).miou == 0.0
    assert tables._score(held, gts, ["s"], None).miou == pytest.approx(3 / 6)  # CM+CRM itself

    lines = tables._beyond_table({"MPASNet": tables.Row([ev]), "w/o AIR": tables.Row([ev])}, ["s"])
    assert "| MPASNet | 0.5000 | 0.5000 | 0.667 | — |" in lines
    assert "| w/o AIR | 0.5000 | 0.5000 | 0.667 | +0.0000 |" in lines


def test_appearance_changes_are_the_documented_colour_transforms(tables):
    rng = np.random.default_rng(0)
    frame = rng.integers(40, 200, (6, 8, 3), dtype=np.uint8)
    x = frame.astype(np.float64)
    gray = tables._grayscale(frame)
    luma = x @ [0.299, 0.587, 0.114]
    assert gray.dtype == np.uint8 and gray.shape == frame.shape
    assert (gray[..., 0] == gray[..., 1]).all() and (gray[..., 1] == gray[..., 2]).all()
    assert np.abs(gray[..., 0] - luma).max() <= 0.5 + 1e-6
    dusk = tables._dusk(frame).astype(np.float64)
    mean = x.mean(axis=(0, 1))
    assert np.allclose(dusk.mean(axis=(0, 1)), 0.6 * mean, atol=0.5)  # brightness 0.6
    assert np.allclose(dusk - dusk.mean(axis=(0, 1)), 0.42 * (x - mean), atol=1.0)  # x 0.7 x 0.6
    cast = tables._colour_cast(frame).astype(np.int64)
    assert (cast[..., 1] == frame[..., 1]).all()
    assert np.abs(cast[..., 0] - np.minimum(255, 1.25 * x[..., 0])).max() <= 0.5 + 1e-6
    assert np.abs(cast[..., 2] - 0.75 * x[..., 2]).max() <= 0.5 + 1e-6
    assert tables._colour_cast(np.full((1, 1, 3), 250, np.uint8))[0, 0, 0] == 255  # clipped


def test_appearance_table_compares_the_mean_under_change_seed_by_seed(tables):
    def row(*hits):  # one seed per entry, both scenes with the same hits
        return tables.Row([_evaluation({"a": k, "b": k}) for k in hits])

    names = ["as rendered", *tables.APPEARANCE]
    assert names == ["as rendered", "grayscale", "dusk", "colour cast"]
    robust = dict(zip(names, [row(4, 4), row(4, 4), row(4, 4), row(4, 4)], strict=True))
    fragile = dict(zip(names, [row(4, 4), row(4, 4), row(0, 0), row(1, 2)], strict=True))
    lines = tables._appearance_table({"MPASNet": robust, "w/o AIR": fragile})
    assert "| MPASNet | 1.0000 ± 0.0000 | 1.0000 ± 0.0000 | 1.0000 ± 0.0000 | 1.0000 ± 0.0000 | " \
        "1.0000 ± 0.0000 | — |" in lines  # fmt: skip
    # w/o AIR per seed: (1 + 0 + 0.25) / 3 and (1 + 0 + 0.5) / 3
    per_seed = [1.25 / 3, 1.5 / 3]
    mean, sd = np.mean(per_seed), np.std(per_seed, ddof=1)
    expected = f"| {mean:.4f} ± {sd:.4f} | {mean - 1:+.4f} |"
    assert any(line.startswith("| w/o AIR |") and line.endswith(expected) for line in lines)
    assert tables._appearance_table({}) == []


def test_difference_within_noise_needs_a_spread(tables):
    assert tables._difference([0.5, 0.7], [0.6, 0.6]) == (pytest.approx(0.0), "within seed noise")
    d, word = tables._difference([0.9, 0.91], [0.5, 0.51])
    assert d == pytest.approx(0.4) and word == ""
    assert tables._difference([0.7], [0.5]) == (pytest.approx(0.2), "")


def _finished_run(tmp_path: Path, setting: str) -> tuple[object, Path, dict]:
    """Settings, folder and config (as a dict) of a finished MPASNet run on corridor, faked."""
    import dataclasses

    from pympas.experiment import ExperimentSettings, train_config

    s = ExperimentSettings(("corridor",), 24, 240, 180, 4, "w18-small", 4, 2, 64)
    run = tmp_path / "runs" / setting / "MPASNet" / "seed0"
    run.mkdir(parents=True)
    (run / "checkpoint_last.pt").write_bytes(b"never loaded: the check comes first")
    cfg = train_config([str(tmp_path / "labels" / "corridor")], run, s, "cpu")
    return s, run, dataclasses.asdict(cfg)


def test_a_finished_run_trained_with_other_settings_is_refused_not_reused(tables, tmp_path):
    import json

    s, run, cfg = _finished_run(tmp_path, "all")
    old = cfg | {"amp": False, "device": "cpu"}
    del old["bg_label"]  # written by pympas before bg_label: the floor was ignored
    (run / "config.json").write_text(json.dumps(old))
    asks = r"seed0: .* bg_label='ignore', the benchmark asks 'background'"
    with pytest.raises(SystemExit, match=asks):
        tables._train(tmp_path, "all", "MPASNet", ["corridor"], s, "cpu")
    (run / "config.json").write_text("{")
    with pytest.raises(SystemExit, match=r"config\.json: cannot read"):
        tables._train(tmp_path, "all", "MPASNet", ["corridor"], s, "cpu")


def test_a_finished_run_trained_on_other_label_sets_is_refused_not_reused(tables, tmp_path):
    import json

    s, run, cfg = _finished_run(tmp_path, "cross")
    (run / "config.json").write_text(json.dumps(cfg))
    asks = r"trained on the label sets \['corridor'\], the benchmark asks \['corridor', 'extra00"
    with pytest.raises(SystemExit, match=asks):
        tables._train(tmp_path, "cross", "MPASNet", ["corridor", "extra00-corridor"], s, "cpu")


def test_cross_extra_scenes_are_training_scenarios_with_other_seeds_and_camera_heights(
    tables, tmp_path
):
    import json

    from pympas.labelset import LabelSet
    from pympas.synth import get_scenario

    args = SimpleNamespace(seed=7, frames=10, size=(96, 72), stride=5)
    names = tables._extra_labels(tmp_path, ["corridor", "split"], 3, args)
    assert names == ["extra00-corridor", "extra01-split", "extra02-corridor"]
    scenarios = ["corridor", "split", "corridor"]
    for j, (name, scenario) in enumerate(zip(names, scenarios, strict=True)):
        meta = json.loads((tmp_path / "extra" / name / "scene.json").read_text())
        assert meta["scenario"] == scenario and meta["seed"] == 7 + tables.EXTRA_SEED + j
        zoom = get_scenario(scenario).zoom / tables.EXTRA_DISTANCE[j]
        assert meta["scenario_params"]["zoom"] == pytest.approx(zoom)
        labels = LabelSet.load(tmp_path / "labels" / name)
        assert labels.frame_indices.tolist() == [0, 5]  # every labelled frame trains
    made = (tmp_path / "labels" / names[0] / "labels.json").stat().st_mtime_ns
    assert tables._extra_labels(tmp_path, ["corridor", "split"], 3, args) == names
    assert (tmp_path / "labels" / names[0] / "labels.json").stat().st_mtime_ns == made
    other = SimpleNamespace(seed=8, frames=10, size=(96, 72), stride=5)
    with pytest.raises(SystemExit, match=r"extra00-corridor was rendered with .*\(1007, 10"):
        tables._extra_labels(tmp_path, ["corridor", "split"], 1, other)


def test_a_negative_count_of_extra_scenes_stops_the_tables_before_any_work(tables, tmp_path):
    with pytest.raises(SystemExit, match="--cross-extra-scenes must be 0 or more, got -1"):
        tables.main(["-o", str(tmp_path / "t"), "--cross-extra-scenes", "-1", "--device", "cpu"])
    assert not (tmp_path / "t").exists()


def test_an_extra_label_set_made_with_another_stride_is_refused_not_reused(tables, tmp_path):
    args = SimpleNamespace(seed=7, frames=10, size=(96, 72), stride=5)
    tables._extra_labels(tmp_path, ["corridor"], 1, args)
    with pytest.raises(SystemExit, match=r"extra00-corridor was labelled with stride=5, this run"):
        tables._extra_labels(
            tmp_path, ["corridor"], 1, SimpleNamespace(**{**vars(args), "stride": 4})
        )


def test_suite_label_sets_from_another_video_or_radius_are_refused_not_reused(
    tables, tmp_path, monkeypatch
):
    import shutil

    from pympas.synth import render_scene

    monkeypatch.setattr(tables, "SCENES", ["corridor"])
    for name, seed in (("a", 1), ("b", 2)):
        render_scene("corridor", tmp_path / name / "corridor", seed=seed, frames=10, size=(96, 72))
    out = tmp_path / "out"

    def held_out(suite: str, size: tuple[int, int] = (96, 72)) -> list[int]:
        return tables._labels(tmp_path / suite, out, 5, size)["corridor"].frame_indices.tolist()

    assert held_out("a") == [5]  # labelled frames 0 and 5: 5 is held out
    made = (out / "labels" / "corridor" / "labels.json").stat().st_mtime_ns
    assert held_out("a") == [5]
    assert (out / "labels" / "corridor" / "labels.json").stat().st_mtime_ns == made  # reused
    with pytest.raises(SystemExit, match=r"corridor was labelled from .*a/corridor/video.*b/corr"):
        held_out("b")
    shutil.copytree(tmp_path / "a", tmp_path / "copy")  # the same video elsewhere passes
    assert held_out("copy") == [5]
    with pytest.raises(SystemExit, match=r"labelled with radius=3\.0, this run asks 4\.0"):
        held_out("a", (128, 72))


def test_a_suite_rendered_otherwise_than_asked_is_refused_not_reused(tables, tmp_path):
    import json

    suite = tmp_path / "suite"
    for scene in tables.SCENES:
        (suite / scene / "gt").mkdir(parents=True)
    made = {"seed": 0, "frames": 10, "width": 96, "height": 72}
    (suite / "suite.json").write_text(json.dumps(made))
    asks = SimpleNamespace(suite=None, seed=0, frames=10, size=(96, 72))
    assert tables._suite(asks, tmp_path) == suite
    seed_1 = r"\(seed, frames, width, height\) \(0, 10, 96, 72\), this run asks \(1, 10, 96, 72\)"
    with pytest.raises(SystemExit, match=r"suite was rendered with " + seed_1 + "; use another -o"):
        tables._suite(SimpleNamespace(**{**vars(asks), "seed": 1}), tmp_path)
    # a given suite may have any seed, but frames and size are the run's
    given = SimpleNamespace(suite=str(suite), seed=5, frames=10, size=(96, 72))
    assert tables._suite(given, tmp_path / "elsewhere") == suite
    frames_300 = r"\(frames, width, height\) \(10, 96, 72\), this run asks \(300, 96, 72\)"
    with pytest.raises(SystemExit, match=frames_300 + "; pass --frames/--size"):
        tables._suite(SimpleNamespace(**{**vars(given), "frames": 300}), tmp_path / "elsewhere")
    (suite / "suite.json").write_text("[")
    with pytest.raises(SystemExit, match=r"suite\.json: cannot read the rendered settings"):
        tables._suite(given, tmp_path / "elsewhere")
