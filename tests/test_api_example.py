"""The Python API's docstring example (robeval/stages/api.py) runs as written, so it cannot rot."""

import inspect
import textwrap

import pytest

from robeval.stages import api


def _example() -> str:
    """The indented code block at the top of the module docstring."""
    doc = inspect.getdoc(api) or ""
    block = doc.split("\n\n", 2)[1]
    assert "robeval.evaluate(" in block, block
    return textwrap.dedent(block)


def test_the_example_names_conditions_and_options_that_exist():
    import ast

    from robeval.conditions import parse_conditions

    call = next(n for n in ast.walk(ast.parse(_example()))
                if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "evaluate")
    given = {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg != "out"}
    assert set(given) <= set(inspect.signature(api.evaluate).parameters)
    names = [c.name for c in parse_conditions(given["conditions"], given["dataset"])]
    assert names == given["conditions"].split(",")


@pytest.mark.slow
def test_the_example_runs_as_written(tmp_path, monkeypatch, capsys):
    pytest.importorskip("torchvision")
    monkeypatch.chdir(tmp_path)
    exec(compile(_example(), "robeval/stages/api.py docstring", "exec"), {})
    accuracy = float(capsys.readouterr().out.strip().splitlines()[-1])
    assert 0 <= accuracy <= 1
    assert (tmp_path / "runs" / "my-r18" / "eval.json").is_file()
