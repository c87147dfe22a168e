"""--report files read back: SVG parsed with ElementTree (bars against np.histogram), the HTML
page (self-contained, hostile names and keys escaped), the PNG decoded with Pillow."""

from __future__ import annotations

import math
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from losscli.report import image, panels
from losscli.report.sanitize import visible
from tests.conftest import invoke, write_table

NS = "{http://www.w3.org/2000/svg}"
HOSTILE = [
    "</text><script>alert(1)</script>",
    'q"\' onload="x',
    "a&amp;b <b>",
    "\x1b[31mred\x1b[0m\nnext",
    "\u202eevil",
]
PRED, TARGET, KEY = "p<b>", "t&x", 'k"<script>'
ALLOWED_TAGS = {
    "html", "head", "meta", "title", "style", "body", "h1", "p", "table", "thead", "tbody",
    "tr", "th", "td", "svg", "rect", "line", "polyline", "circle", "text",
}  # fmt: skip


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    rng = np.random.default_rng(7)
    n = 4000
    which = rng.integers(0, len(HOSTILE), n)
    target = np.round(rng.normal(50, 10, n), 2)
    pred = target + rng.normal(0, 1 + which)  # groups' mse ≈ 1, 4, 9, 16, 25
    pred[::4] = target[::4] + np.round(rng.normal(0, 3, n)[::4] * 4) / 4  # errors on edges
    pred[::9] = target[::9]  # the zero bin
    keys = np.array(HOSTILE)[which]
    cols = {PRED: pred, TARGET: target, KEY: keys}
    return write_table(tmp_path_factory.mktemp("report") / "d.parquet", cols), cols


def _report(data, tmp_path: Path, suffix: str) -> tuple[bytes, dict]:
    path, _ = data
    target = tmp_path / f"r{suffix}"
    args = ["mse", str(path), "-p", PRED, "-t", TARGET, "-g", KEY, "--max", "10"]
    out = invoke([*args, "--report", str(target), "-f", "json"])
    assert out.code == 1, out.err  # some groups break the gate
    return target.read_bytes(), out.json


def _check_drawing(root: ET.Element, ns: str, cols: dict[str, np.ndarray], result: dict) -> None:
    """The bars, group bars and density cells of an SVG drawing against NumPy."""
    e = cols[PRED] - cols[TARGET]
    rects = list(root.iter(f"{ns}rect"))
    bars = [r for r in rects if r.get("class") == "bar"]
    edges = np.array(
        [float(b.get("data-lo", "")) for b in bars] + [float(bars[-1].get("data-hi", ""))]
    )
    counts = np.array([int(b.get("data-count", "")) for b in bars])
    want, _ = np.histogram(e, bins=edges)
    np.testing.assert_array_equal(counts, want)
    assert counts.sum() == e.size  # display bins merge exactly and drop no value
    heights = np.array([float(b.get("height", "")) for b in bars])
    px_per_row = heights.max() / counts.max()
    assert np.abs(heights - counts * px_per_row).max() <= 0.011  # 2-decimal coordinates
    # the worst groups, widths proportional to the values (all positive: bars start at 0)
    groups = [r for r in rects if r.get("class") == "group-bar"]
    values = np.array([float(g.get("data-value", "")) for g in groups])
    by_key = {g["key"][KEY]: g["value"] for g in result["groups"]}
    assert sorted(values.tolist(), reverse=True) == values.tolist()
    assert sorted(values.tolist()) == sorted(by_key.values())
    widths = np.array([float(g.get("width", "")) for g in groups])
    assert np.abs(widths - values * widths.max() / values.max()).max() <= 0.011
    colours = [g.get("fill") for g in groups]
    assert colours == [panels.RED if v > 10 else panels.GREEN for v in values]
    # predicted-vs-target cells: the non-empty cells of np.histogram2d on the JSON's edges
    grid = np.array(result["histograms"]["pred_vs_target"]["edges"])
    want2d, _, _ = np.histogram2d(cols[TARGET], cols[PRED], bins=[grid, grid])
    cells = sorted(int(r.get("data-count", "")) for r in rects if r.get("class") == "cell")
    assert cells == sorted(want2d[want2d > 0].astype(int).tolist())
    # no element or attribute came from the data: only drawing elements, no event handler
    tags = {el.tag.removeprefix(ns) for el in root.iter()}
    assert tags <= {"svg", "title", "rect", "line", "polyline", "circle", "text"}
    assert not [a for el in root.iter() for a in el.attrib if a.lower().startswith("on")]
    text = [el.text or "" for el in root.iter(f"{ns}text")]
    for key in HOSTILE:  # shown, made visible (no control character), cut to 22 in the bars
        assert panels.short(key, 22) in text


