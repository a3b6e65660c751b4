"""Study commands: train, eval, analyze, report (reproduce, which runs them all, is in reproduce.py)."""

from __future__ import annotations

from pathlib import Path

import click

from robeval.cli.group import cli
from robeval.cli.options import (
    ARCH,
    BACKEND,
    CHECKPOINT,
    DATASET,
    HEAD,
    IMPORT_ARCH,
    INIT,
    LOGITS,
    PRECISION,
    PRESET,
    SCHEDULER,
    data_dir_option,
    device_option,
    expand_runs,
    parse_floats,
    parse_json_object,
    parse_seeds,
    quiet_option,
)
from robeval.cli.values import (
    BATCH,
    EPOCHS,
    FRACTION,
    IMAGES,
    IMAGES_OR_OFF,
    NON_NEGATIVE,
    POSITIVE,
    OutPath,
)

MAX_SIDE = 4096  # --resize/--crop: stages/importer.MAX_SIDE (tests/test_import.py keeps them equal)


@cli.command()
@click.option("--dataset", type=DATASET, default="shapes", show_default=True,
              help="Dataset to train on (imagefolder:PATH for your own).")
@click.option("--arch", type=ARCH, default="smallcnn", show_default=True, help="Encoder.")
@click.option("--head", type=HEAD, default="learned", show_default=True,
              help="learned: class vectors are trained; fixed: drawn from the seed and frozen.")
@click.option("--logits", type=LOGITS, default="dot", show_default=True,
              help="dot: h.w_c + b_c; cosine: S*cos(h, w_c) + b_c.")
@click.option("--scale", "-S", type=POSITIVE, default=None,
              help="Cosine scale S (default 1). Cosine logits only: an error with --logits dot.")
@click.option("--init", type=INIT, default="sphere", show_default=True, help="How class vectors are drawn.")
@click.option("--bias/--no-bias", default=True, show_default=True, help="Per-class bias b_c.")
@click.option("--learn-scale", is_flag=True, help="Learn S (Hoffer et al.'s fixed Hadamard head).")
@click.option("--margin", type=NON_NEGATIVE, default=0.0, show_default=True,
              help="CosFace margin m (cosine logits): S*(cos - m) on the true class, in training only.")
@click.option("--seed", type=click.IntRange(0, 2**31 - 1), default=0, show_default=True, help="Seed of one run.")
@click.option("--seeds", default=None,
              help="Several runs: a count (3 = seeds 0,1,2), a range 0-4 or a list 0,1,5; --out is then "
                   "their parent folder (OUT/seed0, ...).")
@click.option("--preset", type=PRESET, default="quick", show_default=True,
              help="fast: GPU, 16 epochs, batch 512, bf16, one-cycle LR 0.2. quick: 16 epochs, batch 32, "
                   "LR 0.1 dot / 0.5 cosine cosine-annealed, precise BatchNorm statistics (CPU "
                   "demos). authors: the "
                   "paper's protocol (SGD Nesterov 0.9; LR 0.001 learned-dot, else 0.1; wd 5e-4 dot "
                   "only; ReduceLROnPlateau x0.2 patience 3 on validation accuracy; 80 epochs; batch 32).")
@click.option("--epochs", type=EPOCHS, default=None, help="Override the preset's epochs.")
@click.option("--batch-size", type=BATCH, default=None, help="Override the preset's batch size.")
@click.option("--lr", type=POSITIVE, default=None, help="Override the preset's learning rate.")
@click.option("--weight-decay", type=NON_NEGATIVE, default=None, help="Override the preset's weight decay.")
@click.option("--scheduler", type=SCHEDULER, default=None,
              help="Override the preset's LR schedule.")
@click.option("--val-fraction", type=FRACTION, default=0.1, show_default=True,
              help="Share of train held out for validation (datasets without a val split).")
@click.option("--max-train", type=IMAGES, default=None, help="Use only the first N training images.")
@click.option("--precise-bn-images", type=IMAGES_OR_OFF, default=None,
              help="Re-estimate BatchNorm statistics over this many training images after each "
                   "epoch, before validation (0: keep the running averages; default: the preset's, "
                   "1,024 for quick, 0 for the others).")
@click.option("--precision", type=PRECISION, default=None,
              help="bf16 autocast (default: the preset's; fast uses bf16, others fp32).")
@click.option("--channels-last/--no-channels-last", default=True, show_default=True,
              help="NHWC memory layout for convolutions.")
@click.option("--compile", is_flag=True, help="torch.compile the model (GPU; first epoch pays for compiling).")
@click.option("--track/--no-track", default=True, show_default=True,
              help="Log the geometry (class-vector cosines, compactness, NC1, margin, W movement) each epoch.")
