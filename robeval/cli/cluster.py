"""``reproduce``'s launcher options (--launcher, --slurm-*, --no-wait): one decorator that adds
them and one function that turns them into the stage's LaunchOptions."""

from __future__ import annotations

import re
from collections.abc import Callable

import click

from robeval.cli.options import LAUNCHER

# Slurm's --time forms: MINUTES, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS
TIME = re.compile(r"\d+(:\d{1,2}){0,2}|\d+-\d+(:\d{1,2}){0,2}")
SLURM_ONLY = ("slurm_partition", "slurm_time", "gpus_per_task", "cpus_per_task",
              "array_parallelism", "slurm_option", "no_wait", "retry_failed")

_OPTIONS = [
    click.option("--launcher", type=LAUNCHER, default="local", show_default=True,
                 help="Where grid cells run: local (this machine; --devices, --workers) or slurm "
                      "(one task of a job array per missing cell, through submitit; docs/cluster.md)."),
    click.option("--slurm-partition", default=None, help="slurm: the partition to submit to."),
    click.option("--slurm-time", default=None, metavar="TIME",
                 help="slurm: each task's time limit, minutes or [D-]HH:MM:SS (default 240 minutes; 0: "
                      "no limit, as Slurm reads it). A task that reaches it is requeued and resumes "
                      "from its last finished epoch."),
    click.option("--gpus-per-task", type=click.IntRange(min=0), default=None,
                 help="slurm: GPUs per task (default 1; 0 asks for none, for CPU partitions)."),
    click.option("--cpus-per-task", type=click.IntRange(min=1), default=None,
                 help="slurm: CPUs per task (default 4); each task uses that many torch threads."),
    click.option("--array-parallelism", type=click.IntRange(min=1), default=None,
                 help="slurm: at most this many tasks of the array run at once (default 64)."),
    click.option("--slurm-option", multiple=True, metavar="KEY=VALUE",
                 help="slurm: any other sbatch option, as #SBATCH --KEY=VALUE (repeatable), e.g. "
                      "account=proj42, qos=high, mem=32G, constraint=a100."),
    click.option("--no-wait", is_flag=True,
                 help="slurm: return once the missing cells are submitted; the same command later "
                      "collects, resubmits what is missing and writes the report when all are done."),
    click.option("--retry-failed", is_flag=True,
                 help="slurm: cells that failed twice get two more attempts (after you fixed the "
                      "cause their logs show)."),
]


def launcher_options(fn: Callable) -> Callable:
    """Add the launcher options to a command (they arrive as keyword arguments)."""
    for option in reversed(_OPTIONS):
        fn = option(fn)
    return fn


def _extra(pairs: tuple[str, ...]) -> dict[str, str]:
    extra = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip().lstrip("-")
        if not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", key):
            raise click.BadParameter(f"{pair!r}: give KEY=VALUE, e.g. account=proj42",
                                     param_hint="--slurm-option")
        extra[key] = value
    return extra


def minutes(text: str) -> int:
    """Slurm's --time forms in whole minutes (rounded up): submitit takes minutes. A time of zero
    is Slurm's "no limit" (the partition's own limit still applies) and stays 0."""
    days, _, clock = text.rpartition("-") if "-" in text else ("", "", text)
    parts = [int(p) for p in clock.split(":")]
    if days:  # D-HH, D-HH:MM, D-HH:MM:SS
        h, m, sec = (parts + [0, 0])[:3]
    elif len(parts) == 3:  # HH:MM:SS
        h, m, sec = parts
    else:  # MM, MM:SS
        h, (m, sec) = 0, (parts + [0])[:2]
    total = int(days or 0) * 1440 + h * 60 + m + (1 if sec else 0)
    return total  # 0: no limit, as sbatch --time=0 reads it


def launch_options(launcher: str, **given):
    """LaunchOptions from the parsed options; slurm-only options with --launcher local are an error."""
    from robeval.stages.launchers import LaunchOptions, SlurmOptions

    stray = [k for k in SLURM_ONLY if given.get(k) is not None and given.get(k) is not False
             and given.get(k) != ()]  # 0 is a value given (--gpus-per-task 0)
    if launcher != "slurm" and stray:
        names = ", ".join("--" + k.replace("_", "-") for k in stray)
        raise click.UsageError(f"{names}: only with --launcher slurm")
    time = given.get("slurm_time")
    if time is not None and not TIME.fullmatch(time.strip()):
        raise click.BadParameter(f"{time!r}: give minutes (90) or [D-]HH:MM:SS (1-12:00:00)",
                                 param_hint="--slurm-time")
    defaults = SlurmOptions()
    slurm = SlurmOptions(
        partition=given.get("slurm_partition") or None,
        time=minutes(time.strip()) if time else defaults.time,
        gpus_per_task=defaults.gpus_per_task if given.get("gpus_per_task") is None else given["gpus_per_task"],
        cpus_per_task=given.get("cpus_per_task") or defaults.cpus_per_task,
        array_parallelism=given.get("array_parallelism") or defaults.array_parallelism,
        extra=_extra(given.get("slurm_option") or ()),
    )
    return LaunchOptions(launcher=launcher, slurm=slurm, wait=not given.get("no_wait"),
                         retry_failed=bool(given.get("retry_failed")))


def echo_pending(result: dict) -> bool:
    """--no-wait: say what is out and how to collect it; True when there is no report yet."""
    if "pending" not in result:
        return False
    click.echo(f"submitted {result['submitted']} task(s); {result['pending']} cell(s) queued or "
               f"running (logs: {result['logs']}). Re-run the same command to collect them: it "
               "submits only what is missing and writes the report once every cell is done.")
    for name, log in sorted(result["failed"].items()):
        click.echo(f"  failed twice: {name} (log: {log})")
    return True


INCOMPLETE_EXIT = 3  # reproduce wrote a report, but cells that failed twice are missing from it


def echo_incomplete(result: dict, out: str) -> None:
    """One line when cells failed twice, and where each one's log is."""
    failed = result.get("incomplete") or {}
    if not failed:
        return
    click.echo(f"INCOMPLETE: {len(failed)} cell(s) failed twice and are not in the report "
               f"(listed in {out}/incomplete.json; fix the cause, then re-run with --retry-failed):")
    for name, log in sorted(failed.items()):
        click.echo(f"  {name}: {log}")
