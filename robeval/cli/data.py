"""Data commands: corrupt (cached corrupted copies) and genset (generalisation sets)."""

from __future__ import annotations

import click

from robeval.cli.group import cli
from robeval.cli.options import (
    BACKEND,
    DATASET,
    MANIFEST_MAKER,
    TABLE,
    data_dir_option,
    device_option,
    quiet_option,
)
from robeval.cli.values import Number, OutPath

#: robeval.data.gensets.manifest.IMAGE_SIZES (the manifest's own range; tests/test_genset.py keeps
#: them equal), listed here so --help does not import numpy
IMAGE_SIZES = (8, 1024)


class _CorruptCommand(click.Command):
    """`robeval corrupt --help` ends with the groups and families read from the registry."""

    def format_epilog(self, ctx, formatter) -> None:
        from robeval.stages.corrupt import help_lines

        formatter.write("\n" + "\n".join("  " + line for line in help_lines()) + "\n")


@cli.command(cls=_CorruptCommand)
@click.option("--dataset", type=DATASET, default="shapes", show_default=True)
@click.option("--split", default="test", show_default=True)
@click.option("--conditions", default="corrupt:study", show_default=True,
              help="The --conditions of robeval eval, the corrupted ones built: corrupt:GROUP "
                   "(listed below), family names, FAMILY/S[@TABLE], albu:Transform(args), "
                   "albu:FILE.yaml or all (corrupt:study); commas separate.")
@click.option("--severities", default="1-5", show_default=True, help="e.g. 1-5, 3 or 1,3,5.")
@click.option("--table", type=TABLE, default="auto",
              show_default=True, help="Parameter table; auto: nearest native size on a log scale "
                                      "(32->cifar, 64/96->tinyimagenet, >=128->imagenet).")
@click.option("--backend", type=BACKEND, default="reference", show_default=True,
              help="reference: Hendrycks' formulas per image; fast: a family's batched path where "
                   "it has one (+ below), else the reference.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Processes for per-image work; the pixels do not depend on it.")
@click.option("--seed", type=click.IntRange(0, 2**31 - 1), default=0, show_default=True, help="Base seed of the noise.")
@click.option("--preview", type=click.IntRange(min=1), default=None,
              help="Instead of building the cache, draw N sample images per condition and severity.")
@click.option("--out", type=OutPath(folder=False), default=None,
              help="With --preview: the PNG to write [preview.png].")
@click.option("--overwrite", is_flag=True, help="With --preview: replace an existing --out image.")
@device_option
@data_dir_option
@quiet_option
def corrupt(dataset, split, conditions, severities, table, backend, workers, seed, preview, out,
            overwrite, device, data_dir, quiet) -> None:
    """Build cached corrupted copies of a split (one .npz + sidecar JSON per condition and severity
    under <data root>/corruptions/), or draw a preview grid. Re-runs skip valid files and rebuild
    damaged or outdated ones; `robeval eval` builds missing ones on demand.
    """
    from click.core import ParameterSource

    from robeval.stages.corrupt import corrupt_dataset, parse_severities, unused_option
    from robeval.stages.corrupt import preview as draw_preview

    if device == "auto":
        device = "cpu" if backend == "reference" else device
    ctx = click.get_current_context()
    given = {n for n in ("severities", "table")
             if ctx.get_parameter_source(n) not in (None, ParameterSource.DEFAULT)}
    why = unused_option(conditions, dataset, given, preview)
    if why:  # options no condition uses are refused rather than dropped
        raise click.UsageError(why)
    if (out or overwrite) and not preview:
        raise click.UsageError(f"{'--out' if out else '--overwrite'} is for the --preview image; "
                               "without --preview the cache goes under <data root>/corruptions/")
    if preview:
        if out is None:  # the default is checked like a given --out
            out = OutPath(folder=False).convert("preview.png", None, None)
        path = draw_preview(dataset, split, conditions, preview, out, table=table, backend=backend,
                            seed=seed, data_dir=data_dir, device=device, overwrite=overwrite)
        click.echo(f"wrote {path}")
        return
    rows = corrupt_dataset(dataset, split, conditions, parse_severities(severities), table=table,
                           backend=backend, workers=workers, seed=seed, data_dir=data_dir,
                           device=device, progress=not quiet)
    for r in rows:
        params = ", ".join(f"{k}={v}" for k, v in (r["params"] or {}).items() if k != "albumentations_version")
        click.echo(f"{r['condition']:<28} {r['table'] or '-':<13} {params:<34} {r['status']:<10} {r['path']}")


