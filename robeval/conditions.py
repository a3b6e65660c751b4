"""Evaluation conditions: named ways to get a labelled test set for a dataset.

A condition is e.g. ``clean``, ``genset:shapes-shift`` (a generalisation set) or, once the
corruption module registers them, ``defocus_blur/3``. Providers list the conditions that exist
for a dataset; parsers turn dynamic names (``albu:...``) into conditions. ``resolve`` turns a
``--conditions`` string into a list:

    all                 every condition available for the dataset
    GROUP:all           every condition of one provider (e.g. corrupt:all, genset:all)
    NAME[,NAME...]      exact names (commas inside parentheses do not split)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from robeval.data import ImageSet, load_split
from robeval.errors import RobevalError
from robeval.registry import Registry


@dataclass
class ConditionContext:
    """What a condition may need to build its images; the clean test set is loaded once."""

    dataset: str
    data_dir: str | Path | None = None
    seed: int = 0
    options: dict = field(default_factory=dict)

    @cached_property
    def clean_test(self) -> ImageSet:
        return load_split(self.dataset, "test", self.data_dir)


@dataclass(frozen=True)
class Condition:
    name: str
    kind: str  # clean | corruption | generalisation | custom
    build: Callable[[ConditionContext], ImageSet]
    family: str = ""  # e.g. "defocus_blur"; plots draw one line per family
    severity: int | None = None
    params: dict = field(default_factory=dict, hash=False, compare=False)


Provider = Callable[[str], list[Condition]]  # dataset name -> conditions available for it
Parser = Callable[[str, str], "Condition | None"]  # (name, dataset) -> condition or None

PROVIDERS: Registry[Provider] = Registry("condition group")
PARSERS: list[Parser] = []


def register_provider(group: str) -> Callable[[Provider], Provider]:
    return PROVIDERS.register(group)


def register_parser(parser: Parser) -> Parser:
    PARSERS.append(parser)
    return parser


@register_provider("clean")
def clean_conditions(dataset: str) -> list[Condition]:
    return [Condition("clean", "clean", lambda ctx: ctx.clean_test, family="clean")]


# Generalisation sets known for a dataset without a manifest (the embedded default's).
BUILTIN_GENSETS: dict[str, list[tuple[str, str]]] = {"shapes": [("shapes-shift", "shapes-shift")]}


def _manifest_genset(name: str, target: str) -> Condition:
    """A manifest-built set; built on first use. Its classes are matched to the model's by name
    (evaluate.check_classes): a set covering a subset of the classes is scored on its images only."""
    from robeval.data import gensets

    return Condition(f"genset:{name}", "generalisation",
                     lambda ctx: gensets.load_built(name, ctx.data_dir), family="genset",
                     params={"manifest": name, **({"target": target} if target else {})})


@register_provider("genset")
def genset_conditions(dataset: str) -> list[Condition]:
    out = []
    for name, source in BUILTIN_GENSETS.get(dataset, []):
        out.append(Condition(
            f"genset:{name}", "generalisation",
            lambda ctx, source=source: load_split(source, "test", ctx.data_dir), family="genset",
        ))
    from robeval.data.gensets import list_sets

    for row in list_sets():  # built sets only, so `all` never starts a download
        if (row.get("target") == dataset and row.get("built")
                and f"genset:{row['name']}" not in {c.name for c in out}):
            out.append(_manifest_genset(row["name"], dataset))
    return out


def _corrupt_condition(spec, dataset: str) -> Condition:
    """A corruption (or albu:) condition; its build reads the cache, building missing files."""
    from robeval.data.registry import dataset_spec

    try:
        if spec.kind == "custom":
            params = spec.params()
        else:
            table, values = spec.resolve(dataset_spec(dataset).image_size)
            params = {"table": table, **values}
    except RobevalError:
        params = {}  # e.g. images too small for the table: build() raises the clear error

    def build(ctx: ConditionContext) -> ImageSet:
        from robeval.corrupted import corrupted_set

        data, _ = corrupted_set(spec, ctx.dataset, "test", ctx.data_dir, clean=ctx.clean_test,
                                backend=ctx.options.get("corrupt_backend", "reference"), seed=ctx.seed)
        return data

    return Condition(spec.name, spec.kind, build, family=spec.family, severity=spec.severity,
                     params=params)


@register_provider("corrupt")
def corrupt_conditions(dataset: str) -> list[Condition]:
    """impulse_noise, jpeg_compression, defocus_blur at severities 1-5 (table by image size)."""
    from robeval.corruptions import FAMILIES, SEVERITIES, CorruptionSpec

    return [_corrupt_condition(CorruptionSpec(f, s), dataset) for f in FAMILIES for s in SEVERITIES]


@register_parser
def corrupt_parser(name: str, dataset: str) -> Condition | None:
    """FAMILY/SEVERITY@TABLE (e.g. defocus_blur/3@imagenet) and albu:Transform(args) | albu:FILE.yaml."""
    from robeval.corruptions import parse_name

    spec = parse_name(name)
    return None if spec is None else _corrupt_condition(spec, dataset)


@register_parser
def parse_genset(name: str, dataset: str) -> Condition | None:
    """genset:NAME for any manifest or built set, whatever its target (classes decide). Whether
    NAME exists is checked when it is loaded, under the eval's --data-dir (a clear error)."""
    set_name = name.split(":", 1)[1] if name.startswith("genset:") else ""
    if not set_name or set(set_name) - set("abcdefghijklmnopqrstuvwxyz0123456789.-_"):
        return None
    return _manifest_genset(set_name, "")


def split_names(spec: str) -> list[str]:
    """Split on commas that are not inside parentheses or brackets."""
    names, depth, current = [], 0, ""
    for ch in spec:
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == "," and depth == 0:
            names.append(current.strip())
            current = ""
        else:
            current += ch
    names.append(current.strip())
    return [n for n in names if n]


def available(dataset: str, group: str | None = None) -> list[Condition]:
    groups = [group] if group else PROVIDERS.names()
    return [c for g in groups for c in PROVIDERS.get(g)(dataset)]


def resolve(spec: str, dataset: str) -> list[Condition]:
    """The conditions a ``--conditions`` string names, in order, without duplicates."""
    known = {c.name: c for c in available(dataset)}
    chosen: dict[str, Condition] = {}
    for name in split_names(spec or "all"):
        if name == "all":
            chosen.update(known)
        elif name.endswith(":all"):
            chosen.update({c.name: c for c in available(dataset, name[: -len(":all")])})
        elif name in known:
            chosen[name] = known[name]
        else:
            parsed = next((c for p in PARSERS if (c := p(name, dataset)) is not None), None)
            if parsed is None:
                raise RobevalError(
                    f"unknown condition {name!r} for dataset {dataset!r}; available: "
                    f"{', '.join(known) or 'none'} (groups: {', '.join(g + ':all' for g in PROVIDERS)})"
                )
            chosen[parsed.name] = parsed
    return list(chosen.values())
