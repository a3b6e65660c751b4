"""Layer 5, the ``robeval`` command line: one thin function per command, no logic beyond parsing.

Heavy libraries are imported inside the commands, so ``robeval --help`` answers at once. The
group lives in group.py; commands in study.py (train, eval, analyze, report), reproduce.py, data.py
(corrupt, genset), browse.py and export.py; options.py holds what they share. May import every layer below;
nothing in robeval imports the CLI except ``__main__``.
"""

from __future__ import annotations

from robeval.cli import browse, data, export, reproduce, study  # noqa: F401  (registers the commands)
from robeval.cli.group import cli

__all__ = ["cli", "main"]


def main() -> None:
    cli(prog_name="robeval")
