"""The ``robeval`` command line: one thin function per command, no logic beyond parsing.

Heavy libraries are imported inside the commands, so ``robeval --help`` answers at once. Commands
live in study.py (train, eval, analyze, report, reproduce), data.py (corrupt, genset) and
browse.py; options.py holds what they share.
"""

from __future__ import annotations

import os

import click

# Settings these libraries read at import time (docs/install.md): no network calls, no telemetry.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")

from robeval.cli.options import RobevalGroup  # noqa: E402


@click.group(cls=RobevalGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="robeval", prog_name="robeval")
def cli() -> None:
    """How the classification layer changes accuracy, robustness and generalisation.

    Fixed (random, frozen) vs learned class vectors, dot-product vs scaled-cosine logits
    (Shalev, Shalev & Keshet, arXiv 2011.08704). Start with `robeval reproduce`: it runs the
    whole study offline on the embedded `shapes` dataset in a few CPU minutes.
    """


def main() -> None:
    cli(prog_name="robeval")


# Registering the commands needs `cli` above; nothing imports these modules otherwise.
from robeval.cli import browse, data, study  # noqa: E402, F401
