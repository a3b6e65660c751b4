"""The ``robeval`` command line: one thin function per command, no logic beyond parsing.

Heavy libraries are imported inside the commands, so ``robeval --help`` answers at once.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import click

# Settings these libraries read at import time (ENVIRONMENT.md): no network calls, no telemetry.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")


def _registry_names(module: str, attr: str) -> Callable[[], list[str]]:
    def names() -> list[str]:
        import importlib

        obj = getattr(importlib.import_module(module), attr)
        return list(obj.names() if hasattr(obj, "names") else obj)

    return names


class RegistryName(click.ParamType):
    """A name from a registry, looked up only when needed (so --help stays fast).

    With ``allow_arg``, ``name:ARG`` is accepted when ``name`` is registered (e.g. imagefolder:PATH).
    """

    name = "name"

    def __init__(self, names: Callable[[], list[str]], allow_arg: bool = False) -> None:
        self.names = names
        self.allow_arg = allow_arg

    def get_metavar(self, *args, **kwargs) -> str:
        return "[" + "|".join(self.names()) + "]"

    def convert(self, value, param, ctx):
        base = value.split(":", 1)[0] if self.allow_arg else value
        choices = self.names()
        if base not in choices:
            self.fail(f"unknown {param.name if param else 'value'} {value!r}; choose one of: "
                      f"{', '.join(choices)}", param, ctx)
        return value


DATASET = RegistryName(_registry_names("robeval.data", "DATASETS"), allow_arg=True)
ARCH = RegistryName(_registry_names("robeval.models", "ENCODERS"))
INIT = RegistryName(_registry_names("robeval.models", "INITS"))
PRESET = RegistryName(_registry_names("robeval.config", "PRESETS"))
HEAD = click.Choice(["learned", "fixed"])
LOGITS = click.Choice(["dot", "cosine"])


def parse_seeds(text: str) -> list[int]:
    """'0,1,2' or '0-4' or '3' -> list of ints."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            if "-" in part.strip()[1:]:
                lo, hi = part.split("-", 1)
                seeds += list(range(int(lo), int(hi) + 1))
            else:
                seeds.append(int(part))
    except ValueError:
        raise click.BadParameter(f"{text!r}: give seeds as 0,1,2 or 0-4") from None
    if not seeds:
        raise click.BadParameter("no seeds given")
    return seeds


class RobevalGroup(click.Group):
    """Turns RobevalError into a one-line message and exit 1; Ctrl-C into exit 130."""

    def invoke(self, ctx: click.Context):
        from robeval.errors import RobevalError

        try:
            return super().invoke(ctx)
        except RobevalError as exc:
            raise click.ClickException(str(exc)) from None
        except KeyboardInterrupt:
            click.echo("\ninterrupted: finished files are complete, nothing half-written was left; "
                       "re-run with --resume (train) or the same command (reproduce) to continue",
                       err=True)
            sys.exit(130)


@click.group(cls=RobevalGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="robeval", prog_name="robeval")
def cli() -> None:
    """How the classification layer changes accuracy, robustness and generalisation.

    Fixed (random, frozen) vs learned class vectors, dot-product vs scaled-cosine logits
    (Shalev, Shalev & Keshet, arXiv 2011.08704). Start with `robeval reproduce`: it runs the
    whole study offline on the embedded `shapes` dataset in a few CPU minutes.
    """


def data_dir_option(f):
    return click.option("--data-dir", type=click.Path(file_okay=False), default=None,
                        help="Data root (default: $ROBEVAL_DATA, else ./datasets).")(f)


def device_option(f):
    return click.option("--device", default="auto", show_default=True,
                        help="auto (CUDA when present, else CPU), cpu, cuda or cuda:N.")(f)


@cli.command()
@click.option("--dataset", type=DATASET, default="shapes", show_default=True,
              help="Dataset to train on (imagefolder:PATH for your own).")
