"""Find every module-level ``Registry`` in the package, and check that a test is parametrised over
every entry of each (tests/test_registry_coverage.py).

Registries are found by reading each module's source (an assignment ``NAME = Registry(...)`` or
``NAME: ... = Registry(...)`` at module level), so a registry in a module whose optional
dependency is missing here is still found; its object is then read from the imported module.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from dataclasses import dataclass
from pathlib import Path

import robeval
from robeval.core.registry import Registry


@dataclass(frozen=True)
class Found:
    module: str  # robeval.models.encoders
    name: str  # ENCODERS
    registry: Registry | None  # None when the module cannot be imported here (optional dependency)
    why_not: str = ""

    @property
    def key(self) -> str:
        return f"{self.module}.{self.name}"


def _module_sources() -> list[tuple[str, Path]]:
    out = []
    for info in pkgutil.walk_packages(robeval.__path__, "robeval."):
        module_spec = importlib.util.find_spec(info.name)
        if module_spec is not None and module_spec.origin and module_spec.origin.endswith(".py"):
            out.append((info.name, Path(module_spec.origin)))
    return out


def registry_assignments(source: str) -> list[str]:
    """Names assigned ``Registry(...)`` at module level in this source."""
    names = []
    for node in ast.parse(source).body:
        target, value = None, None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign):
            target, value = node.target, node.value
        if (isinstance(target, ast.Name) and isinstance(value, ast.Call)
                and isinstance(value.func, ast.Name) and value.func.id == "Registry"):
            names.append(target.id)
    return names


def find_registries() -> list[Found]:
    """Every module-level Registry in robeval, in module order."""
    found = []
    for module, path in _module_sources():
        names = registry_assignments(path.read_text(encoding="utf-8"))
        if not names:
            continue
        try:
            mod = importlib.import_module(module)
        except ImportError as exc:  # an optional dependency (fiftyone, submitit, ...) is missing
            found += [Found(module, n, None, f"{type(exc).__name__}: {exc}") for n in names]
            continue
        for n in names:
            obj = getattr(mod, n)
            assert isinstance(obj, Registry), f"{module}.{n} is assigned Registry(...) but is {obj!r}"
            found.append(Found(module, n, obj))
    return found


def _flat(value) -> list:
    """The atomic values of one parametrize argvalue (a tuple for several argnames, a ParameterSet)."""
    value = getattr(value, "values", value)  # pytest.param(...)
    if isinstance(value, tuple):
        return [v for part in value for v in _flat(part)]
    return [value]


def parametrised_values(test) -> list:
    """Every value any ``pytest.mark.parametrize`` on ``test`` passes to it."""
    out = []
    for mark in getattr(test, "pytestmark", []):
        if mark.name == "parametrize":
            argvalues = mark.args[1] if len(mark.args) > 1 else mark.kwargs["argvalues"]
            for value in argvalues:
                out += _flat(value)
    return out


def uncovered(registry: Registry, test) -> list[str]:
    """The entries of ``registry`` that no parametrisation of ``test`` passes (by name or record)."""
    values = parametrised_values(test)
    names = {v for v in values if isinstance(v, str)}
    ids = {id(v) for v in values}
    return [n for n in registry.names() if n not in names and id(registry.get(n)) not in ids]


def coverage_problems(found: list[Found], table: dict[str, list[str]]) -> list[str]:
    """What is wrong with ``table`` (registry key -> "tests/test_x.py::test_name" list) for the
    registries ``found``: a registry without tests, a test that does not exist, one that is not
    parametrised over every entry, or a row for a registry that no longer exists."""
    problems = []
    keys = {f.key for f in found}
    for f in found:
        tests = table.get(f.key)
        if not tests:
            problems.append(f"registry {f.key} has no test over every entry: write one "
                            f"parametrised over {f.name}.names() and name it in COVERED")
            continue
        for ref in tests:
            path, _, func = ref.partition("::")
            module = path.removesuffix(".py").replace("/", ".")
            try:
                test = getattr(importlib.import_module(module), func)
            except ImportError as exc:
                problems.append(f"{ref} (for {f.key}): its module does not import ({exc})")
                continue
            except AttributeError:
                problems.append(f"{ref} (for {f.key}): no such test")
                continue
            if f.registry is None:
                continue  # the registry's module does not import here: its entries are unknown
            missing = uncovered(f.registry, test)
            if missing:
                problems.append(f"{ref} is not parametrised over every entry of {f.key}: "
                                f"missing {', '.join(missing)}")
    problems += [f"COVERED names {k}, which is not a Registry in robeval" for k in table if k not in keys]
    return problems
