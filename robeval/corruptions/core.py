"""Corrupt uint8 image arrays: names, input checks, backends, workers.

``corrupt(images, "defocus_blur/3", table="auto", backend="reference")`` is the one entry point;
the cache, the CLI and the evaluation conditions all go through it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from robeval.core.environment import pick_device
from robeval.core.errors import RobevalError
from robeval.core.processes import worker_pool
from robeval.core.progress import progress_bar
from robeval.corruptions import albu
from robeval.corruptions.families import FAMILIES
from robeval.corruptions.seeding import image_rng
from robeval.corruptions.tables import TABLE_CHOICES, check_severity, pick_table

BACKENDS = ("reference", "fast")  # fast: a family's batched torch function, where it has one
SEEDING = ("per (seed, condition, image index): a seeded family's reference function draws from "
           "numpy PCG64 seeded with SeedSequence([seed, crc32(condition), index]); its fast path from "
           "a counter-based hash of a key from the same triple")
ROUNDING = "np.uint8(np.clip(x, 0, 1) * 255): truncation, as make_cifar_c.py and imagecorruptions"
_NAME = re.compile(r"^(?P<family>[A-Za-z_]+)/(?P<severity>[^@]+)(@(?P<table>\w+))?$")


@dataclass(frozen=True)
class CorruptionAtSeverity:
    """One Hendrycks corruption at one severity; ``table='auto'`` picks by image size."""

    family: str
    severity: int
    table: str = "auto"
    kind: str = field(default="corruption", init=False)

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise RobevalError(f"unknown corruption {self.family!r}; choose one of: {', '.join(FAMILIES)} "
                               "(or albu:Transform(args) for an albumentations transform)")
        check_severity(self.severity)
        if self.table not in TABLE_CHOICES:
            raise RobevalError(f"unknown table {self.table!r}; choose one of: {', '.join(TABLE_CHOICES)}")

    @property
    def name(self) -> str:
        suffix = "" if self.table == "auto" else f"@{self.table}"
        return f"{self.family}/{self.severity}{suffix}"

    @property
    def seed_name(self) -> str:
        """The name random streams derive from: the same for every table."""
        return f"{self.family}/{self.severity}"

    def table_params(self, image_size: int) -> tuple[str, dict]:
        table = pick_table(self.table, image_size)
        return table.name, table.params(self.family, self.severity)

    def backend(self, requested: str) -> str:
        """The backend that really runs for this family (``fast`` only where it has a fast path)."""
        return FAMILIES.get(self.family).backend(requested)


Corruption = CorruptionAtSeverity | albu.AlbuCorruption  # what a corruption condition applies
CorruptionSpec = CorruptionAtSeverity  # deprecated: the old name, kept for one release
Spec = Corruption  # deprecated: the old name, kept for one release


def parse_name(name: str, table: str = "auto") -> Corruption | None:
    """``defocus_blur/3``, ``defocus_blur/3@imagenet`` or ``albu:...`` -> a corruption; other names None.

    A name that looks like ours but is wrong (``defocus_blur/7``, ``defocus/3``) is a RobevalError.
    """
    if name.startswith(albu.PREFIX):
        return albu.parse(name)
    m = _NAME.match(name)
    if not m:
        return None
    try:
        severity = int(m["severity"])
    except ValueError:
        raise RobevalError(f"{name}: severity must be an integer 1-5, got {m['severity']!r}") from None
    return CorruptionAtSeverity(m["family"], severity, m["table"] or table)


def parse_severities(text: str) -> list[int]:
    """'1-5', '3', '1,3,5' -> severities, each checked."""
    out: list[int] = []
    try:
        for part in str(text).split(","):
            lo, dash, hi = part.strip().partition("-")
            if dash and not hi:
                raise ValueError(part)
            if hi and int(hi) < int(lo):
                raise RobevalError(f"severities {text!r}: the range {part.strip()} is empty; write it "
                                   f"low to high ({hi}-{lo})")
            out += list(range(int(lo), int(hi) + 1)) if hi else [int(lo)]
    except ValueError:
        raise RobevalError(f"severities {text!r}: give 1-5, 3 or 1,3,5") from None
    return [check_severity(s) for s in out]


def as_rgb_uint8(images: np.ndarray) -> np.ndarray:
    """uint8 (N,H,W,3); grayscale (N,H,W) or (N,H,W,1) is repeated to 3 channels (as
    imagecorruptions does). Anything else, including non-uint8 data, is a RobevalError."""
    if not isinstance(images, np.ndarray):
        raise RobevalError(f"images must be a numpy array, got {type(images).__name__}")
    if images.dtype != np.uint8:
        raise RobevalError(f"images must be uint8 (0-255), got {images.dtype}; convert first, e.g. "
                           "(x * 255).round().clip(0, 255).astype(np.uint8) for floats in [0, 1]")
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise RobevalError(f"images must be (N, H, W, 3) RGB or (N, H, W) grayscale, got {images.shape}")
    return np.repeat(images, 3, axis=-1) if images.shape[-1] == 1 else images


def _chunks(n: int, size: int) -> list[slice]:
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


def apply_chunk(images: np.ndarray, indices: np.ndarray, family: str, params: dict, seed: int,
                name: str) -> np.ndarray:
    """Corrupt a chunk with the family's reference function; image ``k`` uses the random stream
    of (seed, name, indices[k]) when the family is seeded."""
    record = FAMILIES.get(family)
    out = np.empty_like(images)
    for k, (image, index) in enumerate(zip(images, indices, strict=True)):
        rng = image_rng(seed, name, index) if record.seeded else None
        out[k] = record.apply(image, params, rng)
    return out


def _run_chunk(args: tuple) -> np.ndarray:
    corruption, images, indices, params, seed = args
    if isinstance(corruption, albu.AlbuCorruption):
        return albu.apply(corruption, images, indices, seed)
    return apply_chunk(images, indices, corruption.family, params, seed, corruption.seed_name)


def _per_image(corruption: Corruption, images: np.ndarray, indices: np.ndarray, params: dict, seed: int,
               workers: int, bar: tqdm) -> np.ndarray:
    out = np.empty_like(images)
    parts = _chunks(len(images), 64)
    jobs = ((corruption, images[s], indices[s], params, seed) for s in parts)
    if workers > 1:
        with worker_pool(workers) as pool:
            for s, res in zip(parts, pool.map(_run_chunk, jobs), strict=True):
                out[s] = res
                bar.update(s.stop - s.start)
    else:
        for s, job in zip(parts, jobs, strict=True):
            out[s] = _run_chunk(job)
            bar.update(s.stop - s.start)
    return out


def _batched(corruption: CorruptionAtSeverity, images: np.ndarray, indices: np.ndarray, params: dict, seed: int,
             device: str, batch_size: int, bar: tqdm) -> np.ndarray:
    import torch

    from robeval.corruptions.seeding import image_stream_keys

    fn = FAMILIES.get(corruption.family).fast
    stream_keys = torch.from_numpy(image_stream_keys(seed, corruption.seed_name, indices))
    out = np.empty_like(images)
    for s in _chunks(len(images), batch_size):
        x = torch.from_numpy(images[s]).to(device)
        out[s] = fn(x, stream_keys[s], **params).cpu().numpy()
        bar.update(s.stop - s.start)
    return out


def corrupt(images: np.ndarray, corruption: Corruption | str, *, table: str = "auto", backend: str = "reference",
            seed: int = 0,
            indices: np.ndarray | None = None, workers: int = 1, device: str = "cpu",
            batch_size: int = 512, progress: bool = False) -> tuple[np.ndarray, dict]:
    """Corrupt ``images`` and say exactly how: returns (uint8 images, description for a sidecar).

    ``table`` applies to names without ``@TABLE``. ``indices`` are the images' positions in the whole dataset (default 0..N-1): image i's random
    stream depends only on (seed, condition, indices[i]), never on the batch or worker it is in.
    """
    if isinstance(corruption, str):
        parsed = parse_name(corruption, table)
        if parsed is None:
            raise RobevalError(f"unknown corruption {corruption!r}; write FAMILY/SEVERITY (families: "
                               f"{', '.join(FAMILIES)}) or albu:Transform(args)")
        corruption = parsed
    if backend not in BACKENDS:
        raise RobevalError(f"unknown backend {backend!r}; choose one of: {', '.join(BACKENDS)}")
    if not isinstance(workers, int) or workers < 1:
        raise RobevalError(f"workers must be a positive integer, got {workers!r}")
    images = as_rgb_uint8(images)
    indices = np.arange(len(images)) if indices is None else np.asarray(indices, dtype=np.int64)
    if indices.shape != (len(images),):
        raise RobevalError(f"indices must have one entry per image ({len(images)}), got {indices.shape}")
    info = {"condition": corruption.name, "family": corruption.family, "severity": corruption.severity,
            "kind": corruption.kind, "seed": int(seed), "seeding": SEEDING}
    bar = progress_bar(total=len(images), desc=f"corrupt {corruption.name}", disable=not progress, leave=False)
    with bar:
        if isinstance(corruption, albu.AlbuCorruption):
            info.update(table=None, params=corruption.params(), backend="albumentations", canonical=True)
            return _per_image(corruption, images, indices, {}, seed, workers, bar), info
        table, params = corruption.table_params(min(images.shape[1:3]))
        record = FAMILIES.get(corruption.family)
        backend = record.backend(backend)  # fast only where the family has a fast path
        batched = backend == "fast"
        info.update(table=table, table_requested=corruption.table,
                    table_source=pick_table(table, min(images.shape[1:3])).source, params=params,
                    backend=backend, version=record.version, category=record.category,
                    rounding=ROUNDING, canonical=True,
                    implementation="torch batched" if batched else "per image (PIL/OpenCV/skimage)")
        if batched:
            device = pick_device(device)
            info["device"] = device
            return _batched(corruption, images, indices, params, seed, device, batch_size, bar), info
        return _per_image(corruption, images, indices, params, seed, workers, bar), info

