"""RobustBench's model zoo as a model source: ``--arch robustbench:DATASET/THREAT/NAME``.

    robeval eval --import-checkpoint Standard.pt --arch robustbench:cifar10/corruptions/Standard \\
        --dataset cifar10 --head learned --out runs/rb-standard --conditions released:all

The network is the zoo entry's own constructor (``model_zoo[dataset][threat][name]['model']()``);
its weights come from ``--import-checkpoint`` only: the file RobustBench itself downloads for the
entry (``models/<dataset>/<threat>/<name>.pt``), loaded by RobustBench's own ``load_model`` from a
temporary model folder holding that file, so its rules (``state_dict`` unwrapping, ``module.`` and
``model.`` prefixes, the entries it loads non-strictly) apply as they do for its users. Nothing is
downloaded: the download functions refuse while robeval builds a zoo network. The preprocessing
is the entry's (ToTensor for CIFAR, inputs in [0, 1]; its ImageNet crops): the models normalise
inside. Ensembles (several files per entry) and entries without a checkpoint of their own are
refused with what to do instead.

robustbench is an optional extra that stands apart from ``[all]``: robustbench 1.1.1 pins
``timm==1.0.9``, so it is installed with ``--no-deps`` beside its other needs (docs/import.md).
It imports ``autoattack``, which the ``pyautoattack`` package provides under another name.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import sys
import tempfile
import warnings
from pathlib import Path
from types import SimpleNamespace

import torch
from torch import nn

from robeval.core.errors import RobevalError

INSTALL = ("pip install 'robeval[robustbench]' && pip install --no-deps robustbench==1.1.1 "
           "(docs/import.md)")


def robustbench() -> SimpleNamespace:
    """robustbench's utils, data and zoo modules and its enums; a RobevalError when not installed."""
    if importlib.util.find_spec("autoattack") is None and importlib.util.find_spec("pyautoattack"):
        sys.modules.setdefault("autoattack", importlib.import_module("pyautoattack"))
    try:
        with warnings.catch_warnings():  # deprecation notes of timm's old paths, pkg_resources
            warnings.simplefilter("ignore")
            utils = importlib.import_module("robustbench.utils")
            data = importlib.import_module("robustbench.data")
            enums = importlib.import_module("robustbench.model_zoo.enums")
    except ImportError as exc:
        raise RobevalError(f"robustbench: models need the robustbench extra ({exc}): {INSTALL}") from None
    return SimpleNamespace(utils=utils, data=data, zoo=utils.all_models,
                           Dataset=enums.BenchmarkDataset, Threat=enums.ThreatModel)


def parse_entry(arg: str):
    """'cifar10/corruptions/Standard' -> (BenchmarkDataset, ThreatModel, name, zoo entry)."""
    rb = robustbench()
    parts = arg.split("/", 2)
    if len(parts) != 3 or not all(parts):
        raise RobevalError(f"robustbench:{arg}: name an entry as robustbench:DATASET/THREAT/NAME, "
                           "e.g. robustbench:cifar10/corruptions/Standard")
    ds_name, threat_name, name = parts
    datasets = {d.value.lower(): d for d in rb.Dataset}
    threats = {t.value.lower(): t for t in rb.Threat}
    if ds_name.lower() not in datasets:
        raise RobevalError(f"RobustBench has no dataset {ds_name!r}; choose one of: {', '.join(datasets)}")
    if threat_name.lower() not in threats:
        raise RobevalError(f"RobustBench has no threat model {threat_name!r}; choose one of: "
                           f"{', '.join(t.value for t in rb.Threat)}")
    dataset = datasets[ds_name.lower()]
    threat = threats[threat_name.lower()]
    if threat.value == "corruptions_3d":  # RobustBench keeps those models under corruptions
        threat = rb.Threat("corruptions")
    entries = rb.zoo[dataset].get(threat, {})
    if name not in entries:
        import difflib

        close = difflib.get_close_matches(name, list(entries), n=4, cutoff=0.5) or list(entries)[:6]
        raise RobevalError(f"RobustBench's {dataset.value}/{threat.value} zoo has no model {name!r}; "
                           f"its models include: {', '.join(close)} ({len(entries)} in all; "
                           "robustbench.model_zoo.model_dicts lists them)")
    return dataset, threat, name, entries[name]


def _check_loadable(dataset, threat, name: str, entry: dict) -> None:
    where = f"robustbench:{dataset.value}/{threat.value}/{name}"
    ids = entry.get("gdrive_id")
    if isinstance(ids, (list, tuple)):
        raise RobevalError(f"{where} is an ensemble of {len(ids)} networks saved in {len(ids)} files; "
                           "robeval imports one checkpoint file: import a single-network entry")
    if not ids or (dataset.value == "imagenet" and "Standard" in name):
        raise RobevalError(f"{where} has no checkpoint of its own in RobustBench (its code takes "
                           "pretrained torchvision/timm weights, which robeval never downloads); "
                           "import those weights with --arch torchvision:NAME or timm:NAME")