@cli.group()
def genset() -> None:
    """Generalisation sets built from manifests (CIFAR-10.1, Open Images-derived, your own files).

    \b
      robeval genset list
      robeval genset build cifar10.1-v6          # -> <data root>/gensets/cifar10.1-v6.npz
      robeval genset verify cifar10.1-v6
      robeval genset make-manifest openimages --target stl10 --annotations DIR --per-class 200
      robeval genset make-manifest files --root DIR --target cifar10 --map map.csv --name mine
    Evaluate with: robeval eval RUN --conditions genset:NAME (docs/datasets.md).
    """


@genset.command(name="list")
@data_dir_option
def genset_list(data_dir) -> None:
    """Known manifests and built sets."""
    from robeval.stages.genset import list_sets

    rows = list_sets(data_dir)
    click.echo(f"{'name':<24} {'target':<10} {'classes':>7} {'items':>6} {'kind':<11} {'built':<5} pinned")
    for r in rows:
        if "error" in r:
            click.echo(f"{r['name']:<24} invalid manifest: {r['error']}")
            continue
        items = "-" if r["items"] is None else r["items"]
        click.echo(f"{r['name']:<24} {r['target'] or '?':<10} {r['classes']:>7} {items:>6} "
                   f"{r['kind'] or '?':<11} {'yes' if r['built'] else 'no':<5} "
                   f"{'yes' if r['pinned'] else 'no'}")


def genset_source_options(f):
    f = click.option("--root", type=click.Path(file_okay=False), default=None,
                     help="Image root of a 'files' manifest (overrides its source.root).")(f)
    f = click.option("--images", type=click.Path(file_okay=False), default=None,
                     help="Folder with Open Images originals as <ImageID>.jpg (default "
                          "<data root>/downloads/openimages).")(f)
    return data_dir_option(f)


@genset.command(name="build")
@click.argument("name")
@genset_source_options
@click.option("--pin", is_flag=True, help="Record missing sha256s (items and built arrays) in the manifest.")
@click.option("--skip-bad", is_flag=True, help="Leave out undecodable/truncated images (listed) instead of failing.")
@click.option("--accept-arrays", is_flag=True,
              help="npy sources: accept a file whose sha256 differs from the published one when its "
                   "array has the published shape and dtype (older CIFAR-10.1 copies); recorded in "
                   "the sidecar.")
@click.option("--workers", type=click.IntRange(1, 256), default=8, show_default=True, help="Parallel downloads.")
@quiet_option
def genset_build(name, root, images, data_dir, pin, skip_bad, accept_arrays, workers, quiet) -> None:
    """Build set NAME (or a manifest .json path) into <data root>/gensets/."""
    from robeval.stages.genset import build_set

    info, npz = build_set(name, data_dir, root=root, images=images, pin=pin, skip_bad=skip_bad,
                          accept_arrays=accept_arrays, workers=workers, progress=not quiet)
    match = {True: "matches the manifest", False: "DIFFERS from the manifest",
             None: "no built_sha256 in the manifest (run with --pin to record it)"}[info["matches_manifest"]]
    click.echo(f"built {info['name']}: {info['n']} images, {len(info['classes'])} classes -> {npz}")
    click.echo(f"sha256 {info['built_sha256']}: {match}")
    if info["skipped"]:
        click.echo(f"skipped {len(info['skipped'])} undecodable image(s): {'; '.join(info['skipped'][:10])}")
    if info.get("accepted_by_array"):
        click.echo(f"accepted by their arrays (sha256 differs from the published one): "
                   f"{', '.join(info['accepted_by_array'])}")
    if info.get("pinned"):
        click.echo(f"recorded {info['pinned']} hash(es) in {info['manifest']}")


