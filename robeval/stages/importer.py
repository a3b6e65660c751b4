"""Turn a model trained elsewhere into a robeval run folder, so eval/report/browse accept it.

Supported: the authors' checkpoint (``{"model_state": ...}`` of their ResNet-18 plus separate
``embedding`` (d x C) and ``bias`` files) and plain torchvision/timm-style state dicts whose class
layer is ``fc.*``, ``linear.*``, ``classifier.*`` or ``head.*`` (see models/checkpoint.py).
"""

from __future__ import annotations

from pathlib import Path

import torch

from robeval import runs
from robeval.core.environment import environment
from robeval.core.errors import RobevalError
from robeval.core.fileio import write_json
from robeval.data.loading import dataset_spec
from robeval.models import ModelSpec, build_model
from robeval.models.checkpoint import describe_mismatch, load_foreign_state, save_checkpoint
from robeval.runs.config_file import write_config
from robeval.training.config import TrainConfig, resolve


def import_run(
    checkpoint: str | Path,
    out: Path,
    *,
    dataset: str,
    arch: str,
    head: str,
    logits: str,
    scale: float | None = None,
    embedding: str | Path | None = None,
    bias: str | Path | None = None,
    classes: list[str] | None = None,
) -> Path:
    """Write ``out`` as a finished robeval run holding the foreign model; returns ``out``.

    A checkpoint that does not load leaves no folder behind."""
    runs.prepare_out_dir(out, resume=False, overwrite=False)
    try:
        _import_into(out, checkpoint, dataset=dataset, arch=arch, head=head, logits=logits,
                     scale=scale, embedding=embedding, bias=bias, classes=classes)
    except BaseException:
        if out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        raise
    return out


def _import_into(out: Path, checkpoint, *, dataset, arch, head, logits, scale, embedding, bias,
                 classes) -> None:
    spec_ds = dataset_spec(dataset)
    if classes is None:
        from robeval.data import load_split

        classes = load_split(dataset, "test").classes
    cfg = resolve(TrainConfig(dataset=dataset, arch=arch, head=head, logits=logits, scale=scale),
                  spec_ds.image_size)
    spec = ModelSpec(arch=arch, num_classes=len(classes), image_size=spec_ds.image_size, head=head,
                     logits=logits, scale=cfg.scale or 1.0, init="sphere")
    model = build_model(spec)
    encoder_state, weight, bias_t = load_foreign_state(checkpoint, embedding, bias)
    try:
        model.encoder.load_state_dict(encoder_state)
    except RuntimeError:
        raise RobevalError(f"{checkpoint} does not fit encoder {arch!r}: "
                           f"{describe_mismatch(model.encoder, encoder_state)}") from None
    if weight is None:
        raise RobevalError(f"{checkpoint} has no class layer; pass the class vectors with --embedding")
    if tuple(weight.shape) != tuple(model.head.weight.shape):
        raise RobevalError(f"class vectors have shape {tuple(weight.shape)}, the model needs "
                           f"{tuple(model.head.weight.shape)} (C x d)")
    with torch.no_grad():
        model.head.weight.copy_(weight.float())
        model.head.bias.copy_(bias_t.float() if bias_t is not None else torch.zeros_like(model.head.bias))
    save_checkpoint(out / runs.BEST, {"model": model.state_dict()})
    save_checkpoint(out / runs.LAST, {"model": model.state_dict()})
    write_config(out, cfg, spec, {"name": dataset, "classes": classes, "image_size": spec_ds.image_size},
                 environment("cpu"),
                 imported={"checkpoint": str(checkpoint),
                           "embedding": str(embedding) if embedding else None,
                           "bias": str(bias) if bias else None})
    write_json(out / runs.SUMMARY, {"variant": runs.variant(cfg), "seed": None, "imported": True,
                                    "best_val_acc": None, "last_val_acc": None})