@click.option("--out", type=OutPath(folder=True), default=None,
              help="Run folder (default runs/<dataset>-<arch>-<head variant>-seed<k>).")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last finished epoch.")
@click.option("--overwrite", is_flag=True, help="Replace the run in --out.")
@device_option
@data_dir_option
@quiet_option
def train(seeds, out, resume, overwrite, device, data_dir, quiet, **options) -> None:
    """Train one model (or one per seed) and write its run folder.

    \b
    Several GPUs: torchrun --nproc-per-node N -m robeval train ... (--batch-size is the global
    batch; every rank sees the single-process batch order; see robeval/training/distributed.py).

    A validation split carved from train (or the dataset's own) drives the LR schedule and the
    checkpoint choice; the test set is never read here. Fixed class vectors are drawn from the
    seed, stored in the checkpoint and never touched by the optimizer.
    """
    from robeval.stages.train import TrainConfig, default_run_dir
    from robeval.stages.train import train as train_run

    seed_list = parse_seeds(seeds) if seeds is not None else [options["seed"]]
    for seed in seed_list:
        cfg = TrainConfig(**{**options, "seed": seed})
        if not out:
            run_dir = default_run_dir(cfg)
        else:
            run_dir = Path(out) / f"seed{seed}" if seeds is not None else Path(out)
        click.echo(f"training {run_dir}")
        summary = train_run(cfg, run_dir, device=device, resume=resume, overwrite=overwrite,
                            data_dir=data_dir, progress=not quiet)
        click.echo(f"{run_dir}: best val {100 * summary['best_val_acc']:.2f}% (epoch "
                   f"{summary['best_epoch']}), last val {100 * summary['last_val_acc']:.2f}% "
                   f"in {summary['train_wall_s']:.0f} s")


@cli.command(name="eval")
@click.argument("run_dirs", nargs=-1, type=click.Path())
@click.option("--conditions", default="all", show_default=True,
              help="all (clean, corrupt:study, generalisation sets), GROUP:all (clean, genset, "
                   "corrupt, ...), corrupt:standard|extra|study|noise|blur|weather|digital, or "
                   "names (defocus_blur/3[@TABLE]) separated by commas.")
@click.option("--checkpoint", type=CHECKPOINT, default="best", show_default=True,
              help="best: chosen on validation accuracy; last: after the final epoch.")
@click.option("--features/--no-features", default=True, show_default=True,
              help="Store penultimate features (needed for geometry and browse).")
@click.option("--analyze/--no-analyze", "analyze", default=True, show_default=True,
              help="Measure the geometry afterwards (robeval analyze) when features were stored.")
@click.option("--corrupt-backend", type=BACKEND, default="reference", show_default=True,
              help="How missing corrupted sets are built: reference (Hendrycks' formulas per "
                   "image) or fast (a family's batched path where it has one; others fall back to "
                   "reference). Cache files and eval.json record which ran.")
@click.option("--list-conditions", is_flag=True, help="List the conditions for each run's dataset and exit.")
@click.option("--import-checkpoint", type=click.Path(dir_okay=False), default=None,
              help="Evaluate a model trained elsewhere: the authors' .ckpt or a plain state dict.")
@click.option("--embedding", type=click.Path(dir_okay=False), default=None,
              help="With --import-checkpoint: the authors' separate embedding (d x C) file.")
@click.option("--bias-file", type=click.Path(dir_okay=False), default=None,
              help="With --import-checkpoint: the authors' separate bias file.")
@click.option("--dataset", type=DATASET, default=None, help="With --import-checkpoint: its dataset.")
@click.option("--arch", type=IMPORT_ARCH, default="resnet18-authors", show_default=True,
              help="With --import-checkpoint: its encoder, torchvision:NAME, timm:NAME[.TAG], "
                   "robustbench:DATASET/THREAT/NAME, torchscript, or your own code: py:FILE.py:FUNCTION "
                   "or package.module:FUNCTION (robeval imports and RUNS that code).")
@click.option("--arch-kwargs", callback=parse_json_object, default=None, metavar="JSON",
              help="With --import-checkpoint: keyword arguments for the model's constructor, a JSON "
                   "object, e.g. '{\"num_classes\": 10}'.")
@click.option("--preprocess", "pipeline", default=None, metavar="NAME",
              help="With --import-checkpoint: the preprocessing pipeline: timm (timm's eval transform; "
                   "the default for timm:), timm:NAME[.TAG], torchvision:WEIGHTS (e.g. "
                   "torchvision:ResNet50_Weights.IMAGENET1K_V2), robustbench:DATASET/THREAT/NAME (the "
                   "default for robustbench:) or explicit (--mean/--std/--resize/--crop; the default "
                   "otherwise).")