def test_svg_report_parsed_back(data, tmp_path) -> None:
    raw, result = _report(data, tmp_path, ".svg")
    assert raw.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    assert b"<script" not in raw and b"\x1b" not in raw
    root = ET.fromstring(raw)
    assert root.tag == f"{NS}svg"
    _check_drawing(root, NS, data[1], result)
    table = [el.text for el in root.iter(f"{NS}text")]
    assert "FAIL max" in table and "4000" in table  # the result table is in the picture


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attrs: list[tuple[str, str | None]] = []
        self.cells: list[str] = []
        self._in_td = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attrs += attrs
        self._in_td = tag == "td"

    def handle_endtag(self, tag: str) -> None:
        self._in_td = False

    def handle_data(self, text: str) -> None:
        if self._in_td:
            self.cells.append(text)


def test_html_report_self_contained_and_escaped(data, tmp_path) -> None:
    raw, result = _report(data, tmp_path, ".html")
    page = raw.decode("utf-8")
    assert page.startswith("<!DOCTYPE html>")
    lowered = page.lower()
    for bad in ("http:", "https:", "//", "<script", "url(", "@import", "src=", "href="):
        assert bad not in lowered, bad
    parser = _Page()
    parser.feed(page)
    assert parser.tags <= ALLOWED_TAGS
    assert not [name for name, _ in parser.attrs if name.startswith("on")]
    for key in HOSTILE:  # every key in the table, exactly as made visible
        assert visible(key) in parser.cells
    assert "FAIL max" in parser.cells
    # the charts are inline SVG (well-formed XML on their own), no namespace URL
    (chart,) = re.findall(r"<svg .*?</svg>", page, flags=re.S)
    _check_drawing(ET.fromstring(chart), "", data[1], result)


def test_png_report_decoded(data, tmp_path) -> None:
    from PIL import Image

    from losscli.report import raster

    raw, _ = _report(data, tmp_path, ".png")
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    target = tmp_path / "r.png"
    with Image.open(target) as picture:
        picture.verify()
    with Image.open(target) as picture:
        assert picture.format == "PNG" and picture.mode == "RGB"
        assert picture.size[0] == round(panels.WIDTH * raster.SCALE) == 1200
        assert picture.size[1] > 860  # the panels and the table
        pixels = np.asarray(picture).reshape(-1, 3)
    for colour in (panels.BLUE, panels.RED, panels.GREEN, panels.ORANGE):
        rgb = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
        assert (pixels == rgb).all(axis=1).sum() > 100, colour  # bars and the threshold drawn


def test_report_imports_no_plotting_library_for_svg(data, tmp_path) -> None:
    path, _ = data
    probe = (
        "import sys; from losscli.cli.app import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "print('LOADED', sorted({m.split('.')[0] for m in sys.modules} & {'matplotlib', 'PIL'}))"
    )
    args = ["mse", str(path), "-p", PRED, "-t", TARGET, "-f", "json", "--report"]
    for name, want in (("r.svg", "[]"), ("r.html", "[]"), ("r.png", "['PIL']")):
        run = subprocess.run(
            [sys.executable, "-c", probe, *args, str(tmp_path / name)],
            capture_output=True,
            text=True,
            check=True,
        )
        assert run.stdout.rstrip().endswith(f"LOADED {want}"), (name, run.stdout[-200:])


