"""`robeval browse`: a run's eval outputs in the FiftyOne App (robeval/stages/browse/)."""

from __future__ import annotations

import signal
import sys

import click

from robeval.cli.group import cli
from robeval.cli.options import EMBEDDING, data_dir_option, quiet_option


@cli.command()
@click.argument("run_dir", type=click.Path())
@click.option("--conditions", default="all", show_default=True,
              help="Evaluated conditions to show: all, or names separated by commas.")
@click.option("--only-failures", is_flag=True,
              help="Only source images that some chosen condition gets wrong (all their slices).")
@click.option("--name", default=None, help="FiftyOne dataset name (default robeval-<run folder>).")
@click.option("--overwrite", is_flag=True,
              help="Replace a dataset of that name (by default this run's dataset is updated in place).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the first N images of each condition.")
@click.option("--embeddings", type=EMBEDDING, default="pca",
              show_default=True, help="Embeddings map of the stored features (umap needs umap-learn).")
@click.option("--brain/--no-brain", default=True, show_default=True,
              help="Mistakenness, hardness and the embeddings map (FiftyOne Brain).")
@click.option("--launch/--no-launch", default=True, show_default=True,
              help="Serve the App after building; --no-launch only builds the dataset.")
@click.option("--address", default="127.0.0.1", show_default=True, help="Address the App listens on.")
@click.option("--port", type=click.IntRange(1, 65535), default=5151, show_default=True, help="Port the App listens on.")
@data_dir_option
@quiet_option
def browse(run_dir, conditions, only_failures, name, overwrite, limit, embeddings, brain, launch,
           address, port, data_dir, quiet) -> None:
    """Browse a run's eval outputs in the FiftyOne App: one group per source image, one slice
    per condition, failures tagged, mistakenness and an embeddings map from robeval's own outputs.

    The dataset is persistent: a second call updates it in place. Ctrl-C or SIGTERM stops the App
    and leaves no process behind. See docs/browse.md.
    """
    from robeval.stages.browse.app import app_url, check_port, serve, stop_database
    from robeval.stages.browse.build import build_dataset

    if launch:
        check_port(address, port)  # before minutes of building, not after
    # SIGTERM (a scheduler, `kill`) is handled as Ctrl-C, so the database service and its mongod
    # are stopped and waited for before the command returns (stop_database)
    previous = signal.signal(signal.SIGTERM, _as_interrupt)
    try:
        try:
            ds = build_dataset(run_dir, conditions=conditions, name=name, only_failures=only_failures,
                               overwrite=overwrite, limit=limit, embeddings=embeddings, brain=brain,
                               data_dir=data_dir, progress=not quiet, echo=click.echo)
        except KeyboardInterrupt:
            click.echo("\ninterrupted: PNGs written so far are complete; run the same command to "
                       "finish the dataset (unfinished slices are rebuilt)", err=True)
            sys.exit(130)
        flat = ds.select_group_slices()
        click.echo(f"dataset {ds.name}: {len(flat)} samples in {len(flat.distinct('group.id'))} "
                   f"groups, slices {', '.join(ds.group_slices)}; saved views "
                   f"{', '.join(ds.list_saved_views())}")
        if launch:
            serve(ds, address, port, echo=click.echo)
        else:
            click.echo(f"built; serve it with: robeval browse {run_dir} --name {ds.name} "
                       f"(or open {app_url(address, port, ds.name)} from a running App)")
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the shutdown is not cut short
        try:
            stop_database()
        finally:
            signal.signal(signal.SIGTERM, previous)


def _as_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt
