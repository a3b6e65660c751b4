"""Layer 1 component, data: sources -> uint8 (N, H, W, 3) arrays + labels + class names, behind
one registry (DATASETS of DatasetRecord records); gensets/ holds the generalisation sets.

Imports only ``robeval.core``; never models, corruptions, analysis or anything above.
"""

# importing a source module registers its datasets
from robeval.data import cifar, imagefolder, shapes, stl10, tinyimagenet  # noqa: F401
from robeval.data.base import ImageSet, split_train_val
from robeval.data.loading import (
    DATASETS,
    DatasetRecord,
    DatasetSpec,
    data_root,
    load_split,
    register_dataset,
)

__all__ = [
    "DATASETS", "DatasetRecord", "DatasetSpec", "ImageSet", "data_root", "load_split", "register_dataset",
    "split_train_val",
]