@click.option("--arch", type=ARCH, default="smallcnn", show_default=True, help="Encoder.")
@click.option("--head", type=HEAD, default="learned", show_default=True,
              help="learned: class vectors are trained; fixed: drawn from the seed and frozen.")
@click.option("--logits", type=LOGITS, default="dot", show_default=True,
              help="dot: h.w_c + b_c; cosine: S*cos(h, w_c) + b_c.")
@click.option("--scale", "-S", type=float, default=None,
              help="Cosine scale S (default 1). Cosine logits only: an error with --logits dot.")
@click.option("--init", type=INIT, default="sphere", show_default=True, help="How class vectors are drawn.")
@click.option("--bias/--no-bias", default=True, show_default=True, help="Per-class bias b_c.")
@click.option("--learn-scale", is_flag=True, help="Learn S (Hoffer et al.'s fixed Hadamard head).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of one run.")
@click.option("--seeds", default=None, help="Several runs, e.g. 0,1,2 or 0-4: --out is then their parent folder.")
@click.option("--preset", type=PRESET, default="quick", show_default=True,
              help="fast: GPU, 16 epochs, batch 512, bf16, one-cycle LR 0.2. quick: 6 epochs, batch 64, LR 0.1 cosine-annealed (CPU demos). authors: the "
                   "paper's protocol (SGD Nesterov 0.9; LR 0.001 learned-dot, else 0.1; wd 5e-4 dot "
                   "only; ReduceLROnPlateau x0.2 patience 3 on validation accuracy; 80 epochs; batch 32).")
@click.option("--epochs", type=int, default=None, help="Override the preset's epochs.")
@click.option("--batch-size", type=int, default=None, help="Override the preset's batch size.")
@click.option("--lr", type=float, default=None, help="Override the preset's learning rate.")
@click.option("--weight-decay", type=float, default=None, help="Override the preset's weight decay.")
@click.option("--scheduler", type=click.Choice(["plateau", "cosine", "none"]), default=None,
              help="Override the preset's LR schedule.")
@click.option("--val-fraction", type=float, default=0.1, show_default=True,
              help="Share of train held out for validation (datasets without a val split).")
@click.option("--max-train", type=int, default=None, help="Use only the first N training images.")
@click.option("--precision", type=click.Choice(["fp32", "bf16"]), default=None,
              help="bf16 autocast (default: the preset's; fast uses bf16, others fp32).")
@click.option("--channels-last/--no-channels-last", default=True, show_default=True,
              help="NHWC memory layout for convolutions.")
@click.option("--compile", is_flag=True, help="torch.compile the model (GPU; first epoch pays for compiling).")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Run folder (default runs/<dataset>-<arch>-<head variant>-seed<k>).")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last finished epoch.")
@click.option("--overwrite", is_flag=True, help="Replace the run in --out.")
@device_option
@data_dir_option
@click.option("--quiet", is_flag=True, help="No progress bars.")
def train(seeds, out, resume, overwrite, device, data_dir, quiet, **options) -> None:
    """Train one model (or one per seed) and write its run folder.

    \b
    Several GPUs: torchrun --nproc-per-node N -m robeval train ... (--batch-size is the global
    batch; every rank sees the single-process batch order; see robeval/distributed.py).

    A validation split carved from train (or the dataset's own) drives the LR schedule and the
    checkpoint choice; the test set is never read here. Fixed class vectors are drawn from the
    seed, stored in the checkpoint and never touched by the optimizer.
    """
    from robeval.config import TrainConfig
    from robeval.reproduce import run_name
    from robeval.train import train as train_run

    seed_list = parse_seeds(seeds) if seeds else [options["seed"]]
    for seed in seed_list:
        cfg = TrainConfig(**{**options, "seed": seed})
        if not out:
            run_dir = Path("runs") / run_name(cfg)
        else:
            run_dir = Path(out) / f"seed{seed}" if seeds else Path(out)
        click.echo(f"training {run_dir}")
        summary = train_run(cfg, run_dir, device=device, resume=resume, overwrite=overwrite,
                            data_dir=data_dir, progress=not quiet)
        click.echo(f"{run_dir}: best val {100 * summary['best_val_acc']:.2f}% (epoch "
                   f"{summary['best_epoch']}), last val {100 * summary['last_val_acc']:.2f}% "
                   f"in {summary['train_wall_s']:.0f} s")


