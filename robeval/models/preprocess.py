"""Preprocessing pipelines: how a dataset's uint8 images become a model's input, one record each.

    --preprocess timm                                   timm's eval transform of the model's pretrained_cfg
    --preprocess timm:resnet50.a1_in1k                  ... of that named (tagged) timm model
    --preprocess torchvision:ResNet50_Weights.IMAGENET1K_V2   that weights enum's transforms()
    --preprocess robustbench:cifar10/corruptions/Standard     RobustBench's preprocessing of a zoo entry
    --preprocess explicit                               --mean/--std/--resize/--crop (robeval's own)

A pipeline is a name plus JSON parameters that rebuild it (config.json's ``foreign.preprocess``:
``{"name": "timm", "params": {"input_size": [3, 224, 224], "interpolation": "bicubic", ...}}``),
never a repr. The makers' pipelines (timm, torchvision, robustbench) are the makers' own transform
objects, rebuilt from those parameters and applied per image to ``PIL.Image.fromarray`` of the
uint8 array: robeval's loaders decode files with ``PIL.Image.open(...).convert("RGB")`` as timm's
and torchvision's loaders do, so the model sees what their validation scripts give it. Conditions
(corruptions) are applied to the uint8 images at the dataset's own resolution first; the pipeline
comes after, on every condition alike.

``explicit`` is robeval's batched tensor path: scale to [0, 1], normalise ``(x - mean) / std``,
then optionally resize the shorter side (bilinear, antialiased when shrinking) and centre-crop.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from robeval.core.errors import RobevalError
from robeval.core.registry import Registry

#: a built pipeline: (uint8 batch (N, H, W, 3), device) -> the model's float input on that device
Runner = Callable[[np.ndarray, "str | torch.device"], torch.Tensor]


@dataclass(frozen=True)
class PipelineKind:
    """``--preprocess NAME[:ARG]``. ``read_params(arg, net)`` -> JSON parameters (read from the
    maker's library once, at import); ``build(params)`` -> a Runner turning one uint8 batch
    (N, H, W, 3) into the model's float input (N, C, h, w); ``describe(params)`` -> one line."""

    name: str
    read_params: Callable[[str, object], dict]
    build: Callable[[dict], Runner]
    describe: Callable[[dict], str]
    library: str = ""  # the package whose version is recorded beside the parameters
    description: str = ""


PIPELINES: Registry[PipelineKind] = Registry("preprocessing")


@dataclass
class Pipeline:
    """One resolved pipeline: ``name`` + ``params`` rebuild it; ``to_input`` runs it on a batch."""

    name: str
    params: dict
    version: str = ""
    _run: Runner | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_option(cls, option: str, net=None) -> Pipeline:
        """The pipeline ``--preprocess OPTION`` names (``timm``, ``torchvision:WEIGHTS``, ...)."""
        name, _, arg = option.partition(":")
        kind = PIPELINES.get(name)
        return cls(kind.name, kind.read_params(arg, net), _library_version(kind.library))

    @classmethod
    def from_record(cls, record: dict) -> Pipeline:
        """Rebuild from config.json's ``{"name": ..., "params": ...}``."""
        return cls(record["name"], dict(record["params"]), record.get("version", ""))

    def record(self) -> dict:
        out = {"name": self.name, "params": self.params}
        return {**out, "version": self.version} if self.version else out

    def describe(self) -> str:
        return PIPELINES.get(self.name).describe(self.params)

    def to_input(self, images: np.ndarray, device: str | torch.device = "cpu") -> torch.Tensor:
        """uint8 (N, H, W, 3) -> the model's float input (N, C, h, w) on ``device``."""
        if self._run is None:
            self._run = PIPELINES.get(self.name).build(self.params)
        return self._run(images, device)


def _library_version(module: str) -> str:
    if not module:
        return ""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"{module} {version(module)}"
    except PackageNotFoundError:
        return module


def per_image(transform: Callable) -> Runner:
    """Apply a PIL transform (the maker's own object) to each image of a uint8 batch, in threads
    (PIL's resampling releases the GIL), and stack the results."""
    from PIL import Image

    def run(images: np.ndarray, device) -> torch.Tensor:
        if len(images) == 0:
            return torch.zeros(0, device=device)
        workers = min(8, os.cpu_count() or 1, len(images))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            tensors = list(pool.map(lambda a: transform(Image.fromarray(a)), images))
        return torch.stack(tensors).to(device)

    return run


def _floats(values: Sequence[float] | float) -> str:
    if isinstance(values, (list, tuple)):
        return ",".join(f"{float(v):g}" for v in values)
    return f"{float(values):g}"


# --- explicit: robeval's own (today's --mean/--std/--resize/--crop) ---------------------------


def explicit_params(mean, std, resize: int | None = None, crop: int | None = None) -> dict:
    return {"mean": mean, "std": std, "resize": resize or None, "crop": crop or None}


def _explicit_build(params: dict) -> Runner:
    from robeval.models.inference import to_input

    resize, crop = params.get("resize"), params.get("crop")

    def run(images: np.ndarray, device) -> torch.Tensor:  # on the device, in whole batches
        x = to_input(torch.from_numpy(np.ascontiguousarray(images)).to(device), params["mean"],
                     params["std"])
        # contiguous NCHW, as torchvision's ToTensor gives: convolutions then take the same kernels
        return resize_crop(x, resize, crop).contiguous()

    return run


def resize_crop(x: torch.Tensor, resize: int | None, crop: int | None) -> torch.Tensor:
    """Shorter side to ``resize`` (bilinear, antialiased when shrinking), then a centre crop."""
    if resize:
        h, w = x.shape[-2:]
        s = resize / min(h, w)
        x = F.interpolate(x, size=(round(h * s), round(w * s)), mode="bilinear",
                          align_corners=False, antialias=s < 1)
    if crop:
        h, w = x.shape[-2:]
        top, left = (h - crop) // 2, (w - crop) // 2
        if top < 0 or left < 0:
            raise RobevalError(f"--crop {crop} is larger than the {h}x{w} input; add --resize")
        x = x[..., top : top + crop, left : left + crop]
    return x


def explicit_describe(p: dict) -> str:
    """The line an import prints for explicit mean/std (resize, crop) preprocessing."""
    line = f"normalising with mean={_floats(p['mean'])}, std={_floats(p['std'])}"
    if p.get("resize"):
        line += f", resize shorter side to {p['resize']}"
    if p.get("crop"):
        line += f", centre crop {p['crop']}"
    return line


def _explicit_params(arg: str, net) -> dict:
    raise RobevalError("--preprocess explicit takes its values from --mean/--std/--resize/--crop")


PIPELINES.add(PipelineKind(
    "explicit", _explicit_params, _explicit_build, explicit_describe,
    description="robeval's own: [0, 1], (x - mean) / std, bilinear resize, centre crop"))


# --- timm: resolve_data_config + create_transform ---------------------------------------------

TIMM_KEYS = ("input_size", "interpolation", "mean", "std", "crop_pct", "crop_mode")


def import_timm():
    try:
        return importlib.import_module("timm")
    except ImportError:
        raise RobevalError("timm models and pipelines need timm: pip install 'robeval[timm]'") from None


def check_timm_name(name: str) -> None:
    """Refuse unknown timm names and tags in one line (``resnet18.a1_in1k``: the a1_in1k tag)."""
    timm = import_timm()
    arch, _, tag = name.partition(".")
    if not timm.is_model(arch):
        raise RobevalError(f"timm has no model {arch!r}; see timm.list_models('*{arch[:6]}*')")
    if tag and name not in timm.list_pretrained(f"{arch}.*"):
        tags = [n.partition(".")[2] for n in timm.list_pretrained(f"{arch}.*")]
        raise RobevalError(f"timm's {arch} has no pretrained tag {tag!r}; its tags: "
                           f"{', '.join(tags[:8]) or 'none'}{' ...' if len(tags) > 8 else ''}")


def _timm_params(arg: str, net) -> dict:
    """timm's own ``resolve_data_config``: of the named model (``timm:NAME[.TAG]``), else of the
    network's pretrained_cfg (a timm model, or one carrying timm's ``pretrained_cfg``)."""
    import_timm()
    from timm.data import resolve_data_config
    from timm.models import get_pretrained_cfg

    if arg:
        check_timm_name(arg)
        cfg = resolve_data_config({}, pretrained_cfg=get_pretrained_cfg(arg).to_dict())
    elif getattr(net, "pretrained_cfg", None):
        cfg = resolve_data_config({}, model=net)
    else:
        raise RobevalError("--preprocess timm needs a timm model (one with a pretrained_cfg); for "
                           "another model name the timm config: --preprocess timm:resnet50.a1_in1k")
    params = {k: cfg[k] for k in TIMM_KEYS if k in cfg}
    return {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}


def _timm_build(params: dict) -> Runner:
    import_timm()
    from timm.data import create_transform

    args = {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}
    return per_image(create_transform(**args, is_training=False))


def _timm_describe(p: dict) -> str:
    side = p["input_size"][-1]
    scale = int(side / p["crop_pct"]) if p.get("crop_pct") else side
    return (f"timm's eval transform: resize to {scale} ({p.get('interpolation')}, crop_pct "
            f"{p.get('crop_pct')}, {p.get('crop_mode', 'center')}), crop {side}, mean="
            f"{_floats(p['mean'])}, std={_floats(p['std'])}")


PIPELINES.add(PipelineKind(
    "timm", _timm_params, _timm_build, _timm_describe, library="timm",
    description="timm.data.create_transform(**resolve_data_config(model)) on each PIL image"))


# --- torchvision: a weights enum's transforms() ------------------------------------------------

TORCHVISION_KEYS = ("resize_size", "crop_size", "mean", "std", "interpolation", "antialias")


def _torchvision_transform(name: str):
    from torchvision.models import get_weight

    try:
        weights = get_weight(name)
    except (KeyError, ValueError, AttributeError):
        raise RobevalError(f"torchvision has no weights enum {name!r}; name one as Enum.VALUE, e.g. "
                           "ResNet50_Weights.IMAGENET1K_V2 (torchvision.models.get_model_weights("
                           "'resnet50') lists them)") from None
    transform = weights.transforms()
    if not all(hasattr(transform, k) for k in TORCHVISION_KEYS):
        raise RobevalError(f"{name}.transforms() is not an image-classification transform")
    return transform


def _torchvision_values(transform) -> dict:
    def plain(v):
        v = getattr(v, "value", v)  # InterpolationMode -> 'bilinear'
        return list(v) if isinstance(v, (list, tuple)) else v

    return {k: plain(getattr(transform, k)) for k in TORCHVISION_KEYS}


def _torchvision_params(arg: str, net) -> dict:
    if not arg:
        raise RobevalError("--preprocess torchvision:WEIGHTS names a weights enum, e.g. "
                           "torchvision:ResNet50_Weights.IMAGENET1K_V2")
    return {"weights": arg, **_torchvision_values(_torchvision_transform(arg))}


def _torchvision_build(params: dict) -> Runner:
    transform = _torchvision_transform(params["weights"])
    now = _torchvision_values(transform)
    changed = [k for k in TORCHVISION_KEYS if k in params and params[k] != now[k]]
    if changed:
        raise RobevalError(f"{params['weights']}.transforms() changed since this run was imported "
                           f"({', '.join(changed)}); use the torchvision version in config.json")
    return per_image(transform)


def _torchvision_describe(p: dict) -> str:
    return (f"{p['weights']}.transforms(): resize to {_floats(p['resize_size'])} "
            f"({p['interpolation']}), crop {_floats(p['crop_size'])}, mean={_floats(p['mean'])}, "
            f"std={_floats(p['std'])}")


PIPELINES.add(PipelineKind(
    "torchvision", _torchvision_params, _torchvision_build, _torchvision_describe,
    library="torchvision", description="a torchvision weights enum's transforms() on each PIL image"))


# --- robustbench: its preprocessing of a zoo entry --------------------------------------------


def _robustbench_params(arg: str, net) -> dict:
    from robeval.models.robustbench_zoo import zoo_preprocessing

    return zoo_preprocessing(arg)


def _robustbench_build(params: dict) -> Runner:
    from robeval.models.robustbench_zoo import preprocessing_transform

    key = params.get("preprocessing")
    if key is None:
        # RobustBench's CIFAR-C path (load_corruptions_cifar): np.transpose to NCHW, astype(float32)
        # / 255, torch.tensor, which keeps the transposed (channels-last) strides. ToTensor on a PIL
        # image gives the same floats in contiguous memory; the convolutions then differ by ~1e-6.
        return lambda images, device: torch.tensor(
            np.transpose(images, (0, 3, 1, 2)).astype(np.float32) / 255).to(device)
    return per_image(preprocessing_transform(key))


def _robustbench_describe(p: dict) -> str:
    what = p.get("preprocessing") or "ToTensor"
    return (f"RobustBench's preprocessing of {p['dataset']}/{p['threat_model']}/{p['model']}: "
            f"{what} (inputs in [0, 1]; the model normalises)")


PIPELINES.add(PipelineKind(
    "robustbench", _robustbench_params, _robustbench_build, _robustbench_describe,
    library="robustbench", description="RobustBench's preprocessing of a zoo entry ([0, 1] inputs)"))
