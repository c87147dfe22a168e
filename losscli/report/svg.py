"""SVG and HTML back end of the report: a :class:`~losscli.report.scene.Scene` written as text.

No drawing library: each shape is one SVG element, so writing a report costs a few
milliseconds. Safety: every data-derived string (titles, group keys, column and file names,
table cells) is first made visible (:func:`losscli.report.sanitize.visible`: no control
character, so only XML 1.0-legal text) and then escaped for XML/HTML (``& < > " '``); the
page has no script, no style sheet link and no URL, so it opens offline and data cannot add
markup, script or a request.
"""

from __future__ import annotations

from collections.abc import Sequence

from losscli.report.sanitize import visible
from losscli.report.scene import Circle, Line, Polyline, Rect, Scene, Shape

FONT = "DejaVu Sans, Verdana, Arial, sans-serif"


_ESCAPES = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;"}
)  # html.escape's table (the html package costs ~3 ms to import)


def escape(text: object) -> str:
    """Data text for XML/HTML content or a quoted attribute: visible, then escaped."""
    return visible(text).translate(_ESCAPES)


def _n(x: float) -> str:
    """A coordinate: two decimals at most, no trailing zeros."""
    s = f"{x:.2f}".rstrip("0").rstrip(".")
    return "0" if s == "-0" else s


def _extra(kind: str | None, data: Sequence[tuple[str, str]] = ()) -> str:
    out = f' class="{escape(kind)}"' if kind else ""
    return out + "".join(f' data-{name}="{escape(value)}"' for name, value in data)


def _element(shape: Shape) -> str:
    if isinstance(shape, Rect):
        stroke = f' stroke="{shape.stroke}"' if shape.stroke else ""
        attrs = (
            f'<rect x="{_n(shape.x)}" y="{_n(shape.y)}" width="{_n(shape.width)}" '
            f'height="{_n(shape.height)}" fill="{shape.fill}"{stroke}'
            f"{_extra(shape.kind, shape.data)}"
        )
        if shape.tip:
            return f"{attrs}><title>{escape(shape.tip)}</title></rect>"
        return attrs + "/>"
    if isinstance(shape, Line):
        dash = f' stroke-dasharray="{_n(shape.dash)}"' if shape.dash else ""
        return (
            f'<line x1="{_n(shape.x1)}" y1="{_n(shape.y1)}" x2="{_n(shape.x2)}" '
            f'y2="{_n(shape.y2)}" stroke="{shape.stroke}" stroke-width="{_n(shape.width)}"'
            f"{dash}{_extra(shape.kind)}/>"
        )
    if isinstance(shape, Polyline):
        points = " ".join(f"{_n(x)},{_n(y)}" for x, y in shape.points)
        return (
            f'<polyline points="{points}" fill="none" stroke="{shape.stroke}" '
            f'stroke-width="{_n(shape.width)}"{_extra(shape.kind)}/>'
        )
    if isinstance(shape, Circle):
        attrs = (
            f'<circle cx="{_n(shape.x)}" cy="{_n(shape.y)}" r="{_n(shape.r)}" '
            f'fill="{shape.fill}"{_extra(shape.kind)}'
        )
        if shape.tip:
            return f"{attrs}><title>{escape(shape.tip)}</title></circle>"
        return attrs + "/>"
    weight = ' font-weight="bold"' if shape.bold else ""
    anchor = f' text-anchor="{shape.anchor}"' if shape.anchor != "start" else ""
    return (
        f'<text x="{_n(shape.x)}" y="{_n(shape.y)}" font-size="{_n(shape.size)}"{anchor}'
        f'{weight} fill="{shape.fill}">{escape(shape.text)}</text>'
    )


def svg(scene: Scene, title: str, standalone: bool = True) -> str:
    """The scene as an SVG document (``standalone``: with the XML declaration, to be a file;
    otherwise an ``<svg>`` element to inline in HTML)."""
    # inline in HTML the parser puts <svg> in the SVG namespace itself: no xmlns (a URL) there
    head = '<?xml version="1.0" encoding="UTF-8"?>\n' if standalone else ""
    space = ' xmlns="http://www.w3.org/2000/svg"' if standalone else ""
    w, h = scene.width, scene.height
    body = "\n".join(_element(shape) for shape in scene.shapes)
    return (
        f'{head}<svg{space} width="{w}" height="{h}" '
        f'viewBox="0 0 {w} {h}" font-family="{FONT}" role="img">\n'
        f"<title>{escape(title)}</title>\n"
        f'<rect x="0" y="0" width="{w}" height="{h}" fill="#ffffff"/>\n{body}\n</svg>\n'
    )


def html_page(
    title: str, charts: Scene, header: Sequence[str], rows: Sequence[Sequence[str]], note: str
) -> str:
    """One self-contained page: the title, the result table (HTML) and the charts (inline
    SVG). Nothing is fetched: no URL, no script."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    more = f"<p>{escape(note)}</p>" if note else ""
    name = escape(title)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{name}</title><style>"
        "body{font-family:sans-serif;margin:2em;color:#222}"
        "table{border-collapse:collapse;margin-bottom:1.5em}"
        "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}"
        "svg{max-width:100%;height:auto}</style></head><body>"
        f"<h1>{name}</h1><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        f"{more}\n{svg(charts, title, standalone=False)}</body></html>\n"
    )