@click.option("--head", type=HEAD, default=None,
              help="With --import-checkpoint: learned or fixed (required; fixed with --embedding).")
@click.option("--head-layer", default=None, help="With --import-checkpoint: the final Linear's name.")
@click.option("--mean", callback=parse_floats, help="With --import-checkpoint: 1 or 3 numbers [0.5].")
@click.option("--std", callback=parse_floats, help="With --import-checkpoint: 1 or 3 numbers [0.5].")
@click.option("--resize", type=click.IntRange(0, MAX_SIDE), default=None,
              help="With --import-checkpoint: resize the shorter side to this many pixels (0: no).")
@click.option("--crop", type=click.IntRange(0, MAX_SIDE), default=None,
              help="With --import-checkpoint: then a centre crop of this side (0: no).")
@click.option("--logits", type=LOGITS, default="dot", show_default=True, help="With --import-checkpoint.")
@click.option("--scale", "-S", type=POSITIVE, default=None, help="With --import-checkpoint: cosine S.")
@click.option("--seed", type=click.IntRange(0, 2**31 - 1), default=0, show_default=True,
              help="With --import-checkpoint: the seed it was trained with (the report groups imports "
                   "of one configuration over their seeds).")
@click.option("--out", type=OutPath(folder=True), default=None,
              help="With --import-checkpoint: the run folder to create.")
@click.option("--overwrite", is_flag=True,
              help="With --import-checkpoint: replace the imported run in --out (only a run folder).")
@device_option
@data_dir_option
@quiet_option
def eval_cmd(run_dirs, conditions, checkpoint, features, analyze, corrupt_backend, list_conditions,
             import_checkpoint, embedding, bias_file, dataset, arch, arch_kwargs, pipeline, head,
             head_layer, mean, std, resize, crop, logits, scale, seed, out, overwrite, device, data_dir,
             quiet):
    """Evaluate runs on conditions; write eval/<condition>.npz and eval.json per run.

    \b
    Models made elsewhere (a run folder is created from them, then evaluated):
      authors' format: --import-checkpoint run.ckpt --embedding embedding --bias-file bias
                       --dataset stl10 --arch resnet18-authors --head fixed --logits cosine -S 1
      plain state dict (torchvision/timm style, class layer as fc./linear./classifier./head.):
                       --import-checkpoint model.pt --dataset cifar10 --arch resnet18 --head learned
      torchvision/timm: --import-checkpoint r18.pt --arch torchvision:resnet18 --head learned
                       --dataset cifar10 --mean 0.4914,0.4822,0.4465 --std 0.247,0.243,0.261
                       (timm:NAME[.TAG] takes timm's own eval transform unless told otherwise;
                       --preprocess torchvision:ResNet50_Weights.IMAGENET1K_V2 takes torchvision's)
      TorchScript:     --import-checkpoint model.ts --arch torchscript --head learned ...
      your own code:   --import-checkpoint r18.pt --arch py:cifar_resnet.py:build
                       --arch-kwargs '{"num_classes": 10}' (robeval imports and runs that file)
      RobustBench:     --import-checkpoint Standard.pt --arch robustbench:cifar10/corruptions/Standard
                       (pip install 'robeval[robustbench]' && pip install --no-deps robustbench==1.1.1)
    """
    from robeval.stages.evaluate import accuracy_table, evaluate_run

    dirs = expand_runs(run_dirs)
    if not import_checkpoint:
        _refuse_import_only(click.get_current_context())
    if import_checkpoint:
        from robeval.stages.importer import import_run

        if not dataset or not out:
            raise click.UsageError("--import-checkpoint needs --dataset and --out")
        if not list_conditions:  # a bad --conditions is refused before the import writes a run
            from robeval.stages.evaluate import check_conditions

            check_conditions(conditions, dataset, data_dir)
        from robeval.stages.importer import imported_line

        run_dir = import_run(import_checkpoint, Path(out), dataset=dataset, arch=arch, head=head,
                             logits=logits, scale=scale, embedding=embedding, bias=bias_file,
                             head_layer=head_layer, data_dir=data_dir, pipeline=pipeline,
                             arch_kwargs=arch_kwargs, seed=seed, overwrite=overwrite,
                             preprocess={"mean": mean, "std": std, "resize": resize, "crop": crop})
        click.echo(imported_line(run_dir))
        dirs.append(run_dir)
    if not dirs:
        raise click.UsageError("give at least one run folder (or --import-checkpoint)")
    if list_conditions:
        from robeval.stages.evaluate import listed_conditions

        for d in dirs:
            click.echo(f"{d}: {', '.join(listed_conditions(d, data_dir))}")
        return
    for d in dirs:
        result = evaluate_run(d, conditions, checkpoint=checkpoint, device=device, data_dir=data_dir,
                              features=features, progress=not quiet, corrupt_backend=corrupt_backend)
        click.echo(f"\n{d} ({result['variant']}, {checkpoint} checkpoint)")
        click.echo(accuracy_table(result["conditions"]))
        if features and analyze:
            from robeval.stages.analyze import analyze_run, summary_line

            click.echo("geometry: " + summary_line(analyze_run(d)))


