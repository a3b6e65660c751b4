"""``robeval reproduce``: the whole study in one command (the grid, its sweep, the report)."""

from __future__ import annotations

import click

from robeval.cli.cluster import (
    INCOMPLETE_EXIT,
    echo_incomplete,
    echo_pending,
    launch_options,
    launcher_options,
)
from robeval.cli.group import cli
from robeval.cli.options import (
    ARCH,
    BACKEND,
    DATASET,
    HEADS,
    PRESET,
    data_dir_option,
    device_option,
    parse_names,
    parse_seeds,
    quiet_option,
)
from robeval.cli.values import (
    BATCH,
    EPOCHS,
    IMAGES_OR_ALL,
    POSITIVE,
    DeviceList,
    NumberList,
    OutPath,
)


@cli.command()
@click.option("--dataset", type=DATASET, default="shapes", show_default=True)
@click.option("--arch", default="tinycnn", show_default=True, metavar="NAME[,NAME...]",
              help="Encoder(s), comma-separated: the paper used resnet18,vgg16bn,mobilenetv2; "
                   "smallcnn suits real data on a CPU (--preset cpu).")
@click.option("--preset", type=PRESET, default="quick", show_default=True,
              help="authors: the paper's protocol; fast: GPU; cpu: real data on a CPU; quick: the "
                   "embedded CPU demo.")
@click.option("--seeds", default="3", show_default=True,
              help="Seeds per cell: a count (3 = seeds 0,1,2), a range 0-4 or a list 0,1,5.")
@click.option("--scales", type=NumberList(POSITIVE), default="1", show_default=True,
              help="Cosine S values, e.g. 1,5,10,20,40. With several, S is chosen per cosine variant "
                   "on validation together with the LR (--lrs): the (LR, S) setting with the best "
                   "mean validation accuracy is kept and only its runs are evaluated on test; dot "
                   "heads have no S.")
@click.option("--lrs", type=NumberList(POSITIVE), default=None, metavar="LR[,LR...]",
              help="Learning rates to sweep, e.g. 0.02,0.05,0.1,0.2,0.5: every head variant trains at "
                   "each (with each S of --scales); the best mean validation accuracy over seeds is "
                   "kept per variant, and only the chosen runs are evaluated on test and the other "
                   "conditions.")
@click.option("--epochs", type=EPOCHS, default=None, help="Override the preset's epochs.")
@click.option("--batch-size", type=BATCH, default=None, help="Override the preset's batch size.")
@click.option("--max-train", type=IMAGES_OR_ALL, default=None,
              help="Training images per run (0 = all). Default: 3,000 with the quick preset, which "
                   "keeps the CPU demo short; all with the others.")
@click.option("--conditions", default="all", show_default=True,
              help="Conditions to evaluate: all (clean, corrupt:study, generalisation sets), "
                   "corrupt:standard (the 15 benchmark families), corrupt:GROUP, or names.")
@click.option("--corrupt-backend", type=BACKEND, default="reference", show_default=True,
              help="How missing corrupted sets are built: reference (Hendrycks' formulas per "
                   "image) or fast (a family's batched path where it has one; others fall back to "
                   "reference). Cache files and eval.json record which ran.")
@click.option("--extra-heads", is_flag=True,
              help="Deprecated: use --heads paper,extra (fixed simplex-ETF heads and Hoffer et al.'s "
                   "fixed Hadamard head with a learned scale).")
@click.option("--heads", type=HEADS, default="paper", show_default=True,
              help="Head-sets and head variants, comma-separated: paper (the 2 x 2), extra (fixed "
                   "simplex-ETF, fixed Hadamard with learned S), baselines (NormFace, CosFace m=0.35, "
                   "fixed Hadamard), or a variant as run names spell it without S, e.g. "
                   "paper,fixed-cosine-simplex-etf (stages/headsets.py).")
@click.option("--track/--no-track", default=True, show_default=True,
              help="Log the geometry (cosines, compactness, NC1, margin, W movement) at each epoch.")