def expand_runs(paths: tuple[str, ...]) -> list[Path]:
    """Run folders as given, and the run folders directly inside any folder that is not one."""
    from robeval import runs

    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir() and not runs.is_run(p):
            inside = sorted(q for q in p.iterdir() if runs.is_run(q))
            out += inside or [p]
        else:
            out.append(p)
    return out


@cli.command(name="eval")
@click.argument("run_dirs", nargs=-1, type=click.Path())
@click.option("--conditions", default="all", show_default=True,
              help="all, GROUP:all (clean, genset, ...), or names separated by commas.")
@click.option("--checkpoint", type=click.Choice(["best", "last"]), default="best", show_default=True,
              help="best: chosen on validation accuracy; last: after the final epoch.")
@click.option("--features/--no-features", default=True, show_default=True,
              help="Store penultimate features (needed for geometry and browse).")
@click.option("--analyze/--no-analyze", "analyze", default=True, show_default=True,
              help="Measure the geometry afterwards (robeval analyze) when features were stored.")
@click.option("--list-conditions", is_flag=True, help="List the conditions for each run's dataset and exit.")
@click.option("--import-checkpoint", type=click.Path(dir_okay=False), default=None,
              help="Evaluate a model trained elsewhere: the authors' .ckpt or a plain state dict.")
@click.option("--embedding", type=click.Path(dir_okay=False), default=None,
              help="With --import-checkpoint: the authors' separate embedding (d x C) file.")
@click.option("--bias-file", type=click.Path(dir_okay=False), default=None,
              help="With --import-checkpoint: the authors' separate bias file.")
@click.option("--dataset", type=DATASET, default=None, help="With --import-checkpoint: its dataset.")
@click.option("--arch", type=ARCH, default="resnet18-authors", show_default=True,
              help="With --import-checkpoint: its encoder.")
