"""pympas.evaluate: per-scene IoU (summed over frames), mIoU, labelme ground truth, bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

import pympas
from pympas.cli import main
from pympas.evaluation import labelme_mask, scene_iou


def _write(folder: Path, masks: dict[int, np.ndarray]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, m in masks.items():
        cv2.imwrite(str(folder / f"{i:06d}.png"), np.where(m, 255, 0).astype(np.uint8))
    return folder


def _box(h, w, y0, y1, x0, x1):
    m = np.zeros((h, w), bool)
    m[y0:y1, x0:x1] = True
    return m


def test_scene_iou_sums_intersection_and_union_over_frames_not_per_frame_mean():
    # frame 0: pred 4 px inside gt 8 px -> I=4, U=8 ; frame 1: pred 2 px, gt 2 px, disjoint
    p0, g0 = _box(4, 4, 0, 1, 0, 4), _box(4, 4, 0, 2, 0, 4)
    p1, g1 = _box(4, 4, 3, 4, 0, 2), _box(4, 4, 3, 4, 2, 4)
    iou, inter, union = scene_iou([p0, p1], [g0, g1])
    assert (inter, union) == (4, 12)
    assert iou == pytest.approx(4 / 12)  # the per-frame mean would be (0.5 + 0) / 2


def test_miou_is_the_mean_of_scene_ious_from_folders(tmp_path):
    h, w = 6, 5
    gt = {
        "a": {0: _box(h, w, 0, 2, 0, 5), 20: _box(h, w, 0, 6, 0, 1)},  # 10 + 6 px
        "b": {0: _box(h, w, 0, 3, 0, 2)},  # 6 px
    }
    pred = {
        "a": {0: _box(h, w, 0, 1, 0, 5), 20: _box(h, w, 0, 6, 0, 1), 40: _box(h, w, 0, 6, 0, 5)},
        "b": {0: _box(h, w, 0, 3, 0, 4)},  # 12 px, covering gt
    }
    for s in gt:
        _write(tmp_path / "gt" / s, gt[s])
        _write(tmp_path / "pred" / s, pred[s])
    ev = pympas.evaluate(tmp_path / "pred", tmp_path / "gt")
    # a: frame 40 has no gt and is skipped; I = 5 + 6, U = 10 + 6
    assert ev["a"].intersection == 11 and ev["a"].union == 16 and ev["a"].frames == 2
    assert ev["a"].iou == pytest.approx(11 / 16)
    assert ev["b"].iou == pytest.approx(6 / 12)
    assert ev.miou == pytest.approx((11 / 16 + 0.5) / 2)
    assert [s.scene for s in ev.scenes] == ["a", "b"]


def test_empty_prediction_scores_zero_and_empty_gt_with_prediction_scores_zero():
    h, w = 4, 4
    gt = {"crowded": {0: _box(h, w, 0, 2, 0, 2)}, "empty": {0: np.zeros((h, w), bool)}}
    pred = {"crowded": {0: np.zeros((h, w), bool)}, "empty": {0: _box(h, w, 0, 1, 0, 1)}}
    ev = pympas.evaluate(pred, gt)
    assert ev["crowded"].iou == 0.0 and ev["crowded"].union == 4
    assert ev["empty"].iou == 0.0 and ev["empty"].union == 1
    assert ev.miou == 0.0


def test_both_empty_scene_counts_as_one_by_default_and_can_be_excluded():
    h, w = 4, 4
    gt = {"full": {0: _box(h, w, 0, 2, 0, 2)}, "void": {0: np.zeros((h, w), bool)}}
    pred = {"full": {0: _box(h, w, 0, 1, 0, 2)}, "void": {0: np.zeros((h, w), bool)}}
    ev = pympas.evaluate(pred, gt)
    assert ev["void"].iou == 1.0 and ev["void"].union == 0
    assert ev.miou == pytest.approx((0.5 + 1.0) / 2)
    ex = pympas.evaluate(pred, gt, empty="exclude")
    assert math.isnan(ex["void"].iou)
    assert ex.miou == pytest.approx(0.5)
    assert ex.to_dict()["scenes"][1]["iou"] is None
    with pytest.raises(ValueError, match="empty"):
        pympas.evaluate(pred, gt, empty="zero")


def _labelme(path: Path, shapes, h=20, w=30, sizes=True):
    doc = {"version": "5.2.1", "shapes": shapes, "imagePath": path.stem + ".jpg"}
    if sizes:
        doc.update(imageHeight=h, imageWidth=w)
    path.write_text(json.dumps(doc))
    return path


def test_labelme_polygon_and_rectangle_fill_the_known_pixels(tmp_path):
    shapes = [
        # axis-aligned square with vertices on pixel centres: rows 2..6, cols 3..9 inclusive
        {"label": "crowd", "shape_type": "polygon", "points": [[3, 2], [9, 2], [9, 6], [3, 6]]},
        {"label": "crowd", "shape_type": "rectangle", "points": [[20, 10], [24, 15]]},
        {"label": "car", "shape_type": "polygon", "points": [[0, 15], [5, 15], [5, 19]]},
        # triangle: right angle at (12,2), legs of 4 px
        {"label": "crowd", "shape_type": "polygon", "points": [[12, 2], [16, 2], [12, 6]]},
    ]
    mask = labelme_mask(_labelme(tmp_path / "000003.json", shapes), "crowd")
    expected = np.zeros((20, 30), bool)
    expected[2:7, 3:10] = True
    expected[10:16, 20:25] = True
    for dy in range(5):
        expected[2 + dy, 12 : 12 + 5 - dy] = True
    assert mask.shape == (20, 30)
    np.testing.assert_array_equal(mask, expected)
    # another label name selects the car instead
    car = labelme_mask(tmp_path / "000003.json", "car")
    assert car[17, 4] and not car[17, 1] and not car[2:7, 3:10].any()


def test_labelme_circle_fills_the_disc_and_bad_shapes_are_named(tmp_path):
    shapes = [{"label": "crowd", "shape_type": "circle", "points": [[10, 8], [13, 8]]}]
    mask = labelme_mask(_labelme(tmp_path / "c.json", shapes), "crowd")
    yy, xx = np.mgrid[:20, :30]
    d2 = (xx - 10) ** 2 + (yy - 8) ** 2
    assert mask[d2 <= 4].all() and not mask[d2 >= 16].any()
    bad = [{"label": "crowd", "shape_type": "polygon", "points": [[1, 1], [2, 2]]}]
    with pytest.raises(ValueError, match=r"b\.json: polygon 0 has fewer than 3 points"):
        labelme_mask(_labelme(tmp_path / "b.json", bad), "crowd")
    curve = [{"label": "crowd", "shape_type": "spline", "points": [[1, 1], [2, 2], [3, 1]]}]
    with pytest.raises(ValueError, match=r"l\.json: shape 0 has unsupported shape_type 'spline'"):
        labelme_mask(_labelme(tmp_path / "l.json", curve), "crowd")
    few = [{"label": "car", "shape_type": "circle", "points": [[1, 1]]}]  # other labels paint too
    with pytest.raises(ValueError, match=r"f\.json: circle 0 needs 2 points, has 1"):
        labelme_mask(_labelme(tmp_path / "f.json", few), "crowd")


def test_labelme_lines_and_points_are_filled_as_labelme_fills_them(tmp_path):
    shapes = [
        {"label": "crowd", "shape_type": "linestrip", "points": [[2, 10], [27, 10]]},
        {"label": "crowd", "shape_type": "point", "points": [[15, 3]]},
    ]
    mask = labelme_mask(_labelme(tmp_path / "l.json", shapes), "crowd")
    assert mask[6:15, 2:28].all() and not mask[16:].any()  # 10 pixels wide
    assert mask[3, 10:21].all() and not mask[3, 21:].any()  # a disc of radius 5


def test_labelme_later_shapes_of_other_labels_cut_holes(tmp_path):
    shapes = [
        {"label": "crowd", "shape_type": "rectangle", "points": [[2, 2], [20, 15]]},
        {"label": "background", "shape_type": "rectangle", "points": [[6, 5], [12, 10]]},
    ]
    mask = labelme_mask(_labelme(tmp_path / "h.json", shapes), "crowd")
    assert mask[2:16, 2:21].sum() == 14 * 19 - 6 * 7 and not mask[5:11, 6:13].any()


def test_labelme_ground_truth_folder_is_evaluated_against_png_predictions(tmp_path):
    gt = tmp_path / "gt"
    gt.mkdir()
    shapes = [
        {"label": "person", "shape_type": "polygon", "points": [[0, 0], [9, 0], [9, 9], [0, 9]]}
    ]
    _labelme(gt / "000020.json", shapes, h=20, w=20)
    _labelme(gt / "000040.json", [], sizes=False)  # no size: taken from the prediction
    pred = _write(tmp_path / "pred", {20: _box(20, 20, 0, 10, 0, 5), 40: np.zeros((20, 20), bool)})
    ev = pympas.evaluate(pred, gt, label="person")
    assert ev.scenes[0].intersection == 50 and ev.scenes[0].union == 100
    assert ev.miou == pytest.approx(0.5)


def test_frames_are_matched_by_frame_index_across_zero_padding(tmp_path):
    m = _box(5, 5, 0, 2, 0, 2)
    gt = tmp_path / "gt"
    gt.mkdir()
    cv2.imwrite(str(gt / "20.png"), m.astype(np.uint8) * 255)
    pred = _write(tmp_path / "pred", {20: m})
    assert pympas.evaluate(pred, gt).miou == 1.0


def test_synthetic_scene_and_label_set_layouts_are_found(tmp_path):
    m = _box(5, 5, 0, 2, 0, 2)
    for scene in ("corridor", "plaza"):
        _write(tmp_path / "suite" / scene / "gt", {0: m, 1: m})
        (tmp_path / "suite" / scene / "scene.json").write_text("{}")
        _write(tmp_path / "labels" / scene / "masks", {0: m, 1: np.zeros((5, 5), bool)})
        _write(tmp_path / "labels" / scene / "frames", {0: ~m, 1: ~m})
        (tmp_path / "labels" / scene / "labels.json").write_text("{}")
    ev = pympas.evaluate(tmp_path / "labels", tmp_path / "suite")
    assert [s.scene for s in ev.scenes] == ["corridor", "plaza"]
    assert ev.miou == pytest.approx(0.5)


def test_missing_prediction_frame_is_an_error_naming_the_gt_file(tmp_path):
    m = _box(5, 5, 0, 2, 0, 2)
    gt = _write(tmp_path / "gt", {0: m, 7: m})
    pred = _write(tmp_path / "pred", {0: m})
    with pytest.raises(ValueError, match=r"no prediction for ground-truth frame .*000007\.png"):
        pympas.evaluate(pred, gt)


def test_extra_prediction_frame_is_an_error_only_when_strict(tmp_path):
    m = _box(5, 5, 0, 2, 0, 2)
    gt = _write(tmp_path / "gt", {0: m})
    pred = _write(tmp_path / "pred", {0: m, 3: m})
    assert pympas.evaluate(pred, gt).miou == 1.0
    with pytest.raises(ValueError, match=r"000003\.png.*has no ground truth"):
        pympas.evaluate(pred, gt, strict=True)


def test_missing_and_extra_scenes_are_errors_naming_them(tmp_path):
    m = _box(5, 5, 0, 2, 0, 2)
    for s in ("a", "b"):
        _write(tmp_path / "gt" / s, {0: m})
    _write(tmp_path / "pred" / "a", {0: m})
    _write(tmp_path / "pred" / "c", {0: m})
    with pytest.raises(ValueError, match=r"no prediction for scene\(s\) \['b'\]"):
        pympas.evaluate(tmp_path / "pred", tmp_path / "gt")
    _write(tmp_path / "pred" / "b", {0: m})
    with pytest.raises(ValueError, match=r"scene\(s\) \['c'\] without ground truth"):
        pympas.evaluate(tmp_path / "pred", tmp_path / "gt")


def test_size_mismatch_is_an_error_naming_the_file(tmp_path):
    gt = _write(tmp_path / "gt", {0: _box(5, 5, 0, 2, 0, 2)})
    pred = _write(tmp_path / "pred", {0: _box(6, 5, 0, 2, 0, 2)})
    with pytest.raises(ValueError, match=r"size mismatch: .*gt.000000\.png is 5x5"):
        pympas.evaluate(pred, gt)
    lm = tmp_path / "lm"
    lm.mkdir()
    _labelme(lm / "000000.json", [], h=5, w=5)
    with pytest.raises(ValueError, match=r"size mismatch: .*000000\.json is 5x5"):
        pympas.evaluate(pred, lm)


def test_unreadable_files_are_errors_naming_them(tmp_path):
    gt = _write(tmp_path / "gt", {0: _box(5, 5, 0, 2, 0, 2)})
    pred = tmp_path / "pred"
    pred.mkdir()
    (pred / "000000.png").write_bytes(b"not a png at all")
    with pytest.raises(ValueError, match=r"cannot read mask image .*pred.000000\.png"):
        pympas.evaluate(pred, gt)
    lm = tmp_path / "lm"
    lm.mkdir()
    (lm / "000000.json").write_text("{broken")
    with pytest.raises(ValueError, match=r"cannot read labelme JSON .*000000\.json"):
        pympas.evaluate(_write(tmp_path / "p2", {0: _box(5, 5, 0, 2, 0, 2)}), lm)
    (lm / "000000.json").write_text('{"flags": {}}')
    with pytest.raises(ValueError, match=r"000000\.json is not a labelme annotation"):
        pympas.evaluate(tmp_path / "p2", lm)


def test_nonexistent_or_empty_folders_are_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"gt folder .*nope does not exist"):
        pympas.evaluate(tmp_path, tmp_path / "nope")
    with pytest.raises(ValueError, match=r"gt folder .*empty holds no PNG masks or labelme"):
        pympas.evaluate(tmp_path, tmp_path / "empty")
    with pytest.raises(TypeError, match="pred must be a folder"):
        pympas.evaluate(42, {"a": {0: np.zeros((2, 2))}})


def test_cli_prints_table_and_writes_json_and_csv(tmp_path, capsys):
    gt = _write(tmp_path / "gt" / "s1", {0: _box(4, 4, 0, 2, 0, 4)})
    _write(tmp_path / "pred" / "s1", {0: _box(4, 4, 0, 1, 0, 4)})
    assert gt.is_dir()
    out_json, out_csv = tmp_path / "r" / "scores.json", tmp_path / "r" / "scores.csv"
    rc = main(
        [
            "evaluate",
            str(tmp_path / "pred"),
            str(tmp_path / "gt"),
            "--json",
            str(out_json),
            "--csv",
            str(out_csv),
        ]
    )
    assert rc == 0
    text = capsys.readouterr().out
    assert "| s1 | 1 | 0.5000 | 4 | 8 |" in text and "mIoU" in text
    doc = json.loads(out_json.read_text())
    assert doc["miou"] == 0.5 and doc["scenes"][0]["scene"] == "s1"
    rows = out_csv.read_text().splitlines()
    assert rows[0].startswith("scene,iou,intersection,union") and rows[1].startswith("s1,0.5,4,8")
    assert not list((tmp_path / "r").glob(".*"))  # no temporary files left behind


def test_cli_reports_bad_input_with_exit_code_1(tmp_path, capsys):
    _write(tmp_path / "gt", {0: _box(4, 4, 0, 2, 0, 4)})
    (tmp_path / "pred").mkdir()
    rc = main(["evaluate", str(tmp_path / "pred"), str(tmp_path / "gt")])
    assert rc == 1
    assert "pred folder" in capsys.readouterr().err


def test_import_pympas_does_not_import_torch_and_evaluate_stays_a_function():
    import subprocess
    import sys

    code = (
        "import sys, pympas, pympas.cli; pympas.cli.build_parser();"
        "assert 'torch' not in sys.modules, 'torch imported';"
        "assert callable(pympas.evaluate) and callable(pympas.segment)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_scene_given_by_its_mask_folder_is_named_after_the_scene(tmp_path):
    mask = _box(8, 8, 2, 6, 2, 6)
    for kind in ("gt", "gt_regions"):
        _write(tmp_path / "corridor" / kind, {0: mask})
    pred = _write(tmp_path / "pred", {0: mask})
    for kind in ("gt", "gt_regions"):
        ev = pympas.evaluate(pred, tmp_path / "corridor" / kind)
        assert [s.scene for s in ev.scenes] == ["corridor"] and ev.miou == 1.0


def test_a_labelme_label_matching_no_shape_is_an_error_listing_the_labels_found(tmp_path, capsys):
    gt = tmp_path / "gt"
    gt.mkdir()
    square = {"shape_type": "polygon", "points": [[0, 0], [9, 0], [9, 9], [0, 9]]}
    _labelme(gt / "000000.json", [{**square, "label": "Crowd"}], h=20, w=20)
    _labelme(gt / "000001.json", [{**square, "label": "car"}, {**square, "label": "Crowd"}],
             h=20, w=20)  # fmt: skip
    pred = _write(tmp_path / "pred", {0: np.zeros((20, 20), bool), 1: np.zeros((20, 20), bool)})
    found = r"labels found: 'Crowd' \(2 shapes\), 'car' \(1 shapes\)"
    with pytest.raises(ValueError, match=rf"label 'crowd' matches no shape in its 2 .*{found}"):
        pympas.evaluate(pred, gt)  # not an IoU of 1.0 for an "empty" ground truth
    assert main(["evaluate", str(pred), str(gt)]) == 1
    assert "'Crowd' (2 shapes)" in capsys.readouterr().err
    assert pympas.evaluate(pred, gt, label="Crowd").scenes[0].gt_pixels == 200
    # files without any shape are an empty ground truth, not a typo
    for f in gt.iterdir():
        _labelme(f, [], h=20, w=20)
    assert pympas.evaluate(pred, gt).miou == 1.0


def test_rgba_16_bit_and_colour_masks_are_read_by_the_documented_rule(tmp_path):
    truth = _box(6, 8, 1, 4, 2, 6)
    gt = _write(tmp_path / "gt", {0: truth, 1: truth, 2: truth, 3: truth})
    pred = tmp_path / "pred"
    pred.mkdir()
    opaque = np.zeros((6, 8, 4), np.uint8)
    opaque[..., 3] = 255  # an opaque black background: not crowd
    opaque[truth, :3] = 255
    cv2.imwrite(str(pred / "000000.png"), opaque)
    clear = np.zeros((6, 8, 4), np.uint8)
    clear[..., :3] = 255  # white everywhere, but transparent outside the crowd
    clear[truth, 3] = 255
    cv2.imwrite(str(pred / "000001.png"), clear)
    cv2.imwrite(str(pred / "000002.png"), np.where(truth, 65535, 0).astype(np.uint16))
    red = np.zeros((6, 8, 3), np.uint8)
    red[truth, 2] = 1  # a faint red mark on black is still crowd
    cv2.imwrite(str(pred / "000003.png"), red)
    ev = pympas.evaluate(pred, gt)
    assert (ev.scenes[0].intersection, ev.scenes[0].union) == (48, 48)


def test_labelme_vertices_far_outside_the_image_are_clipped_not_wrapped(tmp_path):
    far = 1e9  # * 16 (OpenCV's fixed point) overflowed int32 into an empty polygon
    shapes = [
        {"label": "crowd", "shape_type": "polygon",
         "points": [[-far, -far], [4.0, -far], [4.0, far], [-far, far]]},
        {"label": "crowd", "shape_type": "rectangle", "points": [[-far, 17.0], [far, far]]},
        {"label": "crowd", "shape_type": "circle", "points": [[far, 8.0], [20.0, 8.0]]},
    ]  # fmt: skip
    mask = labelme_mask(_labelme(tmp_path / "far.json", shapes, h=20, w=30), "crowd")
    expected = np.zeros((20, 30), bool)
    expected[:, :5] = True  # x <= 4
    expected[17:, :] = True  # y >= 17
    assert (mask == expected)[:, :18].all()
    assert mask[:, 21:].all() and not mask[:17, 5:19].any()  # the circle's edge is x = 20
    assert mask[8, 20]
