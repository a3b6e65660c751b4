"""Any albumentations transform as a condition: ``albu:GaussNoise(std_range=(0.1, 0.1))`` on the
command line, or ``albu:FILE.yaml`` for a pipeline written in YAML::

    name: noise-and-rain          # optional; the condition is then albu:noise-and-rain
    transforms:
      - GaussNoise: {std_range: [0.1, 0.1]}
      - RandomRain: {}
      - "Defocus(radius=(3, 3))"   # the command-line form works here too

Arguments are Python literals only (never evaluated code). Each image gets its own seed from
(seed, condition, image index), so results do not depend on order, subsets or workers.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from robeval.core.environment import package_version
from robeval.core.errors import RobevalError
from robeval.corruptions.seeding import condition_key

PREFIX = "albu:"


@dataclass(frozen=True)
class AlbuCorruption:
    """A parsed albumentations condition: transform names with keyword arguments."""

    name: str
    transforms: tuple[tuple[str, dict], ...]
    source: str = ""  # the YAML file, if any
    kind: str = field(default="custom", init=False)

    @property
    def family(self) -> str:
        return self.name

    @property
    def severity(self) -> None:
        return None

    def params(self) -> dict:
        return {"albumentations": [{"transform": t, "args": a} for t, a in self.transforms],
                "albumentations_version": package_version("albumentations"), "yaml": self.source or None}

    def digest(self) -> str:
        text = json.dumps([[t, a] for t, a in self.transforms], sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def parse_call(text: str) -> tuple[str, dict]:
    """``Name(a=1, b=(2, 3))`` -> ("Name", {...}); only literals are accepted."""
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        raise RobevalError(f"albu:{text}: write a transform as Name(arg=value, ...), e.g. "
                           "albu:GaussNoise(std_range=(0.1, 0.1))") from None
    if isinstance(node, ast.Name):
        return node.id, {}
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name) or node.args:
        raise RobevalError(f"albu:{text}: write a transform as Name(arg=value, ...) with keyword "
                           "arguments only, e.g. albu:GaussNoise(std_range=(0.1, 0.1))")
    kwargs = {}
    for kw in node.keywords:
        try:
            kwargs[kw.arg] = ast.literal_eval(kw.value)
        except ValueError:
            raise RobevalError(f"albu:{text}: argument {kw.arg} must be a literal "
                               "(number, string, tuple, list, bool, None)") from None
    return node.func.id, kwargs


def parse(name: str) -> AlbuCorruption:
    """``albu:Name(args)`` or ``albu:FILE.yaml`` -> AlbuCorruption (transforms checked by ``build``)."""
    body = name[len(PREFIX):]
    if body.endswith((".yaml", ".yml")):
        return _parse_yaml(body)
    corruption = AlbuCorruption(name, (parse_call(body),))
    build(corruption)  # fail now, not halfway through an evaluation
    return corruption


def _parse_yaml(path: str) -> AlbuCorruption:
    import yaml

    if not Path(path).is_file():
        raise RobevalError(f"albu:{path}: no such YAML file")
    try:
        doc = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as exc:
        raise RobevalError(f"albu:{path}: not valid YAML ({(str(exc).splitlines() or [type(exc).__name__])[0]})") from None
    items = doc.get("transforms") if isinstance(doc, dict) else doc
    if not isinstance(items, list) or not items:
        raise RobevalError(f"albu:{path}: expected a list 'transforms:' of Name: {{args}} entries")
    transforms = []
    for item in items:
        if isinstance(item, str):
            transforms.append(parse_call(item))
        elif isinstance(item, dict) and len(item) == 1:
            (tname, args), = item.items()
            if args is not None and not isinstance(args, dict):
                raise RobevalError(f"albu:{path}: arguments of {tname} must be a mapping")
            transforms.append((str(tname), dict(args or {})))
        else:
            raise RobevalError(f"albu:{path}: each transform is 'Name: {{args}}' or 'Name(args)'")
    label = doc.get("name") if isinstance(doc, dict) else None
    corruption = AlbuCorruption(f"{PREFIX}{label}" if label else f"{PREFIX}{path}", tuple(transforms),
                    source=str(Path(path).resolve()))
    build(corruption)
    return corruption


def build(corruption: AlbuCorruption):
    """The albumentations pipeline of a corruption; unknown transforms or arguments are RobevalErrors."""
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # no network call on import
    try:
        import albumentations as A
        from albumentations.core.transforms_interface import BasicTransform
    except ImportError:
        raise RobevalError("albu: conditions need albumentations: pip install 'robeval[corrupt]'") from None
    built = []
    for tname, args in corruption.transforms:
        cls = getattr(A, tname, None)
        if not (isinstance(cls, type) and issubclass(cls, BasicTransform)):
            raise RobevalError(f"{corruption.name}: albumentations has no transform {tname!r} (see "
                               "https://albumentations.ai/docs/ for names, e.g. GaussNoise, Defocus)")
        allowed = set(inspect.signature(cls.__init__).parameters) - {"self"}
        unknown = sorted(set(args) - allowed)
        if unknown:
            raise RobevalError(f"{corruption.name}: {tname} takes no argument(s) {', '.join(unknown)}; "
                               f"it takes: {', '.join(sorted(allowed))}")
        try:
            built.append(cls(**{"p": 1.0, **args}))
        except (ValueError, TypeError) as exc:
            first = " ".join(str(exc).split())[:300]
            raise RobevalError(f"{corruption.name}: bad arguments for {tname}: {first}") from None
    return built


def apply(corruption: AlbuCorruption, images: np.ndarray, indices: np.ndarray, seed: int) -> np.ndarray:
    """Apply the pipeline image by image, each seeded from (seed, condition, image index)."""
    transforms = build(corruption)
    out = np.empty_like(images)
    key = condition_key(corruption.name)
    for k, (image, index) in enumerate(zip(images, indices, strict=True)):
        state = np.random.SeedSequence([int(seed), key, int(index)]).generate_state(1)[0]
        x = image
        for i, t in enumerate(transforms):
            t.set_random_seed(int(state) + i)
            x = t(image=x)["image"]
        if x.shape != image.shape or x.dtype != np.uint8:
            raise RobevalError(f"{corruption.name}: the transform must keep uint8 {image.shape} images, "
                               f"it gave {x.dtype} {x.shape}")
        out[k] = x
    return out
