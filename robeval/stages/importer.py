"""Turn a model trained elsewhere into a robeval run folder, so eval/report/browse accept it.

Supported: the authors' checkpoint (``{"model_state": ...}`` of their ResNet-18 plus separate
``embedding`` (d x C) and ``bias`` files) and plain torchvision/timm-style state dicts whose class
layer is ``fc.*``, ``linear.*``, ``classifier.*`` or ``head.*`` (see models/checkpoint.py), into
robeval's encoders; and ``torchvision:NAME``, ``timm:NAME[.TAG]``, ``torchscript``, your own code
(``py:FILE.py:FUNCTION``, ``package.module:FUNCTION``) and ``robustbench:DATASET/THREAT/NAME``
networks as they are (models/sources.py; ``foreign`` in config.json says how to rebuild them,
``foreign.preprocess`` which preprocessing pipeline feeds them: models/preprocess.py).
docs/import.md.

    robeval eval --import-checkpoint r18.pt --arch torchvision:resnet18 --dataset cifar10 \
        --head learned --mean 0.4914,0.4822,0.4465 --std 0.247,0.243,0.261 --out runs/tv-r18
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from robeval import runs
from robeval.core.environment import environment
from robeval.core.errors import RobevalError
from robeval.core.fileio import new_folder, write_json
from robeval.data.loading import dataset_record, load_split
from robeval.models import ModelConfig, build_model
from robeval.models.checkpoint import describe_mismatch, load_foreign_state, save_checkpoint
from robeval.models.preprocess import Pipeline, explicit_describe, explicit_params
from robeval.models.sources import (
    ForeignClassifier,
    build_source,
    is_foreign,
    is_torchscript,
    source_for,
)
from robeval.models.usercode import file_sha256, split_file_target
from robeval.runs.config_file import write_config
from robeval.training.config import TrainConfig, with_preset_defaults

MAX_SIDE = 4096  # the largest --resize/--crop: 2 images of that side already take 400 MB
SCRIPT_FILE = "model.torchscript"  # an imported TorchScript model's copy inside the run folder


def image_size(dataset: str, data_dir: str | None = None) -> int:
    """The dataset's image side; read from the test images when its record does not fix it
    (``imagefolder:``)."""
    size = dataset_record(dataset).image_size
    return size or int(load_split(dataset, "test", data_dir).images.shape[1])


def explicit_values(given: dict, library: dict) -> dict:
    """The explicit pipeline's mean/std/resize/crop: what the user gave, else what the library
    records, else mean = std = 0.5 (robeval's own training) and no resize or crop."""
    out = {"mean": 0.5, "std": 0.5, "resize": None, "crop": None}
    out.update({k: v for k, v in library.items() if v is not None})
    out.update({k: v for k, v in given.items() if v is not None})
    out.update({k: None for k in ("resize", "crop") if out[k] == 0})  # --resize 0: none at all
    for key in ("resize", "crop"):
        value = out[key]
        if value is not None and not (isinstance(value, int) and not isinstance(value, bool)
                                      and 0 < value <= MAX_SIDE):
            raise RobevalError(f"--{key} takes a whole number of pixels in 1..{MAX_SIDE} (0: none), "
                               f"got {value!r}")
    for key in ("mean", "std"):
        value = out[key]
        if isinstance(value, (list, tuple)) and len(value) != 3:
            raise RobevalError(f"--{key} takes 1 or 3 numbers (one per RGB channel), got {len(value)}")
        values = value if isinstance(value, (list, tuple)) else [value]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                   for v in values):
            raise RobevalError(f"--{key} takes finite numbers (no nan or inf), got {value!r}")
        if key == "std" and any(v <= 0 for v in values):
            raise RobevalError(f"--std values must be > 0, got {value}")
    return out


def preprocess_line(pre: dict) -> str:
    """'normalising with mean=..., std=...' plus resize/crop (or the line of a recorded pipeline,
    ``{"name": ..., "params": ...}``): what an import prints."""
    if "name" in pre and "params" in pre:
        return Pipeline.from_record(pre).describe()
    return explicit_describe(pre)  # a flat {mean, std, resize, crop} of an older import