@click.option("--head", type=HEAD, default="fixed", show_default=True, help="With --import-checkpoint.")
@click.option("--logits", type=LOGITS, default="dot", show_default=True, help="With --import-checkpoint.")
@click.option("--scale", "-S", type=float, default=None, help="With --import-checkpoint: cosine S.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="With --import-checkpoint: the run folder to create.")
@device_option
@data_dir_option
@click.option("--quiet", is_flag=True, help="No progress bars.")
def eval_cmd(run_dirs, conditions, checkpoint, features, analyze, list_conditions, import_checkpoint,
             embedding, bias_file, dataset, arch, head, logits, scale, out, device, data_dir, quiet):
    """Evaluate runs on conditions; write eval/<condition>.npz and eval.json per run.

    \b
    Models made elsewhere (a run folder is created from them, then evaluated):
      authors' format: --import-checkpoint run.ckpt --embedding embedding --bias-file bias
                       --dataset stl10 --arch resnet18-authors --head fixed --logits cosine -S 1
      plain state dict (torchvision/timm style, class layer as fc./linear./classifier./head.):
                       --import-checkpoint model.pt --dataset cifar10 --arch resnet18 --head learned
    """
    from robeval import runs
    from robeval.evaluate import accuracy_table, evaluate_run

    dirs = expand_runs(run_dirs)
    if import_checkpoint:
        from robeval.importer import import_run

        if not dataset or not out:
            raise click.UsageError("--import-checkpoint needs --dataset and --out")
        dirs.append(import_run(import_checkpoint, Path(out), dataset=dataset, arch=arch, head=head,
                               logits=logits, scale=scale, embedding=embedding, bias=bias_file))
    if not dirs:
        raise click.UsageError("give at least one run folder (or --import-checkpoint)")
    if list_conditions:
        from robeval.conditions import available

        for d in dirs:
            _, config = runs.open_run(d)
            names = [c.name for c in available(config["config"]["dataset"])]
            click.echo(f"{d}: {', '.join(names)}")
        return
    for d in dirs:
        result = evaluate_run(d, conditions, checkpoint=checkpoint, device=device, data_dir=data_dir,
                              features=features, progress=not quiet)
        click.echo(f"\n{d} ({result['variant']}, {checkpoint} checkpoint)")
        click.echo(accuracy_table(result["conditions"]))
        if features and analyze:
            from robeval.analyze import analyze_run, summary_line

            click.echo("geometry: " + summary_line(analyze_run(d)))


@cli.command()
@click.argument("run_dirs", nargs=-1, type=click.Path())
@click.option("--plots/--no-plots", default=True, show_default=True, help="Write PNG plots to RUN/plots/.")
@click.option("--tsne", is_flag=True, help="Also a t-SNE view of the features (slower; scikit-learn).")
def analyze(run_dirs, plots, tsne) -> None:
    """Measure the geometry of evaluated runs: analysis.json and plots/ in each run folder.

    \b
    Class-vector cosines and their Spearman correlation with confusions, compactness (with the
    ReLU ceiling), separability and margins, neural collapse NC1-NC4, class weights vs class
    centres, feature norms and a 2-D view, from eval/*.npz alone (see docs/analysis.md).
    """
    from robeval.analyze import analyze_run, summary_line

    dirs = expand_runs(run_dirs)
    if not dirs:
        raise click.UsageError("give at least one evaluated run folder")
    for d in dirs:
        result = analyze_run(d, plots=plots, tsne=tsne)
        click.echo(f"{d} ({result['variant']}): {summary_line(result)}")
        click.echo(f"  wrote {d}/analysis.json" + (f" and {len(result['plots'])} plots in {d}/plots/"
                                                     if result["plots"] else ""))


@cli.command()
@click.argument("run_dirs", nargs=-1, type=click.Path())
@click.option("--out", type=click.Path(file_okay=False), default="report", show_default=True,
              help="Folder for report.md, report.html, CSV/JSON files and plots/.")
@click.option("--analyze/--no-analyze", "analyze", default=True, show_default=True,
              help="Analyse runs whose analysis.json is missing or older than their eval.")
@click.option("--plots/--no-plots", default=True, show_default=True, help="Write PNG plots.")
def report(run_dirs, out, analyze, plots) -> None:
    """Aggregate evaluated runs over seeds (mean ± std, 95% t-interval, n) per configuration and
    condition; paired fixed − learned differences; geometry; the paper's claims checked.

    RUN_DIRS may be run folders or folders that contain run folders (e.g. reproduce/runs).
    """
    from robeval.report import terminal_table, write_report

    rows = write_report(expand_runs(run_dirs), out, analyze=analyze, plots=plots)
    click.echo(terminal_table(rows))
    click.echo(f"\nwrote {out}/report.md, report.html, results.csv, paired.csv, geometry.csv, "
               "results.json")


@cli.command()
@click.option("--dataset", type=DATASET, default="shapes", show_default=True)
@click.option("--arch", type=ARCH, default="smallcnn", show_default=True)
@click.option("--preset", type=PRESET, default="quick", show_default=True)
@click.option("--seeds", default="0,1", show_default=True, help="Seeds per head variant, e.g. 0,1,2 or 0-4.")
@click.option("--scales", default="1", show_default=True, help="Cosine S values, e.g. 1,5,10,20,40.")
@click.option("--epochs", type=int, default=None, help="Override the preset's epochs.")
@click.option("--batch-size", type=int, default=None, help="Override the preset's batch size.")
@click.option("--max-train", type=int, default=4000, show_default=True,
              help="Training images per run (0 = all); the default keeps the CPU demo short.")
@click.option("--conditions", default="all", show_default=True, help="Conditions to evaluate.")
@click.option("--extra-heads", is_flag=True,
              help="Also fixed simplex-ETF heads (dot and cosine) and a fixed Hadamard cosine head "
                   "with a learned scale (Hoffer et al. 2018).")
@click.option("--out", type=click.Path(file_okay=False), default="reproduce", show_default=True)
@device_option
@click.option("--devices", default=None,
              help="Run grid cells in parallel, one worker per device, e.g. cuda:0,cuda:1 (or 0,1).")
@data_dir_option
@click.option("--quiet", is_flag=True, help="No progress bars.")
def reproduce(dataset, arch, preset, seeds, scales, epochs, batch_size, max_train, conditions,
              extra_heads, out, device, devices, data_dir, quiet) -> None:
    """The whole study in one command: {learned, fixed} x {dot, cosine} over seeds, every
    condition, a report. With no arguments it runs offline on the embedded `shapes` dataset.

    Re-running the same command continues an interrupted study (finished runs are skipped).
    """
    import time

    from robeval.reproduce import ReproducePlan
    from robeval.reproduce import reproduce as run

    try:
        scale_list = tuple(float(s) for s in scales.split(","))
    except ValueError:
        raise click.BadParameter(f"{scales!r}: give S values as 1,5,10", param_hint="--scales") from None
    if any(s <= 0 for s in scale_list):
        raise click.BadParameter("every S must be > 0", param_hint="--scales")
    plan = ReproducePlan(dataset=dataset, arch=arch, preset=preset, seeds=tuple(parse_seeds(seeds)),
                         scales=scale_list, epochs=epochs, batch_size=batch_size,
                         max_train=max_train or None, conditions=conditions, extra_heads=extra_heads)
    device_list = [d if not d.isdigit() else f"cuda:{d}" for d in devices.split(",")] if devices else None
    t0 = time.time()
    result = run(plan, out, device=device, devices=device_list, data_dir=data_dir, progress=not quiet)
    click.echo(result["table"])
    t = result["timings"]
    click.echo(f"\nreport: {result['report']}/report.md")
    click.echo(f"wall time {time.time() - t0:.0f} s (train {t['train_s']:.0f} s, eval {t['eval_s']:.0f} s, "
               f"report {t['report_s']:.0f} s)")


@cli.command()
@click.argument("run_dir", type=click.Path())
@click.option("--conditions", default="all", show_default=True,
              help="Evaluated conditions to show: all, or names separated by commas.")
@click.option("--only-failures", is_flag=True,
              help="Only source images that some chosen condition gets wrong (all their slices).")
@click.option("--name", default=None, help="FiftyOne dataset name (default robeval-<run folder>).")
@click.option("--overwrite", is_flag=True,
              help="Replace a dataset of that name (by default this run's dataset is updated in place).")
@click.option("--limit", type=int, default=None, help="Only the first N images of each condition.")
@click.option("--embeddings", type=click.Choice(["pca", "tsne", "umap", "none"]), default="pca",
              show_default=True, help="Embeddings map of the stored features (umap needs umap-learn).")
@click.option("--brain/--no-brain", default=True, show_default=True,
              help="Mistakenness, hardness and the embeddings map (FiftyOne Brain).")
@click.option("--launch/--no-launch", default=True, show_default=True,
              help="Serve the App after building; --no-launch only builds the dataset.")
@click.option("--address", default="127.0.0.1", show_default=True, help="Address the App listens on.")
@click.option("--port", type=int, default=5151, show_default=True, help="Port the App listens on.")
@data_dir_option
@click.option("--quiet", is_flag=True, help="No progress bars.")
def browse(run_dir, conditions, only_failures, name, overwrite, limit, embeddings, brain, launch,
           address, port, data_dir, quiet) -> None:
    """Browse a run's eval outputs in the FiftyOne App: one group per source image, one slice
    per condition, failures tagged, mistakenness and an embeddings map from robeval's own outputs.

    The dataset is persistent: a second call updates it in place. Ctrl-C or SIGTERM stops the App
    and leaves no process behind. See docs/browse.md.
    """
    from robeval.browse.app import app_url, check_port, serve
    from robeval.browse.build import build_dataset

    if launch:
        check_port(address, port)  # before minutes of building, not after
    try:
        ds = build_dataset(run_dir, conditions=conditions, name=name, only_failures=only_failures,
                           overwrite=overwrite, limit=limit, embeddings=embeddings, brain=brain,
                           data_dir=data_dir, progress=not quiet, echo=click.echo)
    except KeyboardInterrupt:
        click.echo("\ninterrupted: PNGs written so far are complete; run the same command to finish "
                   "the dataset (unfinished slices are rebuilt)", err=True)
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


@cli.command()
@click.option("--dataset", type=DATASET, default="shapes", show_default=True)
@click.option("--split", default="test", show_default=True)
@click.option("--conditions", default="all", show_default=True,
              help="all, families (impulse_noise,jpeg_compression,defocus_blur), FAMILY/S[@TABLE] "
                   "names, albu:Transform(args) or albu:FILE.yaml; commas separate.")
@click.option("--severities", default="1-5", show_default=True, help="e.g. 1-5, 3 or 1,3,5.")
@click.option("--table", type=click.Choice(["auto", "cifar", "tinyimagenet", "imagenet"]), default="auto",
              show_default=True, help="Parameter table; auto: nearest native size on a log scale "
                                      "(32->cifar, 64/96->tinyimagenet, >=128->imagenet).")
@click.option("--backend", type=click.Choice(["reference", "fast"]), default="reference", show_default=True,
              help="reference: Hendrycks' formulas per image; fast: batched torch (impulse, defocus).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Processes for per-image work; the pixels do not depend on it.")
@click.option("--seed", type=int, default=0, show_default=True, help="Base seed of the noise.")
@click.option("--preview", type=click.IntRange(min=1), default=None,
              help="Instead of building the cache, draw N sample images per condition and severity.")
@click.option("--out", type=click.Path(dir_okay=False), default="preview.png", show_default=True,
              help="With --preview: the PNG to write.")
@device_option
@data_dir_option
@click.option("--quiet", is_flag=True, help="No progress bars.")
def corrupt(dataset, split, conditions, severities, table, backend, workers, seed, preview, out,
            device, data_dir, quiet) -> None:
    """Build cached corrupted copies of a split (one .npz + sidecar JSON per condition and severity
    under <data root>/corruptions/), or draw a preview grid. Re-runs skip valid files and rebuild
    damaged or outdated ones; `robeval eval` builds missing ones on demand.
    """
    from robeval.corrupted import corrupt_dataset
    from robeval.corrupted import preview as draw_preview
    from robeval.corruptions import parse_severities

    if device == "auto":
        device = "cpu" if backend == "reference" else device
    if preview:
        path = draw_preview(dataset, split, conditions, preview, out, table=table, backend=backend,
                            seed=seed, data_dir=data_dir, device=device)
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
    from robeval.data.gensets import list_sets

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
@click.option("--workers", type=int, default=8, show_default=True, help="Parallel downloads.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def genset_build(name, root, images, data_dir, pin, skip_bad, workers, quiet) -> None:
    """Build set NAME (or a manifest .json path) into <data root>/gensets/."""
    from robeval.data.gensets import build, out_paths
    from robeval.data.registry import data_root

    info = build(name, data_dir, root=root, images=images, pin=pin, skip_bad=skip_bad,
                 workers=workers, progress=not quiet)
    npz, _ = out_paths(info["name"], data_root(data_dir))
    match = {True: "matches the manifest", False: "DIFFERS from the manifest",
             None: "no built_sha256 in the manifest (run with --pin to record it)"}[info["matches_manifest"]]
    click.echo(f"built {info['name']}: {info['n']} images, {len(info['classes'])} classes -> {npz}")
    click.echo(f"sha256 {info['built_sha256']}: {match}")
    if info["skipped"]:
        click.echo(f"skipped {len(info['skipped'])} undecodable image(s): {'; '.join(info['skipped'][:10])}")
    if info.get("pinned"):
        click.echo(f"recorded {info['pinned']} hash(es) in {info['manifest']}")


@genset.command(name="verify")
@click.argument("name")
@genset_source_options
@click.option("--quiet", is_flag=True, help="No progress bars.")
def genset_verify(name, root, images, data_dir, quiet) -> None:
    """Re-check every source hash, rebuild in memory, compare with the manifest and the built file."""
    from robeval.data.gensets import verify
    from robeval.errors import RobevalError

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
@click.argument("kind", type=click.Choice(["openimages", "files"]))
@click.option("--target", required=True, help="Dataset whose classes the set uses (stl10, cifar100, cifar10, ...).")
@click.option("--name", default=None, help="Set name (default openimages-TARGET; required for files).")
@click.option("--annotations", type=click.Path(file_okay=False), default=None,
              help="openimages: folder with the official *-annotations-bbox.csv and *images*.csv.")
@click.option("--per-class", type=int, default=None, help="openimages: images per class (200 for stl10, 60 for cifar100).")
@click.option("--seed", type=int, default=0, show_default=True, help="openimages: seed of the draw.")
@click.option("--min-side", type=float, default=0.2, show_default=True,
              help="openimages: smallest box side, as a fraction of the image.")
@click.option("--classmap", type=click.Path(dir_okay=False), default=None,
              help="openimages: class map CSV (default manifests/openimages-classmap.csv).")
@click.option("--root", type=click.Path(file_okay=False), default=None, help="files: the image tree ROOT/<folder>/<image>.")
@click.option("--map", "mapping", type=click.Path(dir_okay=False), default=None,
              help="files: CSV folder,class mapping folders onto target classes.")
@click.option("--classes", default=None, help="files: the target's classes in label order, comma-separated.")
@click.option("--image-size", type=int, default=None, help="files: side of the built images.")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Manifest to write (default manifests/gensets/NAME.json).")
@click.option("--overwrite", is_flag=True, help="Replace an existing manifest.")
def genset_make_manifest(kind, target, name, annotations, per_class, seed, min_side, classmap, root,
                         mapping, classes, image_size, out, overwrite) -> None:
    """Write a manifest: drawn from Open Images' annotation CSVs, or over a local image tree."""
    import json

    from robeval.fileio import write_text

    if kind == "openimages":
        from robeval.data.openimages import make_manifest

        if not annotations or not per_class:
            raise click.UsageError("openimages needs --annotations DIR and --per-class N")
        data = make_manifest(target, annotations, per_class, seed, name, min_side, classmap)
    else:
        from robeval.data.localsets import make_files_manifest

        if not root or not name:
            raise click.UsageError("files needs --root DIR and --name NAME")
        data = make_files_manifest(root, target, name, mapping,
                                   classes.split(",") if classes else None, image_size)
    path = Path(out or Path("manifests") / "gensets" / f"{data['name']}.json")
    if path.exists() and not overwrite:
        raise click.UsageError(f"{path} exists; pass --overwrite to replace it")
    write_text(path, json.dumps(data, indent=1) + "\n")
    click.echo(f"wrote {path}: {len(data['items'])} items, {len(data['classes'])} classes")


def main() -> None:
    cli(prog_name="robeval")


if __name__ == "__main__":
    main()
