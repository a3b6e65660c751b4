"""``shapes``: the embedded default dataset, drawn procedurally, deterministic per seed.

Ten classes of filled shapes on textured backgrounds, 32x32 RGB, with deliberately close pairs
(circle/ellipse/ring, square/rectangle, pentagon/hexagon, plus/star) so that class-vector
similarity has something to find. ``shapes-shift`` draws the same classes in another style
(pastel colours, striped and checked backgrounds, a third drawn as outlines): the
generalisation condition for models trained on ``shapes``.

    python -c "from robeval.data.shapes import generate_shapes; print(generate_shapes(8, seed=0).images.shape)"
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from robeval.data.base import ImageSet
from robeval.data.loading import DatasetRecord, register_dataset

CLASSES = [
    "circle", "ellipse", "ring", "square", "rectangle",
    "triangle", "pentagon", "hexagon", "plus", "star",
]
SPLIT_SIZES = {"train": 10_000, "val": 1_000, "test": 2_000}
SPLIT_STREAMS = {"train": 1, "val": 2, "test": 3, "shift": 4}
SIZE = 32
CHUNK = 512


def _polygon(rho: np.ndarray, phi: np.ndarray, n: int) -> np.ndarray:
    sector = 2 * np.pi / n
    return rho * np.cos(np.mod(phi, sector) - sector / 2) - np.cos(np.pi / n)


def _star(rho: np.ndarray, phi: np.ndarray) -> np.ndarray:
    sector = 2 * np.pi / 5
    d = np.abs(np.mod(phi, sector) - sector / 2) / (sector / 2)  # 0 mid-sector, 1 at points
    return (rho - (0.42 + 0.58 * d)) * 0.6


def _box(u: np.ndarray, v: np.ndarray, a: float, b: float) -> np.ndarray:
    return np.maximum(np.abs(u) - a, np.abs(v) - b)


# Signed distances (negative inside) in local coordinates (u, v), in units of the shape's radius;
# exact for circles, boxes and polygons, close enough elsewhere for a one-pixel anti-aliased edge.
SDFS = {
    "circle": lambda u, v, r, p: r - 0.95,
    "ellipse": lambda u, v, r, p: (np.hypot(u, v / 0.6) - 1.0) * 0.6,
    "ring": lambda u, v, r, p: np.abs(r - 0.75) - 0.2,
    "square": lambda u, v, r, p: _box(u, v, 0.72, 0.72),
    "rectangle": lambda u, v, r, p: _box(u, v, 0.92, 0.52),
    "triangle": lambda u, v, r, p: _polygon(r, p, 3),
    "pentagon": lambda u, v, r, p: _polygon(r, p, 5),
    "hexagon": lambda u, v, r, p: _polygon(r, p, 6),
    "plus": lambda u, v, r, p: np.minimum(_box(u, v, 1.0, 0.3), _box(u, v, 0.3, 1.0)),
    "star": lambda u, v, r, p: _star(r, p),
}
STROKE = 0.28  # outline width, in units of the radius


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Vectorised HSV -> RGB in [0, 1], arrays of shape (N,) -> (N, 3)."""
    i = np.floor(h * 6).astype(int) % 6
    f = h * 6 - np.floor(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    table = np.stack([
        np.stack([v, t, p], 1), np.stack([q, v, p], 1), np.stack([p, v, t], 1),
        np.stack([p, q, v], 1), np.stack([t, p, v], 1), np.stack([v, p, q], 1),
    ])
    return table[i, np.arange(len(h))]


def _draw_params(n: int, rng: np.random.Generator, shifted: bool) -> dict[str, np.ndarray]:
    p = {
        "label": rng.integers(0, len(CLASSES), n),
        "cx": rng.uniform(0.35, 0.65, n),
        "cy": rng.uniform(0.35, 0.65, n),
        "radius": rng.uniform(0.17, 0.35, n),
        "angle": rng.uniform(0, 2 * np.pi, n),
        "bg_angle": rng.uniform(0, 2 * np.pi, n),
        "noise_seed": rng.integers(0, 2**31, n),
    }
    if not shifted:  # saturated shapes over soft two-colour gradients
        fg = _hsv_to_rgb(rng.uniform(0, 1, n), rng.uniform(0.45, 1, n), rng.uniform(0.5, 1, n))
        bg_a = _hsv_to_rgb(rng.uniform(0, 1, n), rng.uniform(0.1, 0.5, n), rng.uniform(0.1, 0.45, n))
        bg_b = _hsv_to_rgb(rng.uniform(0, 1, n), rng.uniform(0.1, 0.5, n), rng.uniform(0.1, 0.45, n))
        p.update(fg=fg, bg_a=bg_a, bg_b=bg_b, outline=np.zeros(n, bool), pattern=np.zeros(n, int))
    else:  # pastel shapes over striped or checked backgrounds, a third drawn as outlines
        fg = _hsv_to_rgb(rng.uniform(0, 1, n), rng.uniform(0.15, 0.45, n), rng.uniform(0.75, 1, n))
        bg_a = _hsv_to_rgb(rng.uniform(0, 1, n), rng.uniform(0.2, 0.6, n), rng.uniform(0.15, 0.35, n))
        bg_b = _hsv_to_rgb(rng.uniform(0, 1, n), rng.uniform(0.2, 0.6, n), rng.uniform(0.25, 0.5, n))
        p.update(fg=fg, bg_a=bg_a, bg_b=bg_b, outline=rng.random(n) < 1 / 3,
                 pattern=rng.integers(1, 3, n))
    return p


def _render_chunk(p: dict[str, np.ndarray], sl: slice) -> np.ndarray:
    n = len(p["label"][sl])
    grid = ((np.arange(SIZE) + 0.5) / SIZE).astype(np.float32)
    y, x = np.meshgrid(grid, grid, indexing="ij")
    f32 = {k: p[k][sl, None, None].astype(np.float32) for k in ("cx", "cy", "angle", "radius")}
    dx, dy = x[None] - f32["cx"], y[None] - f32["cy"]
    cos, sin, radius = np.cos(f32["angle"]), np.sin(f32["angle"]), f32["radius"]
    u, v = (cos * dx + sin * dy) / radius, (-sin * dx + cos * dy) / radius
    rho, phi = np.hypot(u, v), np.arctan2(v, u)
    sdf = np.zeros((n, SIZE, SIZE), np.float32)
    for c, name in enumerate(CLASSES):
        sel = p["label"][sl] == c
        if sel.any():
            sdf[sel] = SDFS[name](u[sel], v[sel], rho[sel], phi[sel])
    outline = p["outline"][sl, None, None]
    sdf = np.where(outline, np.maximum(sdf, -sdf - STROKE), sdf)
    cover = np.clip(0.5 - sdf * radius * SIZE, 0, 1)  # one-pixel anti-aliased edge

    ys, xs = np.meshgrid(np.arange(SIZE) / SIZE, np.arange(SIZE) / SIZE, indexing="ij")
    ba = p["bg_angle"][sl, None, None]
    ramp = np.cos(ba) * xs[None] + np.sin(ba) * ys[None]
    pattern = p["pattern"][sl, None, None]
    stripes = (np.floor(ramp * 8) % 2).astype(float)
    checks = ((np.floor(xs * 6) + np.floor(ys * 6)) % 2)[None].astype(float)
    gradient = (ramp - ramp.min(axis=(1, 2), keepdims=True)) / np.ptp(ramp, axis=(1, 2), keepdims=True)
    t = np.where(pattern == 0, gradient, np.where(pattern == 1, stripes, checks))[..., None]
    bg = p["bg_a"][sl, None, None] * (1 - t) + p["bg_b"][sl, None, None] * t
    img = bg * (1 - cover[..., None]) + p["fg"][sl, None, None] * cover[..., None]
    noise = np.random.default_rng(p["noise_seed"][sl]).normal(0, 0.05, (n, SIZE, SIZE, 3))
    return np.clip(np.round((img + noise) * 255), 0, 255).astype(np.uint8)


def generate_shapes(n: int, seed: int = 0, split: str = "train", shifted: bool = False) -> ImageSet:
    """Draw ``n`` images; the same (n, seed, split, shifted) always gives the same bytes."""
    rng = np.random.default_rng([seed, SPLIT_STREAMS[split], int(shifted)])
    params = _draw_params(n, rng, shifted)
    images = np.concatenate(
        [_render_chunk(params, slice(i, i + CHUNK)) for i in range(0, n, CHUNK)]
    ) if n else np.zeros((0, SIZE, SIZE, 3), np.uint8)
    name = "shapes-shift" if shifted else "shapes"
    return ImageSet(images, params["label"], list(CLASSES), f"{name}/{split}",
                    {"seed": seed, "generator": "robeval.data.shapes"})


def _load_shapes(name: str, split: str, root: Path) -> ImageSet:
    return generate_shapes(SPLIT_SIZES[split], seed=0, split=split)


def _load_shapes_shift(name: str, split: str, root: Path) -> ImageSet:
    return generate_shapes(SPLIT_SIZES["test"], seed=0, split="shift", shifted=True)


register_dataset(DatasetRecord(
    "shapes", _load_shapes, splits=("train", "val", "test"), image_size=SIZE,
    num_classes=len(CLASSES), classes=tuple(CLASSES),
    description="embedded procedural shapes, 10 classes, 32 px, 10k/1k/2k (no download)",
))
register_dataset(DatasetRecord(
    "shapes-shift", _load_shapes_shift, splits=("test",), image_size=SIZE,
    num_classes=len(CLASSES),
    description="shapes in another style (pastel, stripes/checks, outlines): generalisation set",
))
