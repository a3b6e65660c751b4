"""One real-data check: a small model trained on real CIFAR-10 images beats chance by far.

Uses a real copy, $ROBEVAL_TEST_DATA/cifar10-jpeg.tar.xz (an ImageFolder tree of JPEGs).
"""

import io
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

from robeval.data import ImageSet
from robeval.data.loading import DATASETS, DatasetRecord, register_dataset
from tests.helpers import real_data

PER_CLASS = {"train": 400, "test": 100}


def _read_subset(archive: Path) -> dict[str, ImageSet]:
    """The first PER_CLASS[split] images of each class, decoded from the archive in one pass."""
    images = {s: {} for s in PER_CLASS}
    with tarfile.open(archive, "r:xz") as tar:
        for member in tar:
            parts = Path(member.name).parts  # cifar10/<split>/<class>/NNNN.jpg
            if not member.isfile() or len(parts) != 4 or parts[1] not in PER_CLASS:
                continue
            split, cls, index = parts[1], parts[2], int(Path(parts[3]).stem)
            if index < PER_CLASS[split]:
                data = tar.extractfile(member).read()
                images[split].setdefault(cls, []).append(
                    (index, np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))))
    out = {}
    for split, by_class in images.items():
        classes = sorted(by_class)
        xs, ys = [], []
        for label, cls in enumerate(classes):
            for _, img in sorted(by_class[cls], key=lambda t: t[0]):
                xs.append(img)
                ys.append(label)
        out[split] = ImageSet(np.stack(xs), np.array(ys), classes, f"cifar10-subset/{split}")
    return out


def test_real_cifar10_well_above_chance(tmp_path):
    from robeval.stages.evaluate import evaluate_run
    from robeval.stages.train import train
    from robeval.training.config import TrainConfig

    subset = _read_subset(real_data("cifar10-jpeg.tar.xz"))
    assert subset["train"].classes[:3] == ["airplane", "automobile", "bird"]
    register_dataset(DatasetRecord("cifar10-subset", lambda name, split, root: subset[split],
                                   splits=("train", "test"), cache=False))
    try:  # taken out again, so registries hold only robeval's own entries for the next tests
        cfg = TrainConfig(dataset="cifar10-subset", arch="smallcnn", head="fixed", logits="dot",
                          epochs=4, batch_size=64, lr=0.05, seed=0)
        train(cfg, tmp_path / "run", progress=False)
        result = evaluate_run(tmp_path / "run", "clean", progress=False)
    finally:
        DATASETS.remove("cifar10-subset")
    acc = result["conditions"]["clean"]["accuracy"]
    assert result["conditions"]["clean"]["n"] == 1000
    assert acc > 0.25, f"test accuracy {acc:.3f} on real CIFAR-10 (chance 0.10)"
