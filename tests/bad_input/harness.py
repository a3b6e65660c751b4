"""What every bad-input case asserts: non-zero exit, one error line, no traceback, nothing written.

Cases run the CLI in-process (click's CliRunner), so hundreds of them take seconds.
"""

from __future__ import annotations

import os
from pathlib import Path

from click.testing import CliRunner

from robeval.cli import cli


def snapshot(*roots: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``roots`` with its size and mtime: equal before and after = nothing written."""
    out: dict[str, tuple[int, int]] = {}
    for root in roots:
        root = Path(root)
        if root.is_file():
            st = root.stat()
            out[str(root)] = (st.st_size, st.st_mtime_ns)
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                p = Path(dirpath) / name
                st = p.lstat()
                out[str(p)] = (st.st_size if p.is_file() else -1, st.st_mtime_ns if p.is_file() else 0)
    return out


def invoke(args) -> tuple[int, str, BaseException | None]:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    output = result.output  # stdout and stderr, interleaved
    exc = result.exception
    if isinstance(exc, SystemExit):
        exc = None
    return result.exit_code, output, exc


def assert_refused(args, *watch: Path, needle: str | None = None) -> str:
    """Run ``robeval ARGS``; it must refuse cleanly and leave every file under ``watch`` untouched."""
    before = snapshot(*watch)
    code, output, exc = invoke(args)
    assert exc is None, f"{args}: raised {type(exc).__name__}: {exc}\n{output}"
    assert code != 0, f"{args}: exit 0\n{output}"
    assert "Traceback" not in output, output
    errors = [line for line in output.splitlines() if line.startswith("Error")]
    assert len(errors) == 1, f"{args}: expected one 'Error...' line\n{output}"
    assert errors[0].strip() not in ("Error:", "Aborted!"), output
    assert output.strip() != "Aborted!", output
    if needle is not None:
        assert needle in output, output
    assert snapshot(*watch) == before, f"{args}: files were written or changed\n{output}"
    return errors[0]
