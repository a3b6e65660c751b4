"""Small shared pieces for the tests: a tiny real training config on the embedded data."""

from robeval.training.config import TrainConfig


def tiny_config(**overrides) -> TrainConfig:
    """A run that trains in a few seconds on CPU: smallcnn on 1024 shapes images."""
    base = dict(dataset="shapes", arch="smallcnn", epochs=2, batch_size=32, max_train=1024,
                lr=0.05, seed=0, preset="quick")
    base.update(overrides)
    return TrainConfig(**base)


TEST_DATA = "ROBEVAL_TEST_DATA"  # a folder of real data copies a few tests read (.ci/run sets it)


def find_real_data(name: str):
    """$ROBEVAL_TEST_DATA/NAME when the variable is set and the file is there, else None."""
    import os
    from pathlib import Path

    folder = os.environ.get(TEST_DATA)
    path = Path(folder) / name if folder else None
    return path if path is not None and path.exists() else None


def real_data(name: str):
    """$ROBEVAL_TEST_DATA/NAME, a real data file (e.g. cifar10-jpeg.tar.xz); the calling test is
    skipped, saying what to set, when the variable is unset or the file is not there."""
    import pytest

    path = find_real_data(name)
    if path is None:
        pytest.skip(f"set {TEST_DATA} to a folder holding {name} to run this test on real data")
    return path