@contextlib.contextmanager
def no_downloads(rb: SimpleNamespace, what: str):
    """While a zoo network is built, every download function robustbench, torch.hub and timm use
    refuses (robeval never downloads weights)."""
    def refuse(*args, **kwargs):
        raise RobevalError(f"{what} tried to download weights, which robeval never does; import "
                           "a checkpoint file you have with --import-checkpoint")

    targets = [(torch.hub, "download_url_to_file"), (rb.utils, "download_gdrive_new"),
               (rb.utils, "download_gdrive")]
    hub = sys.modules.get("timm.models._hub")
    if hub is not None and hasattr(hub, "hf_hub_download"):
        targets.append((hub, "hf_hub_download"))
    saved = [(obj, attr, getattr(obj, attr)) for obj, attr in targets if hasattr(obj, attr)]
    for obj, attr, _ in saved:
        setattr(obj, attr, refuse)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for obj, attr, original in saved:
            setattr(obj, attr, original)


def build_entry(arg: str, num_classes: int, kwargs: dict | None = None) -> nn.Module:
    """The zoo entry's network, as its constructor makes it (random init; nothing downloaded)."""
    if kwargs:
        raise RobevalError("robustbench: models take no --arch-kwargs; their zoo entry fixes them")
    rb = robustbench()
    dataset, threat, name, entry = parse_entry(arg)
    _check_loadable(dataset, threat, name, entry)
    with no_downloads(rb, f"robustbench:{arg}"):
        return entry["model"]().eval()


def load_entry(arg: str, checkpoint: str | Path, num_classes: int,
               kwargs: dict | None = None) -> nn.Module:
    """The zoo network with the weights of ``checkpoint`` (a RobustBench-format file), loaded by
    RobustBench's own ``load_model`` from a temporary model folder that holds only that file."""
    from robeval.models.checkpoint import (
        describe_mismatch,
        first_line,
        load_checkpoint,
        unwrap_state,
    )

    net = build_entry(arg, num_classes, kwargs)  # checks the entry and that it builds here
    rb = robustbench()
    dataset, threat, name, _ = parse_entry(arg)
    raw = load_checkpoint(checkpoint)  # weights only; a damaged file gives robeval's message
    with tempfile.TemporaryDirectory(prefix="robeval-robustbench-") as tmp:
        target = Path(tmp) / dataset.value / threat.value / f"{name}.pt"
        target.parent.mkdir(parents=True)
        if Path(checkpoint).suffix == ".safetensors":
            torch.save(raw, target)
        else:
            os.symlink(Path(checkpoint).resolve(), target)
        try:
            with no_downloads(rb, f"robustbench:{arg}"):
                return rb.utils.load_model(name, model_dir=tmp, dataset=dataset.value,
                                           threat_model=threat.value).eval()
        except RobevalError:
            raise
        except RuntimeError:
            state = unwrap_state(raw.get("last", raw) if isinstance(raw, dict) else raw)
            state = {k.replace("model.", ""): v for k, v in state.items()}
            raise RobevalError(f"{checkpoint} does not fit robustbench:{arg}: "
                               f"{describe_mismatch(net, state)}; give the file RobustBench "
                               "distributes for this entry") from None
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise RobevalError(f"{checkpoint} is not in RobustBench's format for {name} "
                               f"({type(exc).__name__}: {first_line(exc)}); give the file "
                               "RobustBench distributes for this entry") from None


def zoo_preprocessing(arg: str) -> dict:
    """The entry's preprocessing as RobustBench's ``get_preprocessing`` chooses it, recorded by
    its key in ``robustbench.data.PREPROCESSINGS`` (None: ToTensor, inputs in [0, 1])."""
    rb = robustbench()
    dataset, threat, name, entry = parse_entry(arg)
    key = entry.get("preprocessing") if dataset.value == "imagenet" else None
    chosen = rb.data.get_preprocessing(dataset, threat, name, None)
    if chosen is not rb.data.PREPROCESSINGS.get(key):
        raise RobevalError(f"RobustBench preprocesses {name} with a transform robeval cannot record "
                           "by name; give --preprocess timm:NAME or torchvision:WEIGHTS instead")
    return {"dataset": dataset.value, "threat_model": threat.value, "model": name,
            "preprocessing": key}


def preprocessing_transform(key: str):
    """RobustBench's own transform object for a ``PREPROCESSINGS`` key."""
    table = robustbench().data.PREPROCESSINGS
    if key not in table:
        raise RobevalError(f"RobustBench has no preprocessing {key!r}; its names: "
                           f"{', '.join(str(k) for k in table)}")
    return table[key]
