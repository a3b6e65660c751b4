"""Model sources (``--arch``): where a network comes from, one record each.

    robeval eval --import-checkpoint resnet18.pt --arch torchvision:resnet18 --dataset cifar10 \\
        --head learned --out runs/tv-r18 --mean 0.4914,0.4822,0.4465 --std 0.247,0.243,0.261
    robeval eval --import-checkpoint vit.pt --arch timm:vit_tiny_patch16_224 ... --head learned
    robeval eval --import-checkpoint model.ts --arch torchscript --dataset shapes --head learned ...

- ``torchvision:NAME``: any classification model of ``torchvision.models``, built with
  ``weights=None`` (never downloaded) and ``num_classes=C``; weights from the checkpoint.
- ``timm:NAME``: a timm model (the optional ``timm`` extra), ``pretrained=False``; its
  pretrained_cfg gives mean, std and input size when present.
- ``torchscript``: a TorchScript file (``torch.jit.save``); ``--import-checkpoint`` is that file.

Every foreign network is wrapped in ``ForeignClassifier``, which presents what robeval's own
``Classifier`` does (``forward_features`` -> (logits, penultimate features), ``head.weight``,
``head.bias``), so eval, analyze and report work unchanged. The classification layer is the
network's final ``nn.Linear`` (``fc``, ``head``, ``head.fc``, ``classifier``, ``classifier.N``,
... or ``--head-layer NAME``): its input is the features (a forward pre-hook) and its weight the
class vectors. TorchScript limitation: Python hooks do not fire inside compiled code, so a
TorchScript model gives logits and class vectors but no features (no geometry analysis).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from robeval.core.errors import RobevalError
from robeval.core.registry import Registry

HEAD_NAMES = ("fc", "head.fc", "head", "classifier", "linear", "last_linear")


@dataclass(frozen=True)
class ModelSource:
    """``name[:ARG]`` in ``--arch``: ``build(arg, num_classes)`` -> nn.Module (random init, never
    downloaded); ``preprocessing(net)`` -> {mean, std, resize, crop} the library records, or {}."""

    name: str
    build: Callable[[str, int], nn.Module]
    preprocessing: Callable[[nn.Module], dict] = field(default=lambda net: {})
    needs_arg: bool = True
    description: str = ""


MODEL_SOURCES: Registry[ModelSource] = Registry("model source")


def _torchvision(name: str, num_classes: int) -> nn.Module:
    from torchvision import models

    try:
        known = models.list_models(module=models)
    except TypeError:  # older torchvision
        known = models.list_models()
    if name not in known:
        raise RobevalError(f"torchvision has no classification model {name!r}; see "
                           "torchvision.models.list_models() (e.g. resnet18, vgg11_bn, vit_b_16)")
    return models.get_model(name, weights=None, num_classes=num_classes)


def _timm(name: str, num_classes: int) -> nn.Module:
    try:
        timm = importlib.import_module("timm")
    except ImportError:
        raise RobevalError("timm:NAME needs timm: pip install 'robeval[timm]'") from None
    if not timm.list_models(name):
        raise RobevalError(f"timm has no model {name!r}; see timm.list_models('*{name[:6]}*')")
    return timm.create_model(name, pretrained=False, num_classes=num_classes)


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


def _torchscript(path: str, num_classes: int) -> nn.Module:
    try:
        return torch.jit.load(path, map_location="cpu")
    except (RuntimeError, ValueError, OSError) as exc:
        line = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise RobevalError(f"{path} is not a TorchScript file (torch.jit.save): {line}") from None


MODEL_SOURCES.add("torchvision", ModelSource("torchvision", _torchvision,
                                             description="torchvision.models.NAME, weights=None"))
MODEL_SOURCES.add("timm", ModelSource("timm", _timm, _timm_preprocessing,
                                      description="timm.create_model(NAME, pretrained=False)"))
MODEL_SOURCES.add("torchscript", ModelSource("torchscript", _torchscript, needs_arg=False,
                                             description="a torch.jit.save file"))


def is_foreign(arch: str) -> bool:
    """True for ``source:NAME`` archs (and ``torchscript``), False for robeval's own encoders."""
    return arch.split(":", 1)[0] in MODEL_SOURCES.names()


def is_torchscript(path) -> bool:
    """True for a ``torch.jit.save`` archive (a zip with compiled ``code/``), read without loading."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            return any("/code/__torch__" in n for n in z.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def build_source(arch: str, num_classes: int, path: str | None = None) -> nn.Module:
    """The bare network for ``--arch`` (``torchscript`` loads ``path``)."""
    name, _, arg = arch.partition(":")
    source = MODEL_SOURCES.get(name)
    if source.needs_arg and not arg:
        raise RobevalError(f"--arch {name}:NAME needs a model name, e.g. {name}:resnet18")
    return source.build(arg or str(path), num_classes)


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
    """A foreign network with robeval's Classifier interface. ``resize``/``crop`` (pixels) are
    applied to the normalised input (per-channel normalisation commutes with both)."""

    def __init__(self, net: nn.Module, head_layer: str | None = None, train_mode: str = "learned",
                 resize: int | None = None, crop: int | None = None) -> None:
        super().__init__()
        self.net = net
        self.head_layer, linear = find_head_layer(net, head_layer)
        self.head = ForeignHead(linear, train_mode)
        self.encoder = _NoFeatures()  # robeval reads encoder.nonnegative; foreign features may be < 0
        self.resize, self.crop = resize, crop
        self.scripted = isinstance(net, torch.jit.ScriptModule)

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        if self.resize:
            h, w = x.shape[-2:]
            s = self.resize / min(h, w)
            x = F.interpolate(x, size=(round(h * s), round(w * s)), mode="bilinear",
                              align_corners=False, antialias=s < 1)
        if self.crop:
            h, w = x.shape[-2:]
            top, left = (h - self.crop) // 2, (w - self.crop) // 2
            if top < 0 or left < 0:
                raise RobevalError(f"--crop {self.crop} is larger than the {h}x{w} input; add --resize")
            x = x[..., top : top + self.crop, left : left + self.crop]
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return logits_of(self.net(self.preprocess(x)))

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