@click.option("--out", type=OutPath(folder=True), default="reproduce", show_default=True)
@device_option
@click.option("--devices", type=DeviceList(), default=None,
              help="Run grid cells in parallel, one worker per device, e.g. cuda:0,cuda:1 (or 0,1).")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="On a CPU: cells run in this many processes, each with its share of the cores "
                   "(default: 2 when there are at least 2 cores).")
@launcher_options
@data_dir_option
@quiet_option
def reproduce(dataset, arch, preset, seeds, scales, lrs, epochs, batch_size, max_train, conditions,
              corrupt_backend, extra_heads, heads, track, out, device, devices, workers, data_dir, quiet, launcher, **slurm) -> None:
    """The whole study in one command: {learned, fixed} x {dot, cosine} x encoders x
    seeds, every condition (clean, corruptions, generalisation sets), analysis and a report. With no
    arguments it runs offline on the embedded `shapes` dataset in a few CPU minutes.

    \b
    The paper's CIFAR-10 grid on a GPU:
      robeval reproduce --dataset cifar10 --preset fast --seeds 3 --scales 1,5,10,20,40
    The authors' protocol, three encoders:
      robeval reproduce --dataset stl10 --preset authors --arch resnet18,vgg16bn,mobilenetv2

    Re-running the same command continues an interrupted study (finished runs are skipped).

    \b
    On a Slurm cluster, one task per cell (docs/cluster.md):
      robeval reproduce --dataset cifar10 --preset fast --launcher slurm --slurm-partition gpu

    Exit status 3: the report was written, but cells that failed twice are missing from it
    (listed in OUT/incomplete.json).
    """
    import time

    from robeval.stages.headsets import head_grid
    from robeval.stages.reproduce import ReproducePlan
    from robeval.stages.reproduce import reproduce as run

    if extra_heads:  # deprecated for one release: the "extra" head-set
        heads = f"{heads},extra"
        click.echo(f"robeval: --extra-heads is deprecated and will be removed; use --heads {heads}",
                   err=True)
    head_grid(heads)  # an unknown head-set or variant: one line listing the choices

    if max_train is None:
        max_train = 3000 if preset == "quick" else 0
    if workers is None:
        import os

        workers = 2 if (os.cpu_count() or 1) >= 2 else 1
    plan = ReproducePlan(dataset=dataset, archs=tuple(parse_names(arch, ARCH, "encoder")), preset=preset, seeds=tuple(parse_seeds(seeds)),
                         scales=scales, epochs=epochs, batch_size=batch_size,
                         max_train=max_train or None, conditions=conditions,
                         lrs=lrs, heads=heads, track=track, corrupt_backend=corrupt_backend)
    launch = launch_options(launcher, **slurm)
    t0 = time.time()
    result = run(plan, out, device=device, devices=devices, workers=workers, data_dir=data_dir,
                 progress=not quiet, launch=launch)
    if echo_pending(result):
        return
    click.echo(result["table"])
    if result.get("sweep"):
        from robeval.stages.tuning import setting_label

        picked = [f"{r['family']} ({setting_label(r['lr'], r['scale']) or 'preset LR'})"
                  for r in result["sweep"] if r["chosen"]]
        click.echo(f"\nchosen on validation ({out}/sweep.json): " + ", ".join(dict.fromkeys(picked)))
    t = result["timings"]
    click.echo(f"\nreport: {result['report']}/report.md")
    click.echo(f"wall time {time.time() - t0:.0f} s (train {t['train_s']:.0f} s, eval {t['eval_s']:.0f} s "
               f"summed over {result['workers']} worker(s); report {t['report_s']:.0f} s)")
    echo_incomplete(result, out)
    click.echo("\nclaims (details in the report):")
    for i, c in enumerate(result["claims"], 1):
        click.echo(f"  {i}. {c['claim']}\n     -> {c['verdict']}")
        for line in c.get("seeds_needed", []):
            click.echo(f"        {line}")
    if any(c.get("seeds_needed") for c in result["claims"]):
        click.echo("\nseeds needed: where an interval spans 0, the number of seeds at which a 95% "
                   "t-interval around the observed mean, with the observed sd, would exclude 0 "
                   "(about even odds if those were the true values; more seeds: --seeds N)")
    if result.get("incomplete"):
        raise SystemExit(INCOMPLETE_EXIT)  # scripts and CI see that cells are missing
