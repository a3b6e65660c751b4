"""The one ``--conditions`` grammar. Every verb that takes ``--conditions`` (eval, reproduce,
corrupt, browse, the Python API) parses it here, so a word means the same thing everywhere:

    all                 every condition available for the dataset (corruptions: corrupt:study)
    GROUP:all           every condition of one source (corrupt:all = every family, genset:all, ...)
    corrupt:GROUP       the group's families at every severity (corrupt:study, corrupt:noise, ...)
    FAMILY              one corruption family at every severity (defocus_blur = defocus_blur/1..5)
    FAMILY/S[@TABLE]    one family at one severity (defocus_blur/3, defocus_blur/3@imagenet)
    clean, genset:NAME, released:CORRUPTION/S, albu:Transform(args) | albu:FILE.yaml
    A,B,...             several words (commas inside parentheses do not split)

``robeval corrupt``'s ``--severities`` and ``--table`` narrow the words that name several
severities (``all``, ``GROUP:…``, ``FAMILY``) and give corruptions without ``@TABLE`` a table;
every other verb uses severities 1-5 and the table chosen by image size.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from robeval.conditions.base import SOURCES, Condition, available, split_names
from robeval.conditions.corrupt import corruption_condition
from robeval.core.errors import RobevalError
from robeval.corruptions import FAMILIES, SEVERITIES, CorruptionAtSeverity
from robeval.corruptions.families import GROUPS


@dataclass(frozen=True)
class Word:
    """One word of a ``--conditions`` string and the conditions it names. ``exact``: it names one
    condition (``clean``, ``defocus_blur/3``), not a set (``all``, ``corrupt:noise``, a family)."""

    text: str
    conditions: list[Condition]
    exact: bool


def accepted() -> str:
    """What a ``--conditions`` word may be: the sentence every unknown word is answered with."""
    return (f"all, GROUP:all ({', '.join(SOURCES.names())}), corrupt:GROUP ({', '.join(GROUPS)}), "
            f"a corruption family ({', '.join(FAMILIES)}), FAMILY/S[@TABLE] such as defocus_blur/3, "
            "clean, genset:NAME, released:CORRUPTION/S or albu:Transform(args), separated by commas")


def _parsed(name: str, dataset: str) -> Condition | list[Condition] | None:
    for source in map(SOURCES.get, SOURCES.names()):
        if source.parse is not None and (c := source.parse(name, dataset)) is not None:
            return c
    return None


def _subgroup(word: str, dataset: str) -> list[Condition] | None:
    group, colon, sub = word.partition(":")
    source = SOURCES.get(group) if colon and group in SOURCES else None
    if source is None or source.subgroups is None:
        return None
    return source.subgroups(sub, dataset)


def _word(word: str, dataset: str, data_dir, known: dict[str, Condition]) -> Word:
    if word == "all":
        return Word(word, list(known.values()), exact=False)
    named = _subgroup(word, dataset)
    if named is not None:
        return Word(word, named, exact=False)
    if word.endswith(":all"):
        group = word[: -len(":all")]
        listed = available(dataset, group, data_dir) if group in SOURCES else []
        if not listed and group in SOURCES:
            raise RobevalError(f"{word}: dataset {dataset!r} has no conditions of this group here "
                               "(see robeval eval RUN --list-conditions); leave it out")
        if group in SOURCES:
            return Word(word, listed, exact=False)
    if word in known:
        return Word(word, [known[word]], exact=True)
    parsed = _parsed(word, dataset)
    if parsed is None:
        raise RobevalError(f"unknown condition {word!r} for dataset {dataset!r}; give {accepted()}")
    return Word(word, parsed, exact=False) if isinstance(parsed, list) else Word(word, [parsed], True)


def _narrowed(word: Word, dataset: str, severities, table: str) -> list[Condition]:
    """The word's conditions at ``severities`` (set words only) with ``table`` where none is named."""
    out = []
    for cond in word.conditions:
        corruption = cond.corruption
        if isinstance(corruption, CorruptionAtSeverity):
            if not word.exact and corruption.severity not in severities:
                continue
            if corruption.table == "auto" and table != "auto":
                at_table = CorruptionAtSeverity(corruption.family, corruption.severity, table)
                cond = corruption_condition(at_table, dataset)
        out.append(cond)
    return out


def parse_words(conditions: str | None, dataset: str, data_dir: str | Path | None = None, *,
                severities=SEVERITIES, table: str = "auto", default: str = "all") -> list[Word]:
    """Each word of a ``--conditions`` string with the conditions it names, in order (``all`` and
    ``GROUP:all`` list what is under ``data_dir``, the root the conditions are built from). An
    unknown word is one RobevalError listing what is accepted; nothing is built or written."""
    if conditions is not None and not split_names(conditions):
        raise RobevalError(f"--conditions is empty; give {accepted()}")
    known = {c.name: c for c in available(dataset, data_dir=data_dir)}
    words = [_word(w, dataset, data_dir, known) for w in split_names(conditions or default)]
    if tuple(severities) == tuple(SEVERITIES) and table == "auto":
        return words
    return [Word(w.text, _narrowed(w, dataset, severities, table), w.exact) for w in words]


def parse_conditions(conditions: str | None, dataset: str, data_dir: str | Path | None = None, *,
                     severities=SEVERITIES, table: str = "auto",
                     default: str = "all") -> list[Condition]:
    """The conditions a ``--conditions`` string names, in order, without duplicates."""
    chosen: dict[str, Condition] = {}
    for word in parse_words(conditions, dataset, data_dir, severities=severities, table=table,
                            default=default):
        chosen.update({c.name: c for c in word.conditions})
    return list(chosen.values())
