"""Small shared pieces for the tests: a tiny real training config on the embedded data."""

from robeval.training.config import TrainConfig


def tiny_config(**overrides) -> TrainConfig:
    """A run that trains in a few seconds on CPU: smallcnn on 1024 shapes images."""
    base = dict(dataset="shapes", arch="smallcnn", epochs=2, batch_size=32, max_train=1024,
                lr=0.05, seed=0, preset="quick")
    base.update(overrides)
    return TrainConfig(**base)
