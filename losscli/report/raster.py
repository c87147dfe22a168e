"""PNG back end of the report: a :class:`~losscli.report.scene.Scene` painted with Pillow.

Pillow (the ``plot`` extra) is imported here only, for a ``.png`` report: ~15 ms, against the
~0.3 s import and ~0.5 s of drawing matplotlib took for the same page. Text uses DejaVu Sans
when the system has it (wide Unicode coverage), else Pillow's built-in font. The picture is
painted at :data:`SCALE` × the scene's size: 1200 px wide. (At 1.5× text and diagonals were
a little crisper, but painting and encoding 2.25× the pixels cost ~25 ms more per report.)

The file is encoded here (:func:`encode_png`: rows unfiltered, zlib level 1, two halves on two
threads): Pillow's encoder filters every row adaptively and took ~0.15 s for this mostly white
page, this ~10 ms.
"""

from __future__ import annotations

import math
import struct
import threading
import zlib
from functools import cache
from typing import Any

import numpy as np

from losscli.report.sanitize import visible
from losscli.report.scene import Circle, Line, Polyline, Rect, Scene, Text

SCALE = 1.0
FONT_SIZES = (11, 12, 14, 18)  # the scene's text sizes (report.panels)
_ANCHORS = {"start": "ls", "middle": "ms", "end": "rs"}


@cache
def _font(size: int) -> Any:
    # Pillow: ~50 ms to import, only for --report FILE.png (the `plot` extra)
    from PIL import ImageFont

    for name in ("DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default(size)


def load_fonts() -> None:
    """Import Pillow and load the report's fonts (called ahead, while the data are read)."""
    from PIL import Image, ImageDraw  # noqa: F401

    for size in FONT_SIZES:
        _font(round(size * SCALE))


def _dashes(
    x1: float, y1: float, x2: float, y2: float, dash: float
) -> list[tuple[float, float, float, float]]:
    length = math.hypot(x2 - x1, y2 - y1)
    if length == 0 or dash <= 0:
        return [(x1, y1, x2, y2)]
    ux, uy = (x2 - x1) / length, (y2 - y1) / length
    out = []
    at = 0.0
    while at < length:
        end = min(at + dash, length)
        out.append((x1 + ux * at, y1 + uy * at, x1 + ux * end, y1 + uy * end))
        at += 2 * dash
    return out


def png(scene: Scene) -> bytes:
    """The scene as PNG bytes (no metadata: the same input gives the same file)."""
    from PIL import Image, ImageDraw

    k = SCALE
    image = Image.new("RGB", (round(scene.width * k), round(scene.height * k)), "#ffffff")
    draw = ImageDraw.Draw(image)
    for shape in scene.shapes:
        if isinstance(shape, Rect):
            box = (
                shape.x * k,
                shape.y * k,
                (shape.x + shape.width) * k,
                (shape.y + shape.height) * k,
            )
            fill = None if shape.fill == "none" else shape.fill
            draw.rectangle(box, fill=fill, outline=shape.stroke, width=1 if shape.stroke else 0)
        elif isinstance(shape, Line):
            width = max(1, round(shape.width * k))
            for x1, y1, x2, y2 in _dashes(shape.x1, shape.y1, shape.x2, shape.y2, shape.dash):
                draw.line([(x1 * k, y1 * k), (x2 * k, y2 * k)], fill=shape.stroke, width=width)
        elif isinstance(shape, Polyline):
            points = [(x * k, y * k) for x, y in shape.points]
            draw.line(
                points, fill=shape.stroke, width=max(1, round(shape.width * k)), joint="curve"
            )
        elif isinstance(shape, Circle):
            r = shape.r * k
            draw.ellipse(
                (shape.x * k - r, shape.y * k - r, shape.x * k + r, shape.y * k + r), shape.fill
            )
        elif isinstance(shape, Text):
            font = _font(round(shape.size * k))
            at = (shape.x * k, shape.y * k)
            anchor = _ANCHORS[shape.anchor]
            text = visible(shape.text)
            draw.text(at, text, fill=shape.fill, font=font, anchor=anchor)
            if shape.bold:  # no bold face needed: the text again, a pixel to the right
                draw.text((at[0] + 1, at[1]), text, fill=shape.fill, font=font, anchor=anchor)
    return encode_png(np.asarray(image))


def encode_png(rgb: np.ndarray[Any, Any]) -> bytes:
    """An 8-bit RGB image (height × width × 3) as a PNG file: signature, ``IHDR``, one
    ``IDAT`` of zlib-compressed rows (filter type 0), ``IEND``; no metadata.

    The rows are deflated (level 1) in two halves at once, the first on a second thread (zlib
    releases the GIL), the first half ended with a sync flush (byte-aligned, not final), so
    the two concatenated are one valid deflate stream (as pigz does); the zlib header and the
    Adler-32 of all rows frame it. ~2× faster on two cores, a few bytes larger."""
    height, width, _ = rgb.shape
    rows = np.empty((height, 1 + 3 * width), dtype=np.uint8)
    rows[:, 0] = 0  # filter type 0 (none) at the start of every row
    rows[:, 1:] = rgb.reshape(height, 3 * width)
    data = memoryview(rows.data).cast("B")
    mid = (height // 2) * rows.shape[1]
    halves = [data[:mid], data[mid:]]
    parts = [b"", b""]

    def deflate(i: int) -> None:
        c = zlib.compressobj(1, zlib.DEFLATED, -15)  # raw deflate: the framing is ours
        parts[i] = c.compress(halves[i]) + c.flush(zlib.Z_SYNC_FLUSH if i == 0 else zlib.Z_FINISH)

    helper = threading.Thread(target=deflate, args=(0,), name="losscli-png")
    helper.start()
    deflate(1)
    helper.join()
    if not parts[0]:  # the helper failed (a sync flush always writes bytes)
        raise MemoryError("PNG encoding failed")
    stream = b"".join([b"\x78\x01", *parts, struct.pack(">I", zlib.adler32(data))])

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8 bits, RGB, no interlace
    return b"".join(
        [
            b"\x89PNG\r\n\x1a\n",
            chunk(b"IHDR", header),
            chunk(b"IDAT", stream),
            chunk(b"IEND", b""),
        ]
    )
