"""A PNG grid that shows what each severity means: one block of rows per condition (one row per
sample image), columns clean + severities 1-5. Small images are enlarged (nearest neighbour) so
single noisy pixels stay visible."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from robeval.core.fileio import atomic_path

COLUMNS = ("clean", "1", "2", "3", "4", "5")


def preview_grid(clean: np.ndarray, rows: dict[str, dict[int | None, np.ndarray]], path: str | Path,
                 min_cell: int = 96, title: str = "", notes: dict[str, str] | None = None) -> Path:
    """``rows`` maps a condition family to {severity: images (N,H,W,3)}; severity None (a custom
    condition) goes in column 1. Writes ``path`` atomically and returns it."""
    n, h, w, _ = clean.shape
    zoom = max(1, int(np.ceil(min_cell / max(h, w))))
    ch, cw, pad, left, top = h * zoom, w * zoom, 4, 220, 40 + (20 if title else 0)
    width = left + len(COLUMNS) * (cw + pad)
    height = top + len(rows) * (n * (ch + pad) + 2 * pad)
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=14)
    if title:
        draw.text((pad, pad), title, fill="black", font=font)
    for c, label in enumerate(COLUMNS):
        draw.text((left + c * (cw + pad) + cw // 2 - 10, top - 22), label, fill="black", font=font)
    y = top
    for name, by_severity in rows.items():
        label = "\n".join(textwrap.wrap(name, 26) + textwrap.wrap((notes or {}).get(name, ""), 30))
        draw.multiline_text((pad, y + pad), label, fill="black", font=font)
        cells = {0: clean, **{(s or 1): imgs for s, imgs in by_severity.items()}}
        for i in range(n):
            for c, imgs in cells.items():
                tile = Image.fromarray(imgs[i]).resize((cw, ch), Image.NEAREST)
                canvas.paste(tile, (left + c * (cw + pad), y + i * (ch + pad)))
        y += n * (ch + pad) + 2 * pad
        draw.line([(0, y - pad), (width, y - pad)], fill="#bbbbbb")
    path = Path(path)
    with atomic_path(path) as tmp:
        canvas.save(tmp, format="PNG")
    return path
