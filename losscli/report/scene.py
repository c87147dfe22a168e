"""A drawing as a flat list of shapes: what the one-page report is made of.

The report's panels (:mod:`losscli.report.panels`) place rectangles, lines, circles and text in
pixel coordinates (origin top left, y down); a back end turns the list into a file:
:mod:`losscli.report.svg` writes SVG (and the HTML page around it), :mod:`losscli.report.raster`
paints a PNG. The shapes are plain values, so tests can read a drawing without parsing a file.

Text in a shape is data-derived and unescaped: every back end makes it safe its own way.
"""

from __future__ import annotations

from typing import NamedTuple

Anchor = str  # "start" | "middle" | "end": where ``x`` is on the text's baseline


class Rect(NamedTuple):
    """A filled rectangle; ``kind`` and ``data`` name what it shows (SVG ``class`` and
    ``data-*`` attributes: the tests read counts back from them), ``tip`` is a tooltip."""

    x: float
    y: float
    width: float
    height: float
    fill: str
    stroke: str | None = None
    kind: str | None = None
    data: tuple[tuple[str, str], ...] = ()
    tip: str | None = None


class Line(NamedTuple):
    """A straight line; ``dash`` is the dash and gap length (solid when 0)."""

    x1: float
    y1: float
    x2: float
    y2: float
    stroke: str
    width: float = 1.0
    dash: float = 0.0
    kind: str | None = None


class Polyline(NamedTuple):
    """Connected line segments through ``points``."""

    points: tuple[tuple[float, float], ...]
    stroke: str
    width: float = 1.5
    kind: str | None = None


class Circle(NamedTuple):
    x: float
    y: float
    r: float
    fill: str
    kind: str | None = None
    tip: str | None = None


class Text(NamedTuple):
    """One line of text, baseline at ``y``; ``size`` in pixels."""

    x: float
    y: float
    text: str
    size: float = 12.0
    anchor: Anchor = "start"
    bold: bool = False
    fill: str = "#222222"


Shape = Rect | Line | Polyline | Circle | Text


class Scene(NamedTuple):
    """A ``width`` × ``height`` picture on a white background; shapes paint in order."""

    width: int
    height: int
    shapes: list[Shape]
