"""labelme parity: pympas fills labelme shapes pixel for pixel as labelme's own conversion
(``labelme.utils.shapes_to_label``) does, on every shape kind and on images of odd sizes."""

from __future__ import annotations

import base64
import io
import json
import math

import numpy as np
import pytest

labelme_utils = pytest.importorskip("labelme.utils")

from pympas.evaluation.labelme import labelme_mask  # noqa: E402

LABELS = {"_background_": 0, "crowd": 1, "background": 2, "car": 3}
SIZES = [(1, 1), (3, 5), (37, 53), (101, 77)]  # (height, width)


def both(tmp_path, h, w, shapes):
    """(pympas' crowd mask, labelme's crowd mask) of one annotation."""
    path = tmp_path / "a.json"
    path.write_text(json.dumps({"shapes": shapes, "imageHeight": h, "imageWidth": w}))
    ours = labelme_mask(path, "crowd")
    loaded = [{**s, "mask": _decoded(s["mask"])} if "mask" in s else s for s in shapes]
    cls, _ = labelme_utils.shapes_to_label((h, w), loaded, LABELS)
    return ours, cls == LABELS["crowd"]


def _decoded(b64: str) -> np.ndarray:
    return labelme_utils.img_b64_to_arr(b64).astype(bool)  # as labelme's LabelFile loads it


def shape(kind, points, label="crowd"):
    return {"label": label, "points": np.asarray(points, float).tolist(), "shape_type": kind}


POINTS = {"polygon": None, "oriented_rectangle": 4, "rectangle": 2, "circle": 2, "line": 2,
          "linestrip": None, "point": 1}  # fmt: skip


@pytest.mark.parametrize("kind", sorted(POINTS))
def test_random_shapes_on_odd_sizes_fill_exactly_as_labelme(tmp_path, kind):
    rng = np.random.default_rng(sorted(POINTS).index(kind))
    for trial in range(48):
        h, w = SIZES[trial % len(SIZES)]
        shapes = []
        for j in range(1 + trial % 3):  # later shapes of other labels cut holes
            n = POINTS[kind] or int(rng.integers(3, 9))
            pts = rng.uniform(-0.3, 1.3, (n, 2)) * [w, h]  # some vertices outside the image
            if trial % 3 == 0:
                pts = np.round(pts)  # on pixel centres
            elif trial % 3 == 1:
                pts = np.round(pts * 2) / 2  # on pixel edges
            shapes.append(shape(kind, pts, "crowd" if j % 2 == 0 else "background"))
        ours, theirs = both(tmp_path, h, w, shapes)
        np.testing.assert_array_equal(ours, theirs, err_msg=f"{kind} {h}x{w}: {shapes}")


def star(cx, cy, r, points=5, step=2):
    """A self-intersecting star polygon ({points/step})."""
    return [
        (
            cx + r * math.sin(2 * math.pi * k * step / points),
            cy - r * math.cos(2 * math.pi * k * step / points),
        )
        for k in range(points)
    ]


@pytest.mark.parametrize(("h", "w"), SIZES)
def test_concave_self_intersecting_and_holed_shapes_fill_exactly_as_labelme(tmp_path, h, w):
    def at(*points):  # a drawing of 40 x 30 scaled to the image
        return [(x * w / 40, y * h / 30) for x, y in points]

    shapes = [
        # concave: an arrow
        shape("polygon", at((2, 2), (20, 2), (11, 8), (20.5, 14.3), (2.2, 14))),
        # self-intersecting: a pentagram (its centre is outside by the even-odd rule) and a bow tie
        shape("polygon", star(30 * w / 40, 10 * h / 30, 8.7 * min(w / 40, h / 30))),
        shape("polygon", at((22, 18), (38, 28), (38, 18), (22, 28))),
        # a hole through several shapes: crowd, a background square in it, crowd again inside
        shape("rectangle", at((3, 16), (18.4, 29.6))),
        shape("polygon", at((6, 19), (15, 19), (15, 27), (6, 27)), "background"),
        shape("circle", at((10.5, 23), (12, 24.1))),
        shape("rectangle", at((19, 29), (17.2, 15.5)), "car"),  # corners reversed
        shape("line", [(0, 0), (w - 1, h - 1)], "car"),
        shape("point", [(w / 2, h / 2)]),
        shape("linestrip", [(1, h - 1), (w / 3, 0.5), (w - 0.5, h / 2)]),
    ]
    ours, theirs = both(tmp_path, h, w, shapes)
    np.testing.assert_array_equal(ours, theirs)


def test_mask_shapes_are_placed_as_labelme_places_them(tmp_path):
    import PIL.Image

    sub = np.zeros((5, 7), np.uint8)
    sub[1:4, 2:6] = 1
    sub[2, 0] = 1
    buf = io.BytesIO()
    PIL.Image.fromarray(sub * 255).save(buf, format="PNG")
    b64 = base64.b64encode(buf.getvalue()).decode()
    shapes = [
        shape("rectangle", [(0, 0), (12, 9)]),
        {**shape("mask", [(3, 2), (9, 6)], "background"), "mask": b64},
        {**shape("mask", [(10.7, 11.2), (16.9, 15.6)]), "mask": b64},
    ]
    ours, theirs = both(tmp_path, 19, 21, shapes)
    np.testing.assert_array_equal(ours, theirs)
    assert ours[11 + 2, 10 + 0] and not ours[2 + 1, 3 + 2]  # painted; cut out of the rectangle
    bad = tmp_path / "bad.json"
    shapes[2]["points"] = [[15, 11], [21, 15]]  # runs past the 21-pixel-wide image
    bad.write_text(json.dumps({"shapes": shapes, "imageHeight": 19, "imageWidth": 21}))
    with pytest.raises(ValueError, match=r"bad\.json: shape 2: mask of 7x5 pixels does not fit"):
        labelme_mask(bad)