def imported_line(run_dir: Path) -> str:
    """One line on an imported run: its model and its preprocessing."""
    _, record = runs.open_run(run_dir)
    return (f"{run_dir}: imported {record['config']['arch']}; "
            f"{preprocess_line(record['imported']['preprocess'])}")


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
    head_layer: str | None = None,
    preprocess: dict | None = None,
    data_dir: str | None = None,
    pipeline: str | None = None,
    arch_kwargs: dict | None = None,
    seed: int = 0,
    overwrite: bool = False,
) -> Path:
    """Write ``out`` as a finished robeval run holding the foreign model; returns ``out``.

    ``preprocess``: the explicit values (mean, std, resize, crop) given; ``pipeline``: a
    ``--preprocess`` name (timm, torchvision:WEIGHTS, ...); ``arch_kwargs``: ``--arch-kwargs``.
    The run is built in a staging folder and moved to ``out`` only when complete: a refused
    import leaves nothing behind (and, with ``overwrite``, the previous run as it was)."""
    runs.check_run_folder(out, overwrite=overwrite, resumable=False)
    if head is None:
        if embedding is None:
            raise RobevalError("say how the class layer was trained: --head learned (trained with "
                               "the network) or --head fixed (frozen random class vectors)")
        head = "fixed"  # the authors' separate embedding file is their fixed head
    if not is_foreign(arch) and is_torchscript(checkpoint):
        arch = "torchscript"  # detected: a torch.jit.save file, not a state dict
    if is_foreign(arch):
        _refuse_own_head_options(arch, logits=logits, scale=scale, embedding=embedding, bias=bias)
    elif pipeline not in (None, "explicit") or arch_kwargs:
        raise RobevalError("--preprocess and --arch-kwargs apply to imported networks "
                           "(torchvision:, timm:, py:, robustbench:, ...); robeval's own "
                           f"encoder {arch!r} takes --mean/--std")
    if classes is None:
        classes = load_split(dataset, "test", data_dir).classes
    with new_folder(out) as staging:
        if is_foreign(arch):
            import_foreign(staging, checkpoint, dataset=dataset, arch=arch, head=head, classes=classes,
                           head_layer=head_layer, preprocess=preprocess or {}, data_dir=data_dir,
                           pipeline=pipeline, arch_kwargs=arch_kwargs, seed=seed)
        else:
            _import_into(staging, checkpoint, dataset=dataset, arch=arch, head=head, logits=logits,
                         scale=scale, embedding=embedding, bias=bias, classes=classes,
                         preprocess=preprocess or {}, data_dir=data_dir, seed=seed)
    return out


def _refuse_own_head_options(arch: str, **given) -> None:
    """--logits/-S/--embedding/--bias-file describe robeval's own head; a foreign network keeps its
    own class layer and logits, so they would be dropped without a word: refused instead."""
    used = {"logits": "--logits cosine", "scale": "-S/--scale", "embedding": "--embedding",
            "bias": "--bias-file"}
    wrong = [used[k] for k, v in given.items() if v is not None and not (k == "logits" and v == "dot")]
    if wrong:
        raise RobevalError(f"{', '.join(wrong)} cannot apply to --arch {arch}: its own class layer "
                           "gives the logits (read as dot products); leave them out")