def test_table_rows_capped_with_a_note() -> None:
    rows = [["mse", "-", f"g{i}", "1", str(i)] for i in range(100)]
    data = image.ReportData("t", ["loss", "params", "group", "rows", "value"], rows)
    scene = panels.report_scene(data)
    texts = [s.text for s in scene.shapes if isinstance(s, panels.Text)]
    assert "g59" in texts and "g60" not in texts
    assert f"{100 - panels.TABLE_ROWS} more rows not drawn (--format json has every value)" in texts
    # panels without data say why
    assert {"no errors to show", "no --group-by", "no prediction/target pairs"} <= set(texts)


def test_scales_and_ticks() -> None:
    f = panels.symlog(0.5)
    assert f(0.0) == 0.0 and f(0.5) == pytest.approx(0.4) and f(50.0) == pytest.approx(2.4)
    assert f(-50.0) == -f(50.0)
    assert panels.nice_ticks(0, 87) == [0, 20, 40, 60, 80, 100]
    assert panels.nice_ticks(0, 1) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    # span 11.1 / 5 = 2.22: steps of 2.5 from floor(-3.2 / 2.5) = -2 to ceil(7.9 / 2.5) = 4
    assert panels.nice_ticks(-3.2, 7.9) == [-5, -2.5, 0, 2.5, 5, 7.5, 10]
    # one value: the span becomes |12|, 12 / 5 = 2.4 → steps of 2.5 from 10 to 25
    assert panels.nice_ticks(12.0, 12.0) == [10, 12.5, 15, 17.5, 20, 22.5, 25]
    assert (panels.viridis(0.0), panels.viridis(1.0)) == ("#440154", "#fde725")
    assert panels.viridis(-1.0) == "#440154" and not math.isnan(panels.scale(1, 1, 0, 10)(1))


@pytest.mark.parametrize("shape", [(1, 1), (37, 53), (600, 41)])
def test_png_encoder_round_trips_through_pillow(shape) -> None:
    # two halves deflated apart and joined: one stream that Pillow's zlib inflates and checks
    import io

    from PIL import Image

    from losscli.report.raster import encode_png

    rgb = np.random.default_rng(3).integers(0, 256, (*shape, 3), dtype=np.uint8)
    rgb[: shape[0] // 3] = 255  # runs, so back-references are made
    with Image.open(io.BytesIO(encode_png(rgb))) as picture:
        assert (picture.format, picture.mode, picture.size) == ("PNG", "RGB", shape[::-1])
        np.testing.assert_array_equal(np.asarray(picture), rgb)


def test_histogram_panel_names_what_it_counts() -> None:
    from losscli.stats.histograms import ErrorHistogram

    state = ErrorHistogram()
    state.update(np.array([0.5, 1.0, 2.0, 2.5]))
    for subject, title in (
        ("error", "error histogram (prediction − target)"),
        ("loss", "histogram of the per-element loss values"),
    ):
        data = image.ReportData("t", [], [], histogram=state.compute(), subject=subject)
        texts = [s.text for s in panels.report_scene(data).shapes if isinstance(s, panels.Text)]
        assert title in texts
        bars = [s for s in panels.report_scene(data).shapes if getattr(s, "kind", None) == "bar"]
        assert sum(int(dict(b.data)["count"]) for b in bars) == 4


def test_groups_panel_with_odd_values() -> None:
    # NaN and inf group values and an infinite threshold: no coordinate is inf or nan
    from losscli.report.charts import GroupValue

    groups = [GroupValue("a", 2.0), GroupValue("b", math.nan), GroupValue("c", math.inf)]
    for threshold in (1.0, math.inf):
        data = image.ReportData("t", [], [], groups=groups, threshold=threshold, gate="max")
        text = panels_svg(data)
        assert "inf" not in re.sub(r">[^<]*<", "><", text)  # only in text content
        assert "nan" not in re.sub(r">[^<]*<", "><", text)
        root = ET.fromstring(text)
        (bar,) = [r for r in root.iter(f"{NS}rect") if r.get("class") == "group-bar"]
        assert bar.get("data-value") == "2.0"
        assert bar.get("fill") == (panels.RED if threshold == 1.0 else panels.GREEN)


def panels_svg(data: image.ReportData) -> str:
    from losscli.report.svg import svg

    return svg(panels.report_scene(data), data.title)
