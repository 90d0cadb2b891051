"""pympas.report: inline PNG images, SVG charts and tables of the offline HTML reports."""

from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET

import cv2
import numpy as np

from pympas.report import html_page, html_table, image_strip, line_chart_svg, png_data_uri


def test_png_data_uri_round_trips_rgb_and_masks():
    rgb = np.zeros((5, 7, 3), np.uint8)
    rgb[1, 2] = (255, 10, 20)
    uri = png_data_uri(rgb)
    assert uri.startswith("data:image/png;base64,")
    raw = base64.b64decode(uri.split(",", 1)[1])
    back = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)
    np.testing.assert_array_equal(back[:, :, ::-1], rgb)  # decoded BGR -> the RGB we gave
    mask = np.eye(4, dtype=bool)
    raw = base64.b64decode(png_data_uri(mask).split(",", 1)[1])
    np.testing.assert_array_equal(
        cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_UNCHANGED), mask * 255
    )


def test_line_chart_is_valid_svg_with_one_polyline_per_series_through_all_points():
    svg = line_chart_svg([1, 2, 3, 4], {"loss": [1.0, 0.5, 0.25, 0.2], "air": [0.1, 0.1, 0.1, 0.1]})
    root = ET.fromstring(svg)
    lines = root.findall("{http://www.w3.org/2000/svg}polyline")
    assert len(lines) == 2
    pts = [tuple(map(float, p.split(","))) for p in lines[0].get("points").split()]
    assert len(pts) == 4
    xs, ys = zip(*pts, strict=True)
    assert list(xs) == sorted(xs) and xs[0] < xs[-1]
    assert ys[0] < ys[1] < ys[2] < ys[3]  # a falling loss is drawn going down (SVG y grows down)
    assert "loss" in svg and "air" in svg


def test_line_chart_skips_nan_and_handles_no_data():
    svg = line_chart_svg([0, 1, 2], {"l": [1.0, float("nan"), 3.0]})
    points = re.search(r'points="([^"]*)"', svg).group(1).split()
    assert len(points) == 2
    assert "no data" in line_chart_svg([], {"l": []})


def test_table_and_page_escape_text_and_format_numbers():
    t = html_table(["method", "IoU"], [["<b>x</b>", 0.123456], ["y", float("nan")]])
    assert "&lt;b&gt;x&lt;/b&gt;" in t and "0.1235" in t and "n/a" in t
    page = html_page("a & b", t + image_strip([("frame", np.zeros((2, 2, 3), np.uint8))]))
    assert page.startswith("<!DOCTYPE html>") and "<title>a &amp; b</title>" in page
    assert "http" not in page.replace("http://www.w3.org/2000/svg", "")  # no external assets