@genset.command(name="verify")
@click.argument("name")
@genset_source_options
@quiet_option
def genset_verify(name, root, images, data_dir, quiet) -> None:
    """Re-check every source hash, rebuild in memory, compare with the manifest and the built file."""
    from robeval.core.errors import RobevalError
    from robeval.stages.genset import verify

    r = verify(name, data_dir, root=root, images=images, progress=not quiet)
    click.echo(f"{r['name']}: {r['n']} images, every source file matches its hash")
    for label, ok in (("manifest built_sha256", r["matches_manifest"]),
                      ("built file", r["built_file_matches"])):
        click.echo(f"  {label}: " + {True: "matches", False: "MISMATCH", None: "not available"}[ok])
    if r["skipped"]:
        click.echo(f"  undecodable: {'; '.join(r['skipped'][:10])}")
    if r["matches_manifest"] is False or r["built_file_matches"] is False or r["skipped"]:
        raise RobevalError(f"{r['name']}: verification failed (rebuilt sha256 {r['rebuilt_sha256']})")


@genset.command(name="make-manifest")
@click.argument("kind", type=MANIFEST_MAKER)
@click.option("--target", required=True, help="Dataset whose classes the set uses (stl10, cifar100, cifar10, ...).")
@click.option("--name", default=None, help="Set name (default openimages-TARGET; required for files).")
@click.option("--annotations", type=click.Path(file_okay=False), default=None,
              help="openimages: folder with the official *-annotations-bbox.csv and *images*.csv.")
@click.option("--per-class", type=click.IntRange(min=1), default=None, help="openimages: images per class (200 for stl10, 60 for cifar100).")
@click.option("--seed", type=click.IntRange(0, 2**31 - 1), default=0, show_default=True, help="openimages: seed of the draw.")
@click.option("--min-side", type=Number(0, 1, high_open=True), default=0.2, show_default=True,
              help="openimages: smallest box side, as a fraction of the image.")
@click.option("--classmap", type=click.Path(dir_okay=False), default=None,
              help="openimages: class map CSV (default manifests/openimages-classmap.csv).")
@click.option("--root", type=click.Path(file_okay=False), default=None, help="files: the image tree ROOT/<folder>/<image>.")
@click.option("--map", "mapping", type=click.Path(dir_okay=False), default=None,
              help="files: CSV folder,class mapping folders onto target classes.")
@click.option("--classes", default=None, help="files: the target's classes in label order, comma-separated.")
@click.option("--image-size", type=click.IntRange(*IMAGE_SIZES), default=None,
              help=f"files: side of the built images ({IMAGE_SIZES[0]}-{IMAGE_SIZES[1]}).")
@click.option("--out", type=OutPath(folder=False), default=None,
              help="Manifest to write (default manifests/gensets/NAME.json).")
@click.option("--overwrite", is_flag=True, help="Replace an existing manifest.")
def genset_make_manifest(kind, target, name, annotations, per_class, seed, min_side, classmap, root,
                         mapping, classes, image_size, out, overwrite) -> None:
    """Write a manifest: drawn from Open Images' annotation CSVs, or over a local image tree."""
    from robeval.stages.genset import make_manifest

    path, data = make_manifest(kind, target, out=out, overwrite=overwrite, name=name,
                               annotations=annotations, per_class=per_class, seed=seed,
                               min_side=min_side, classmap=classmap, root=root, mapping=mapping,
                               classes=classes.split(",") if classes else None,
                               image_size=image_size)
    click.echo(f"wrote {path}: {len(data['items'])} items, {len(data['classes'])} classes")
