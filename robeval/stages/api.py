"""The Python API: evaluate any ``nn.Module`` classifier like ``robeval eval`` does.

    import robeval, torchvision
    net = torchvision.models.resnet18(num_classes=10)   # your trained weights loaded here
    result = robeval.evaluate(net, dataset="shapes", conditions="clean,gaussian_noise/3",
                              out="runs/my-r18", head="learned",
                              mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    print(result["conditions"]["clean"]["accuracy"])

The run folder (config.json, eval/*.npz, eval.json, analysis.json) is what the CLI writes, so
``robeval analyze`` and ``robeval report`` read it. The module itself cannot be rebuilt from the
folder: evaluate more conditions with ``robeval.evaluate`` again (same ``out``, ``overwrite=True``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from torch import nn

from robeval import runs
from robeval.analysis.condition_kinds import condition_kind
from robeval.core.errors import RobevalError
from robeval.core.fileio import new_folder


def evaluate(
    model: nn.Module,
    *,
    dataset: str,
    out: str | Path,
    conditions: str = "clean",
    head: str = "learned",
    mean: float | Sequence[float] | None = None,
    std: float | Sequence[float] | None = None,
    resize: int | None = None,
    crop: int | None = None,
    preprocess: str | None = None,
    head_layer: str | None = None,
    classes: list[str] | None = None,
    data_dir: str | None = None,
    device: str = "auto",
    analyze: bool = True,
    overwrite: bool = False,
    progress: bool = False,
    seed: int = 0,
) -> dict:
    """Write ``out`` as a run folder for ``model``, evaluate it on ``conditions`` (and measure the
    geometry when ``analyze``); returns eval.json's contents (with ``analysis`` when analysed).

    ``model`` maps its preprocessed float NCHW input to logits (N x C); its final ``nn.Linear``
    (or ``head_layer``) is the classification layer. ``preprocess`` names the pipeline as the
    CLI's ``--preprocess`` does (``"timm"`` for a timm model's own eval transform,
    ``"timm:resnet50.a1_in1k"``, ``"torchvision:ResNet50_Weights.IMAGENET1K_V2"``,
    ``"robustbench:cifar10/corruptions/Standard"``); without it, the explicit pipeline:
    ``mean``/``std`` (default 0.5), ``resize``, ``crop``. ``seed``: the one it was trained with
    (the report groups models of one configuration over seeds)."""
    from robeval.data.loading import load_split
    from robeval.models.sources import ForeignClassifier
    from robeval.stages.evaluate import evaluate_run
    from robeval.stages.importer import choose_pipeline, write_foreign_run

    if not isinstance(model, nn.Module):
        raise RobevalError(f"robeval.evaluate takes a torch nn.Module, got {type(model).__name__}")
    from robeval.conditions import parse_conditions

    out = Path(out)
    runs.check_run_folder(out, overwrite=overwrite, resumable=False)
    chosen = parse_conditions(conditions, dataset, data_dir)  # a bad name is refused before any writing
    test_classes = load_split(dataset, "test", data_dir).classes
    if classes is None:
        classes = test_classes
    _check_classes(list(classes), test_classes, dataset,
                   scored=any(condition_kind(c.kind).split is not None for c in chosen))
    given = {"mean": _listed(mean), "std": _listed(std), "resize": resize, "crop": crop}
    pipeline = choose_pipeline(preprocess, given, model, None, {})
    wrapped = ForeignClassifier(model, head_layer, head, pipeline)
    foreign = {"arch": "module", "num_classes": len(classes), "train": head, "file": None,
               "class": f"{type(model).__module__}.{type(model).__qualname__}"}
    with new_folder(out) as staging:  # a refusal leaves no half folder (nor replaces the old one)
        write_foreign_run(staging, wrapped, foreign, dataset=dataset, classes=list(classes),
                          origin={"api": "robeval.evaluate"}, data_dir=data_dir, seed=seed)
    result = evaluate_run(out, conditions, device=device, data_dir=data_dir, progress=progress,
                          model=wrapped)
    if analyze and not wrapped.scripted:
        from robeval.stages.analyze import analyze_run

        result = {**result, "analysis": analyze_run(out, plots=False)}
    return result


def _check_classes(classes: list, test_classes: list[str], dataset: str, scored: bool) -> None:
    """The model's class names: distinct strings that include every class of the dataset when its
    own images are ``scored`` (clean, corruptions: matched by name), checked before the run
    folder is written."""
    if not classes or not all(isinstance(c, str) and c for c in classes) or len(set(classes)) != len(classes):
        raise RobevalError(f"classes must be distinct, non-empty names (the model's outputs in order), "
                           f"got {classes[:5]!r}")
    missing = [c for c in test_classes if c not in classes] if scored else []
    if missing:
        raise RobevalError(f"classes lacks {dataset}'s {missing[:5]}: the model is scored on {dataset} "
                           "by class name, so it must have every one of them")


def _listed(value):
    return list(value) if isinstance(value, (list, tuple)) else value
