"""``robeval export``: the per-image table of evaluated runs, as CSV or Parquet."""

from __future__ import annotations

import click

from robeval.cli.group import cli
from robeval.cli.options import expand_runs
from robeval.cli.values import OutPath

#: the names of robeval.stages.export.FORMATS (tests/test_export.py keeps them equal); listed
#: here so --help does not import numpy
EXPORT_FORMATS = ("csv", "parquet")


@cli.command(name="export")
@click.argument("run_dirs", nargs=-1, type=click.Path())
@click.option("--format", "fmt", type=click.Choice(EXPORT_FORMATS), default=None,
              help="csv, or parquet (needs pyarrow: pip install robeval[export]); default: what "
                   "--out's extension names (.csv, .parquet).")
@click.option("--out", type=OutPath(folder=False), required=True,
              help="The file to write (.csv or .parquet), in an existing folder (written atomically).")
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists (refused otherwise).")
@click.option("--conditions", default=None, metavar="NAME[,NAME...]",
              help="Only these evaluated conditions (default: every condition of each run).")
def export_cmd(run_dirs, fmt, out, overwrite, conditions) -> None:
    """One row per (run, condition, image) of evaluated runs, for pandas.

    \b
    Columns: run, variant, seed, condition, index, label, prediction, confidence (max
    softmax), correct, cos_pred and cos_true (feature vs predicted / true class vector).
    RUN_DIRS may be run folders or folders that contain run folders (docs/analysis.md).
    """
    from robeval.stages.export import export

    result = export(expand_runs(run_dirs), out, fmt, conditions, overwrite=overwrite)
    for note in result["notes"]:
        click.echo(f"note: {note}", err=True)
    click.echo(f"wrote {result['out']}: {result['rows']} rows from {result['runs']} runs ({result['format']})")
