"""``genset:NAME`` conditions: generalisation sets (built-in ones and manifest-built sets)."""

from __future__ import annotations

from robeval.conditions.base import Condition, ConditionSource, register_source
from robeval.data import gensets, load_split

# Generalisation sets known for a dataset without a manifest (the embedded default's).
BUILTIN_GENSETS: dict[str, list[tuple[str, str]]] = {"shapes": [("shapes-shift", "shapes-shift")]}


def _manifest_genset(name: str, target: str) -> Condition:
    """A manifest-built set; built on first use. Its classes are matched to the model's by name
    (evaluate.check_classes): a set covering a subset of the classes is scored on its images only."""
    return Condition(f"genset:{name}", "generalisation",
                     lambda ctx: gensets.load_built(name, ctx.data_dir), family="genset",
                     params={"manifest": name, **({"target": target} if target else {})})


def genset_conditions(dataset: str, data_dir=None) -> list[Condition]:
    out = []
    for name, source in BUILTIN_GENSETS.get(dataset, []):
        out.append(Condition(
            f"genset:{name}", "generalisation",
            lambda ctx, source=source: load_split(source, "test", ctx.data_dir), family="genset",
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
