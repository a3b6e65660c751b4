"""``genset:NAME`` conditions: generalisation sets (built-in ones and manifest-built sets)."""

from __future__ import annotations

from dataclasses import dataclass

from robeval.conditions.base import Condition, ConditionSource, register_source
from robeval.core.registry import Registry
from robeval.data import gensets, load_split


@dataclass(frozen=True)
class BuiltinGenset:
    """A generalisation set known for a dataset without a manifest (the embedded default's)."""

    name: str  # the condition is genset:NAME
    dataset: str  # the training dataset it tests
    source: str  # the dataset (robeval.data.DATASETS) whose test split it is


BUILTIN_GENSETS: Registry[BuiltinGenset] = Registry("built-in generalisation set")
BUILTIN_GENSETS.add(BuiltinGenset("shapes-shift", "shapes", "shapes-shift"))


def _manifest_genset(name: str, target: str) -> Condition:
    """A manifest-built set; built on first use. Its classes are matched to the model's by name
    (evaluate.check_classes): a set covering a subset of the classes is scored on its images only."""
    return Condition(f"genset:{name}", "generalisation",
                     lambda ctx: gensets.load_built(name, ctx.data_dir), family="genset",
                     params={"manifest": name, **({"target": target} if target else {})})


def genset_conditions(dataset: str, data_dir=None) -> list[Condition]:
    out = []
    for g in BUILTIN_GENSETS.records():
        if g.dataset != dataset:
            continue
        out.append(Condition(
            f"genset:{g.name}", "generalisation",
            lambda ctx, source=g.source: load_split(source, "test", ctx.data_dir), family="genset",
        ))
    for row in gensets.list_sets(data_dir):  # built sets only, so `all` never starts a download
        if (row.get("target") == dataset and row.get("built")
                and f"genset:{row['name']}" not in {c.name for c in out}):
            out.append(_manifest_genset(row["name"], dataset))
    return out


def parse_genset(name: str, dataset: str) -> Condition | None:
    """genset:NAME for any manifest or built set, whatever its target (classes decide). Whether
    NAME exists is checked when it is loaded, under the eval's --data-dir (a clear error)."""
    set_name = name.split(":", 1)[1] if name.startswith("genset:") else ""
    if not set_name or set(set_name) - set("abcdefghijklmnopqrstuvwxyz0123456789.-_"):
        return None
    return _manifest_genset(set_name, "")


register_source(ConditionSource("genset", genset_conditions, parse_genset,
                                "generalisation sets: built-in and manifest-built (genset:NAME)",
                                reads_data_root=True))
