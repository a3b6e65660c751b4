"""Model sources (``--arch``): where a network comes from, one record each.

    robeval eval --import-checkpoint resnet18.pt --arch torchvision:resnet18 --dataset cifar10 \\
        --head learned --out runs/tv-r18 --mean 0.4914,0.4822,0.4465 --std 0.247,0.243,0.261
    robeval eval --import-checkpoint vit.pt --arch timm:vit_tiny_patch16_224.augreg_in21k ... --head learned
    robeval eval --import-checkpoint model.ts --arch torchscript --dataset shapes --head learned ...
    robeval eval --import-checkpoint r18.pt --arch py:cifar_resnet.py:build --arch-kwargs '{"num_classes": 10}' ...
    robeval eval --import-checkpoint Standard.pt --arch robustbench:cifar10/corruptions/Standard ...

- ``torchvision:NAME``: any classification model of ``torchvision.models``, built with
  ``weights=None`` (never downloaded) and ``num_classes=C``; weights from the checkpoint.
- ``timm:NAME[.TAG]``: a timm model (the optional ``timm`` extra), ``pretrained=False``; a tag
  selects that pretrained config (timm's eval transform follows it; models/preprocess.py).
- ``torchscript``: a TorchScript file (``torch.jit.save``); ``--import-checkpoint`` is that file.
- ``py:FILE.py:FUNCTION`` and ``package.module:FUNCTION``: your own code (models/usercode.py),
  called with ``--arch-kwargs``; robeval runs it.
- ``robustbench:DATASET/THREAT/NAME``: an entry of RobustBench's model zoo, its weights loaded by
  RobustBench's own loader from the checkpoint (models/robustbench_zoo.py; never downloaded).

Every foreign network is wrapped in ``ForeignClassifier``, which presents what robeval's own
``Classifier`` does (``forward_features`` -> (logits, penultimate features), ``head.weight``,
``head.bias``), so eval, analyze and report work unchanged. The classification layer is the
network's final ``nn.Linear`` (``fc``, ``head``, ``head.fc``, ``classifier``, ``classifier.N``,
... or ``--head-layer NAME``): its input is the features (a forward pre-hook) and its weight the
class vectors. TorchScript limitation: Python hooks do not fire inside compiled code, so a
TorchScript model gives logits and class vectors but no features (no geometry analysis).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from robeval.core.errors import RobevalError
from robeval.core.registry import Registry
from robeval.models import robustbench_zoo, usercode
from robeval.models.preprocess import Pipeline

HEAD_NAMES = ("fc", "head.fc", "head", "classifier", "linear", "last_linear")


@dataclass(frozen=True)
class ModelSource:
    """``name[:ARG]`` in ``--arch``: ``build(arg, num_classes, kwargs)`` -> nn.Module (random init,
    never downloaded; ``kwargs`` from ``--arch-kwargs``); ``preprocessing(net)`` -> {mean, std,
    resize, crop} the library records for the explicit pipeline, or {}; ``pipeline(arg)`` -> the
    ``--preprocess`` spelling used when no preprocessing flag is given (None: explicit);
    ``load(arg, checkpoint, num_classes, kwargs)`` -> the network with its weights, where the
    maker has its own loader (else the state dict is loaded strictly into ``build``'s network)."""

    name: str
    build: Callable[[str, int, dict], nn.Module]
    preprocessing: Callable[[nn.Module], dict] = field(default=lambda net: {})
    needs_arg: bool = True
    description: str = ""
    pipeline: Callable[[str], str | None] = field(default=lambda arg: None)
    load: Callable[[str, str, int, dict], nn.Module] | None = None
    runs_user_code: bool = False


MODEL_SOURCES: Registry[ModelSource] = Registry("model source")


def _torchvision(name: str, num_classes: int, kwargs: dict | None = None) -> nn.Module:
    from torchvision import models

    try:
        known = models.list_models(module=models)
    except TypeError:  # older torchvision
        known = models.list_models()
    if name not in known:
        raise RobevalError(f"torchvision has no classification model {name!r}; see "
                           "torchvision.models.list_models() (e.g. resnet18, vgg11_bn, vit_b_16)")
    return _construct(models.get_model, f"torchvision:{name}", name, weights=None,
                      **{"num_classes": num_classes, **(kwargs or {})})


def _construct(fn: Callable, where: str, *args, **kwargs) -> nn.Module:
    """A library constructor with ``--arch-kwargs``; a keyword it refuses is a one-line error."""
    try:
        return fn(*args, **kwargs)
    except TypeError as exc:
        raise RobevalError(f"{where} refused its arguments ({exc}); check --arch-kwargs") from None


def _timm(name: str, num_classes: int, kwargs: dict | None = None) -> nn.Module:
    """``timm.create_model(NAME[.TAG], pretrained=False)``: a tag keeps that tag's pretrained_cfg
    (its mean, std, interpolation, crop_pct), downloading nothing."""
    from robeval.models.preprocess import check_timm_name, import_timm

    check_timm_name(name)
    return _construct(import_timm().create_model, f"timm:{name}", name, pretrained=False,
                      **{"num_classes": num_classes, **(kwargs or {})})


def _timm_preprocessing(net: nn.Module) -> dict:
    cfg = getattr(net, "pretrained_cfg", None) or {}
    out: dict = {}
    if cfg.get("mean") and cfg.get("std"):
        out["mean"], out["std"] = [float(v) for v in cfg["mean"]], [float(v) for v in cfg["std"]]
    if cfg.get("input_size"):
        side = int(cfg["input_size"][-1])
        out["crop"] = side
        out["resize"] = int(round(side / float(cfg.get("crop_pct") or 1.0)))
    return out


def _torchscript(path: str, num_classes: int, kwargs: dict | None = None) -> nn.Module:
    if kwargs:
        raise RobevalError("--arch-kwargs does not apply to a TorchScript file (it holds its network)")
    try:
        return torch.jit.load(path, map_location="cpu")
    except (RuntimeError, ValueError, OSError) as exc:
        line = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise RobevalError(f"{path} is not a TorchScript file (torch.jit.save): {line}") from None


MODEL_SOURCES.add(ModelSource("torchvision", _torchvision,
                                             description="torchvision.models.NAME, weights=None"))
MODEL_SOURCES.add(ModelSource("timm", _timm, _timm_preprocessing, pipeline=lambda arg: "timm",
                                      description="timm.create_model(NAME[.TAG], pretrained=False)"))
MODEL_SOURCES.add(ModelSource("torchscript", _torchscript, needs_arg=False,
                                             description="a torch.jit.save file"))
MODEL_SOURCES.add(ModelSource("py", usercode.build_from_file, runs_user_code=True,
                                    description="FUNCTION(**--arch-kwargs) of your FILE.py (runs it)"))
MODEL_SOURCES.add(ModelSource(
    "robustbench", robustbench_zoo.build_entry, pipeline=lambda arg: f"robustbench:{arg}",
    load=robustbench_zoo.load_entry, description="RobustBench's zoo entry DATASET/THREAT/NAME"))
#: ``package.module:FUNCTION``: not a prefix of the registry (the module name comes first)
MODULE_FACTORY = ModelSource("module", usercode.build_from_module, runs_user_code=True,
                             description="FUNCTION(**--arch-kwargs) of an importable module (runs it)")


def source_for(arch: str) -> ModelSource | None:
    """The model source of a foreign ``--arch``; None for robeval's own encoders."""
    name = arch.split(":", 1)[0]
    if name in MODEL_SOURCES:
        return MODEL_SOURCES.get(name)
    return MODULE_FACTORY if usercode.is_module_factory(arch) else None


def is_foreign(arch: str) -> bool:
    """True for ``source:NAME`` archs (``torchscript``, ``package.module:FUNCTION``), False for
    robeval's own encoders."""
    return source_for(arch) is not None


def is_torchscript(path) -> bool:
    """True for a ``torch.jit.save`` archive (a zip with compiled ``code/``), read without loading."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            return any("/code/__torch__" in n for n in z.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def build_source(arch: str, num_classes: int, path: str | None = None,
                 kwargs: dict | None = None) -> nn.Module:
    """The bare network for ``--arch`` (``torchscript`` loads ``path``); ``kwargs`` are
    ``--arch-kwargs`` for its constructor."""
    source = source_for(arch)
    if source is None:
        MODEL_SOURCES.get(arch.split(":", 1)[0])  # the unknown-name error, listing the sources
    name, _, arg = arch.partition(":")
    if source is MODULE_FACTORY:
        return source.build(arch, num_classes, kwargs or {})
    if source.needs_arg and not arg:
        raise RobevalError(f"--arch {name}:NAME needs a model name, e.g. {name}:resnet18")
    return source.build(arg or str(path), num_classes, kwargs or {})


def find_head_layer(net: nn.Module, name: str | None = None) -> tuple[str, nn.Module]:
    """(name, module) of the classification layer: ``name`` when given, else the layer timm's
    pretrained_cfg names, else the first of HEAD_NAMES that is a Linear, else the last Linear in
    ``named_modules``."""
    modules = dict(net.named_modules())
    hint = (getattr(net, "pretrained_cfg", None) or {}).get("classifier")
    hints = (hint,) if isinstance(hint, str) else ()

    def is_linear(m: nn.Module) -> bool:
        return isinstance(m, nn.Linear) or getattr(m, "original_name", "") == "Linear"

    if name is not None:
        if name not in modules or not is_linear(modules[name]):
            linears = [n for n, m in modules.items() if is_linear(m)]
            raise RobevalError(f"--head-layer {name!r} is not a Linear layer of this model; its Linear "
                               f"layers: {', '.join(linears[-4:]) or 'none'}")
        return name, modules[name]
    for candidate in hints + HEAD_NAMES:
        if candidate in modules and is_linear(modules[candidate]):
            return candidate, modules[candidate]
    linears = [(n, m) for n, m in modules.items() if is_linear(m)]
    if not linears:
        raise RobevalError("found no nn.Linear classification layer in this model (a 1x1-conv "
                           "classifier, as in SqueezeNet, is not supported)")
    return linears[-1]


def logits_of(out) -> torch.Tensor:
    """A network's logits: its output, or the first item of a tuple or list (``(logits,
    features)``, as many research models return)."""
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    if not isinstance(out, torch.Tensor):
        raise RobevalError(f"the model returned a {type(out).__name__}, not logits; robeval reads a "
                           "tensor (N x C) or a tuple whose first item is one")
    return out


class ForeignHead:
    """A view of the network's final Linear as robeval's head (dot logits, scale 1)."""

    logits_kind = "dot"
    scale = 1.0

    def __init__(self, linear: nn.Module, train_mode: str) -> None:
        self.linear, self.train_mode = linear, train_mode

    @property
    def weight(self) -> torch.Tensor:
        return self.linear.weight

    @property
    def bias(self) -> torch.Tensor:
        b = getattr(self.linear, "bias", None)
        return b if b is not None else torch.zeros(self.linear.weight.shape[0])


class _NoFeatures(nn.Module):
    nonnegative = False


class ForeignClassifier(nn.Module):
    """A foreign network with robeval's Classifier interface. ``pipeline`` (models/preprocess.py)
    turns uint8 images into its input: ``models.inference.predict`` calls ``prepare_input``;
    ``forward`` takes that input as it is."""

    def __init__(self, net: nn.Module, head_layer: str | None = None, train_mode: str = "learned",
                 pipeline: Pipeline | None = None) -> None:
        super().__init__()
        self.net = net
        self.head_layer, linear = find_head_layer(net, head_layer)
        self.head = ForeignHead(linear, train_mode)
        self.encoder = _NoFeatures()  # robeval reads encoder.nonnegative; foreign features may be < 0
        self.pipeline = pipeline
        self.scripted = isinstance(net, torch.jit.ScriptModule)

    def prepare_input(self, images, device) -> torch.Tensor | None:
        """uint8 (N, H, W, 3) -> the network's input; None without a pipeline (predict then
        normalises with the run's mean and std)."""
        return None if self.pipeline is None else self.pipeline.to_input(images, device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return logits_of(self.net(x))

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(logits, input of the final Linear flattened to N x d); features None for TorchScript."""
        if self.scripted:
            return self.forward(x), None
        seen: list[torch.Tensor] = []
        handle = self.head.linear.register_forward_pre_hook(lambda m, inp: seen.append(inp[0]))
        try:
            logits = self.forward(x)
        finally:
            handle.remove()
        if len(seen) != 1:
            raise RobevalError(f"the head layer {self.head_layer!r} ran {len(seen)} times in one "
                               "forward pass; name the final classification layer with --head-layer")
        return logits, seen[0].flatten(1)
