"""pympas.synth.annotation: annotator-like crowd regions from person silhouettes."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("cv2")
from scipy import ndimage

from pympas.synth.annotation import region_mask


def _disc(owner: np.ndarray, cy: int, cx: int, radius: float, who: int) -> None:
    yy, xx = np.ogrid[: owner.shape[0], : owner.shape[1]]
    owner[(yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2] = who


def _blank(h: int = 80, w: int = 160) -> np.ndarray:
    return np.full((h, w), -1, np.int32)


def _n_regions(mask: np.ndarray) -> int:
    return ndimage.label(mask, structure=np.ones((3, 3)))[1]


def test_two_nearby_people_merge_into_one_region():
    owner = _blank()
    _disc(owner, 40, 60, 8, 0)
    _disc(owner, 40, 86, 8, 1)  # a gap of 9 px between the discs
    reg = region_mask(owner, np.array([30.0, 30.0]))  # r = 9: closes gaps up to 2 r
    assert reg[owner >= 0].all()
    assert _n_regions(reg) == 1
    assert reg[40, 73]  # the middle of the gap
    # the same discs drawn as smaller (farther) people, r = 6, stay apart
    assert _n_regions(region_mask(owner, np.array([20.0, 20.0]))) == 2


def test_far_apart_people_stay_separate_regions():
    owner = _blank()
    _disc(owner, 40, 30, 8, 0)
    _disc(owner, 40, 120, 8, 1)  # a gap of 73 px
    reg = region_mask(owner, np.array([30.0, 30.0]))
    assert _n_regions(reg) == 2
    assert reg[owner >= 0].all()
    assert (reg & (owner < 0)).sum() <= 0.05 * (owner >= 0).sum()  # a disc closes to itself


def test_a_ring_gets_its_hole_filled():
    owner = _blank()
    yy, xx = np.ogrid[:80, :160]
    d2 = (yy - 40) ** 2 + (xx - 80) ** 2
    owner[(d2 > 12**2) & (d2 <= 20**2)] = 0
    reg = region_mask(owner, np.array([3.0]))  # r = 1: the closing alone cannot fill the hole
    assert reg[d2 <= 20**2].all()
    assert not reg[d2 > 21**2].any()


def test_a_lone_person_is_its_silhouette_closed():
    owner = _blank(120, 80)
    owner[10:22, 34:46] = 0  # head
    owner[22:60, 30:50] = 0  # torso
    owner[60:100, 30:37] = 0  # legs with a 6 px gap between them
    owner[60:100, 43:50] = 0
    reg = region_mask(owner, np.array([90.0]))  # r = 27
    assert reg[owner >= 0].all()
    assert reg[62:98, 37:43].all()  # the gap between the legs is closed
    # pixels are added only in the concave parts: between the legs and beside the head
    allowed = owner >= 0
    allowed[60:100, 37:43] = True
    allowed[10:22, 30:50] = True
    assert not (reg & ~allowed).any()
    assert _n_regions(reg) == 1


def test_closing_is_restricted_to_each_persons_own_radius():
    owner = _blank(80, 200)
    _disc(owner, 40, 130, 20, 0)  # a big person, r = 18
    _disc(owner, 30, 85, 5, 1)  # two small people 9 px apart, r = 3, 19 px from the big one
    _disc(owner, 50, 85, 5, 2)
    reg = region_mask(owner, np.array([60.0, 10.0, 10.0]))
    # a closing with r = 18 would bridge all three; it only counts within 18 px of the big
    # person, and r = 3 bridges neither gap
    assert _n_regions(reg) == 3
    assert not reg[40, 85] and not reg[30, 91]


def test_the_plane_outside_the_image_counts_as_empty():
    owner = _blank()
    _disc(owner, 40, 10, 5, 0)  # 5 px from the left border
    reg = region_mask(owner, np.array([40.0]))  # r = 12 > the gap to the border
    assert not reg[:, 0].any()
    # a person cut off by the border keeps what is drawn
    owner = _blank()
    _disc(owner, 40, 0, 8, 0)
    reg = region_mask(owner, np.array([40.0]))
    assert reg[owner >= 0].all() and reg[40, 0]


def test_edge_cases():
    assert not region_mask(_blank(), np.zeros(0)).any()
    owner = _blank()
    _disc(owner, 40, 40, 8, 3)  # people without pixels (0, 1, 2) are ignored
    np.testing.assert_array_equal(region_mask(owner, np.full(4, np.nan)), owner >= 0)
    with pytest.raises(ValueError, match="heights"):
        region_mask(owner, np.ones(3))
    with pytest.raises(ValueError, match="index image"):
        region_mask(owner[0], np.ones(4))