def _import_into(out: Path, checkpoint, *, dataset, arch, head, logits, scale, embedding, bias,
                 classes, preprocess, data_dir, seed) -> None:
    if preprocess.get("resize") or preprocess.get("crop"):
        raise RobevalError("--resize/--crop apply to torchvision:, timm: and torchscript models; "
                           "robeval's own encoders take the dataset's image size")
    size = image_size(dataset, data_dir)
    norm = {k: preprocess[k] for k in ("mean", "std") if preprocess.get(k) is not None}
    cfg = with_preset_defaults(TrainConfig(dataset=dataset, arch=arch, head=head, logits=logits, scale=scale,
                              seed=seed, **norm), size)
    model_config = ModelConfig(arch=arch, num_classes=len(classes), image_size=size, head=head,
                                 logits=logits, scale=cfg.scale or 1.0, init="sphere")
    model = build_model(model_config)
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
    check_finite(model.state_dict(), checkpoint)
    save_checkpoint(out / runs.BEST, {"model": model.state_dict()})
    save_checkpoint(out / runs.LAST, {"model": model.state_dict()})
    write_config(out, cfg, model_config, {"name": dataset, "classes": classes, "image_size": size},
                 environment("cpu"),
                 imported={"checkpoint": _where(checkpoint),
                           "embedding": _where(embedding) if embedding else None,
                           "bias": _where(bias) if bias else None,
                           "preprocess": {"mean": cfg.mean, "std": cfg.std}})
    write_json(out / runs.SUMMARY, {"variant": runs.variant(cfg), "seed": seed, "imported": True,
                                    "best_val_acc": None, "last_val_acc": None})


def _where(path) -> str:
    """The imported file's absolute path: the report names it whatever folder it runs from."""
    return str(Path(path).absolute())


def choose_pipeline(pipeline: str | None, given: dict, net, default: str | None,
                    library: dict) -> Pipeline:
    """The preprocessing pipeline of an import: ``--preprocess`` when given; else with no
    --mean/--std/--resize/--crop the source's own (timm's eval transform for timm:, RobustBench's
    for robustbench:); else explicit, from the flags, the library's values and 0.5."""
    flags = [k for k in ("mean", "std", "resize", "crop") if given.get(k) is not None]
    if pipeline not in (None, "explicit"):
        if flags:
            raise RobevalError(f"--{flags[0]} belongs to the explicit pipeline; --preprocess "
                               f"{pipeline} brings its own values: leave "
                               "--mean/--std/--resize/--crop out")
        return Pipeline.from_option(pipeline, net)
    if pipeline is None and not flags and default:
        return Pipeline.from_option(default, net)
    pre = explicit_values(given, library)
    return Pipeline("explicit", explicit_params(pre["mean"], pre["std"], pre["resize"], pre["crop"]))


def import_foreign(out: Path, checkpoint, *, dataset: str, arch: str, head: str, classes: list[str],
                   head_layer: str | None, preprocess: dict, data_dir: str | None,
                   pipeline: str | None = None, arch_kwargs: dict | None = None,
                   seed: int = 0) -> None:
    """A foreign network (state dict in ``checkpoint``, or a TorchScript file)."""
    source = source_for(arch)
    arg = arch.partition(":")[2]
    if source.name == "py":
        path, name = split_file_target(arg)
        arch, arg = f"py:{path}:{name}", f"{path}:{name}"  # absolute: eval rebuilds it from anywhere
    kwargs = dict(arch_kwargs or {})
    foreign = {"arch": arch, "num_classes": len(classes), "train": head, "file": None}
    if kwargs:
        foreign["kwargs"] = kwargs
    def choose(net):
        return choose_pipeline(pipeline, preprocess, net, source.pipeline(arg), source.preprocessing(net))

    if source.load is not None:  # the maker's own loader (RobustBench's load_model)
        net = source.load(arg, str(checkpoint), len(classes), kwargs)
        chosen = choose(net)
    else:
        net = build_source(arch, len(classes), checkpoint, kwargs)
        chosen = choose(net)  # a bad --preprocess is refused before the weights are read
        if source.name == "torchscript":
            foreign["file"] = SCRIPT_FILE
            torch.jit.save(net, str(out / SCRIPT_FILE))
        else:
            load_state_strictly(net, checkpoint, arch)
    if source.name == "py":
        foreign["code_sha256"] = file_sha256(split_file_target(arg)[0])
    write_foreign_run(out, ForeignClassifier(net, head_layer, head, chosen), foreign, dataset=dataset,
                      classes=classes, origin={"checkpoint": _where(checkpoint)}, data_dir=data_dir,
                      seed=seed)


