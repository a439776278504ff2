"""A minimal PNG reader for screenshots (8-bit RGB/RGBA, not interlaced: what Chromium writes),
so the browser tests can look at pixels without an imaging library."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path


def read_png(path: str | Path) -> tuple[int, int, list[bytearray]]:
    """(width, height, rows): each row is ``width * 3`` bytes of RGB."""
    data = Path(path).read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG file")
    pos, idat = 8, b""
    width = height = depth = colour = interlace = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    if depth != 8 or colour not in (2, 6) or interlace:
        raise ValueError(f"{path}: only 8-bit RGB/RGBA, non-interlaced PNGs are read")
    channels = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytearray] = []
    prev = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind = raw[start]
        line = bytearray(raw[start + 1 : start + 1 + stride])
        for x in range(stride):
            a = line[x - channels] if x >= channels else 0
            b = prev[x]
            c = prev[x - channels] if x >= channels else 0
            if kind == 1:
                line[x] = (line[x] + a) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + b) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[x] = (line[x] + pred) & 0xFF
        prev = line
        if channels == 4:
            rgb = bytearray(width * 3)
            rgb[0::3], rgb[1::3], rgb[2::3] = line[0::4], line[1::4], line[2::4]
            rows.append(rgb)
        else:
            rows.append(line)
    return width, height, rows


def changed_pixels(a: list[bytearray], b: list[bytearray]) -> list[tuple[int, int]]:
    """(x, y) of the pixels that differ between two screenshots of the same size."""
    out = []
    for y, (ra, rb) in enumerate(zip(a, b, strict=True)):
        if ra == rb:
            continue
        for x in range(len(ra) // 3):
            if ra[3 * x : 3 * x + 3] != rb[3 * x : 3 * x + 3]:
                out.append((x, y))
    return out


def saturated(rows: list[bytearray], pixels: list[tuple[int, int]], spread: int = 80) -> int:
    """How many of ``pixels`` are strongly coloured (max − min channel ≥ ``spread``): a colour
    emoji has many, a missing-glyph box or black text none."""
    n = 0
    for x, y in pixels:
        r, g, b = rows[y][3 * x : 3 * x + 3]
        if max(r, g, b) - min(r, g, b) >= spread:
            n += 1
    return n