IMPORT_ONLY = ("embedding", "bias_file", "dataset", "arch", "arch_kwargs", "pipeline", "head", "head_layer",
               "mean", "std", "resize", "crop", "logits", "scale", "seed", "out", "overwrite")


def _refuse_import_only(ctx: click.Context) -> None:
    """Options that describe an import do nothing on a run folder: refused, not dropped."""
    from click.core import ParameterSource

    given = [p.opts[0] for p in ctx.command.params if p.name in IMPORT_ONLY
             and ctx.get_parameter_source(p.name) not in (None, ParameterSource.DEFAULT)]
    if given:
        raise click.UsageError(f"{', '.join(given)} only appl{'ies' if len(given) == 1 else 'y'} with "
                               "--import-checkpoint (a run folder already records its model)")


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
    from robeval.stages.analyze import analyze_run, summary_line

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
@click.option("--out", type=OutPath(folder=True), default="report", show_default=True,
              help="Folder for report.md, report.html, CSV/JSON files and plots/.")
@click.option("--analyze/--no-analyze", "analyze", default=True, show_default=True,
              help="Analyse runs whose analysis.json is missing or older than their eval.")
@click.option("--plots/--no-plots", default=True, show_default=True, help="Write PNG plots.")
@click.option("--sweep", "sweep_file", type=click.Path(dir_okay=False), default=None, metavar="SWEEP.JSON",
              help="A reproduce OUT/sweep.json: the report gets its tuning table; runs of that "
                   "sweep are reported only when their setting was chosen on validation (other runs, "
                   "e.g. a longer study at the chosen settings, are all reported).")
@click.option("--ce-reference", default=None, metavar="VARIANT|PATH|none",
              help="What mCE and relative mCE are normalised by: a head variant of these runs (its "
                   "mean error over seeds), or a folder of other runs' eval outputs (run folders "
                   "with eval.json), or none. Default: learned-dot when the runs have it, else none.")
@click.option("--er-fit", default="study", show_default=True, metavar="study|PATH",
              help="The runs the effective-robustness fit (logit OOD vs logit clean accuracy) is "
                   "over: every run given, or a folder of other evaluated runs of the same dataset.")
@click.option("--plateau-tolerance", type=click.FloatRange(0, 100, min_open=True), default=None,
              metavar="PP", help="Judge every run's plateau by this rule: its validation accuracy "
                                 "moved at most PP percentage points over its last two epochs (e.g. "
                                 "0.5). Default: the rule it was trained under (robeval's 1 pp).")
def report(run_dirs, out, analyze, plots, sweep_file, ce_reference, er_fit, plateau_tolerance) -> None:
    """Aggregate evaluated runs over seeds (mean ± std, 95% t-interval, n) per configuration and
    condition; paired fixed − learned differences; geometry; the paper's claims checked; the
    field's corruption metrics (mean corruption accuracy, mCE against --ce-reference, effective
    robustness).

    RUN_DIRS may be run folders or folders that contain run folders (e.g. reproduce/runs).
    """
    from robeval.stages.report import terminal_table, write_report
    from robeval.stages.tuning import read_sweep, reported_runs

    dirs = expand_runs(run_dirs)
    sweep = read_sweep(sweep_file) if sweep_file else None
    if sweep is not None:
        dirs = reported_runs(dirs, sweep)
        if not dirs:
            raise click.UsageError(f"every run given is one of {sweep_file}'s settings not chosen "
                                   "on validation; give the chosen runs or runs trained after it")
    rows = write_report(dirs, out, analyze=analyze, plots=plots, sweep=sweep,
                        ce_reference=ce_reference, er_fit=er_fit,
                        plateau_tolerance=None if plateau_tolerance is None else plateau_tolerance / 100)
    click.echo(terminal_table(rows))
    click.echo(f"\nwrote {out}/report.md, report.html, results.csv, paired.csv, geometry.csv, "
               "results.json")
