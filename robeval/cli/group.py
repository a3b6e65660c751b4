"""The ``robeval`` click group; the command modules (study, data, browse) attach to it."""

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
