"""Image data: sources -> uint8 (N, H, W, 3) arrays + labels + class names, behind one registry."""

from robeval.data import shapes  # noqa: F401  (registers the embedded datasets)
from robeval.data.base import ImageSet, split_train_val
from robeval.data.registry import DATASETS, DatasetSpec, data_root, load_split, register_dataset

__all__ = [
    "DATASETS", "DatasetSpec", "ImageSet", "data_root", "load_split", "register_dataset",
    "split_train_val",
]
