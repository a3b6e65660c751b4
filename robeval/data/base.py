"""The one in-memory form of image data in robeval: uint8 (N, H, W, 3), int64 labels, class names."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from robeval.core.errors import RobevalError


@dataclass
class ImageSet:
    """Images as uint8 (N, H, W, 3) with integer labels indexing ``classes``."""

    images: np.ndarray
    labels: np.ndarray
    classes: list[str]
    name: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels, dtype=np.int64)
        check_images(self.images, self.name)
        if len(self.images) != len(self.labels):
            raise RobevalError(
                f"{self.name}: {len(self.images)} images but {len(self.labels)} labels"
            )
        if len(self.labels) and (self.labels.min() < 0 or self.labels.max() >= len(self.classes)):
            raise RobevalError(
                f"{self.name}: labels must lie in 0..{len(self.classes) - 1}, "
                f"found {self.labels.min()}..{self.labels.max()}"
            )

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def image_size(self) -> int:
        return int(self.images.shape[1])

    def subset(self, index: np.ndarray, name: str | None = None) -> ImageSet:
        return ImageSet(
            self.images[index], self.labels[index], list(self.classes),
            name or self.name, dict(self.meta),
        )


def check_images(images: np.ndarray, name: str = "") -> None:
    """Reject anything that is not uint8 (N, H, W, 3) with a message that says what it is."""
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8:
        dtype = getattr(images, "dtype", type(images).__name__)
        raise RobevalError(f"{name}: images must be uint8, got {dtype}")
    if images.ndim != 4 or images.shape[-1] != 3:
        raise RobevalError(f"{name}: images must be (N, H, W, 3) RGB, got shape {images.shape}")


def split_train_val(labels: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded, class-stratified train/validation split of indices (the test set is never used)."""
    rng = np.random.default_rng([seed, 7919])
    train_idx, val_idx = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        n_val = int(round(len(idx) * val_fraction))
        val_idx.append(idx[:n_val])
        train_idx.append(idx[n_val:])
    return np.sort(np.concatenate(train_idx)), np.sort(np.concatenate(val_idx))
