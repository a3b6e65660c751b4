"""The house as the tree shows it: a near-empty package root, a layer docstring on every
subpackage, and no import cycle between modules, function-level imports included (grimp, the
graph import-linter checks the layer contracts on)."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import grimp

import robeval

ROOT = Path(robeval.__file__).parent
LAYER_WORDS = ("Layer", "layer", "component", "Part of")


def _cycles(graph) -> list[set[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(edges[start]))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on.add(start)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = set()
                    while True:
                        x = stack.pop()
                        on.discard(x)
                        comp.add(x)
                        if x == v:
                            break
                    if len(comp) > 1:
                        out.append(comp)
            elif w not in index:
                index[w] = low[w] = counter[0]
                counter[0] += 1
                stack.append(w)
                on.add(w)
                work.append((w, iter(edges[w])))
            elif w in on:
                low[v] = min(low[v], index[w])
    return out


def test_no_import_cycles_counting_function_level_imports():
    assert _cycles(grimp.build_graph("robeval")) == []


def test_cycle_finder_finds_a_cycle(tmp_path, monkeypatch):
    pkg = tmp_path / "cyc"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from cyc import b\n")
    (pkg / "b.py").write_text("from cyc import a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert _cycles(grimp.build_graph("cyc")) == [{"cyc.a", "cyc.b"}]


def test_package_root_holds_only_init_and_main():
    modules = sorted(p.name for p in ROOT.glob("*.py"))
    assert modules == ["__init__.py", "__main__.py"]


def test_every_subpackage_names_its_layer():
    for info in pkgutil.iter_modules([str(ROOT)]):
        if not info.ispkg:
            continue
        doc = importlib.import_module(f"robeval.{info.name}").__doc__ or ""
        assert any(w in doc for w in LAYER_WORDS), f"robeval.{info.name}: docstring names no layer"