def load_state_strictly(net: torch.nn.Module, checkpoint, arch: str) -> None:
    """The checkpoint's state dict (unwrapped, ``module.`` removed) into ``net``, every key."""
    from robeval.models.checkpoint import load_checkpoint, unwrap_state

    state = unwrap_state(load_checkpoint(checkpoint))
    if not state:
        raise RobevalError(f"{checkpoint}: found no tensors; save the weights with "
                           "torch.save(model.state_dict(), 'model.pt')")
    try:
        net.load_state_dict(state)
    except RuntimeError:
        raise RobevalError(f"{checkpoint} does not fit {arch}: {describe_mismatch(net, state)}; "
                           "give the --arch (and --arch-kwargs) it was saved from") from None


def check_finite(state: dict, source) -> None:
    """Weights holding NaN or inf give NaN logits: refused at import, naming a tensor."""
    bad = next((k for k, v in state.items() if torch.is_tensor(v) and v.is_floating_point()
                and not bool(torch.isfinite(v).all())), None)
    if bad is not None:
        raise RobevalError(f"{source}: the weights {bad!r} hold NaN or inf; import a checkpoint "
                           "saved before training diverged")


def probe(model: ForeignClassifier, size: int, num_classes: int) -> None:
    """One forward pass on two blank images of the dataset's size (through the model's own
    preprocessing), so a model whose output or input size does not fit is refused at import, in
    one line, not in the middle of eval."""
    import numpy as np

    from robeval.models.inference import predict

    try:
        logits, _ = predict(model, np.zeros((2, size, size, 3), np.uint8), "cpu", mean=0.5, std=0.5)
    except RobevalError:
        raise
    except Exception as exc:  # the network's own error: a size it cannot take, a bad op
        line = (str(exc).strip().splitlines() or [type(exc).__name__])[-1][:200]
        raise RobevalError(f"the model fails on {size}x{size} images (after its preprocessing): "
                           f"{type(exc).__name__}: {line}") from None
    if tuple(logits.shape) != (2, num_classes):
        raise RobevalError(f"the model's logits have shape {tuple(logits.shape)} for 2 images; "
                           f"robeval needs (2, {num_classes}): N x classes")


def write_foreign_run(out: Path, model: ForeignClassifier, foreign: dict, *, dataset: str,
                      classes: list[str], origin: dict, data_dir: str | None, seed: int = 0) -> None:
    """config.json (with ``foreign``: how to rebuild the network and its preprocessing pipeline,
    ``model.pipeline``), checkpoints and summary. ``seed``: the one the model was trained with
    elsewhere, as the user says (the report groups imports of one configuration over seeds)."""
    pipeline = model.pipeline
    size = image_size(dataset, data_dir)
    c, d = model.head.weight.shape
    if c != len(classes):
        raise RobevalError(f"the model's class layer {model.head_layer!r} has {c} outputs; {dataset} has "
                           f"{len(classes)} classes")
    check_finite(model.net.state_dict(), origin.get("checkpoint") or "the model")
    probe(model, size, len(classes))
    # config.mean/std: the pipeline's normalisation where it has one; [0, 1] inputs (RobustBench's)
    # are mean 0, std 1. Eval applies the pipeline itself (foreign.preprocess), not these.
    mean, std = pipeline.params.get("mean", 0.0), pipeline.params.get("std", 1.0)
    cfg = with_preset_defaults(TrainConfig(dataset=dataset, arch=foreign["arch"], head=foreign["train"], logits="dot",
                              mean=mean, std=std, channels_last=False, seed=seed), size)
    model_config = ModelConfig(arch=foreign["arch"], num_classes=c, image_size=size, head=foreign["train"])
    foreign = {**foreign, "head_layer": model.head_layer, "preprocess": pipeline.record(),
               "features": not model.scripted}
    state = {"model": model.net.state_dict()}
    save_checkpoint(out / runs.BEST, state)
    save_checkpoint(out / runs.LAST, state)
    write_config(out, cfg, model_config, {"name": dataset, "classes": classes, "image_size": size},
                 environment("cpu"), foreign=foreign, imported={**origin, "preprocess": pipeline.record()})
    write_json(out / runs.SUMMARY, {"variant": runs.variant(cfg), "seed": seed, "imported": True,
                                    "best_val_acc": None, "last_val_acc": None})
