"""The whole study in one call: train the head grid over seeds, evaluate every condition, report.

    robeval reproduce                       # offline, on the embedded `shapes`: 4 heads x 3 seeds,
                                            # two cells at a time on a 2-core CPU

Finished runs are skipped and a killed run resumes from its last epoch, so re-running the same
command after an interruption continues where it stopped.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from robeval import runs
from robeval.conditions import parse_conditions
from robeval.core.errors import RobevalError
from robeval.core.fileio import read_json, write_json
from robeval.core.progress import progress_bar
from robeval.models.kinds import LOGITS_KINDS
from robeval.runs.destinations import check_folder, mark, unmark_if_unused
from robeval.runs.outputs import read_eval_json
from robeval.stages.evaluate import evaluate_run
from robeval.stages.headsets import HEAD_SETS, head_grid
from robeval.stages.launchers import LAUNCHERS, Batch, Cell, LaunchOptions, Outcome
from robeval.stages.report import terminal_table, write_report
from robeval.stages.train import train
from robeval.stages.tuning import select_by_validation
from robeval.training.config import TrainConfig


def _deprecated_grid(name: str) -> tuple:
    """PAPER_GRID and EXTRA_HEADS as tuples, read from HEAD_SETS (stages/headsets.py), the one
    definition of the head grid; kept one release for code that imported them."""
    if name == "PAPER_GRID":
        return tuple((v.head, v.logits) for v in HEAD_SETS.get("paper").variants)
    return tuple((v.head, v.logits, v.init, v.learn_scale) for v in HEAD_SETS.get("extra").variants)


def __getattr__(name: str):
    if name in ("PAPER_GRID", "EXTRA_HEADS"):
        return _deprecated_grid(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass
class ReproducePlan:
    dataset: str = "shapes"
    archs: tuple[str, ...] = ("tinycnn",)
    preset: str = "quick"
    seeds: tuple[int, ...] = (0, 1, 2)
    scales: tuple[float, ...] = (1.0,)  # several: S chosen per variant on validation, with the LR
    epochs: int | None = None
    batch_size: int | None = None
    max_train: int | None = None
    conditions: str = "all"
    init: str = "sphere"
    extra_heads: bool = False  # deprecated: heads="paper,extra" (adds the "extra" head-set)
    lrs: tuple[float, ...] | None = None  # several: a sweep, chosen per variant on validation
    heads: str = "paper"  # head-sets and head variants, comma-separated (stages/headsets.py)
    track: bool = True  # per-epoch geometry on a validation subset (training/track.py)
    corrupt_backend: str = "reference"  # fast: families' batched paths build the corrupted sets

    def sweeps(self) -> bool:
        """Several LRs or several S: each variant's setting is then chosen on validation."""
        return len(self.lrs or ()) > 1 or len(self.scales) > 1

    def configs(self) -> list[TrainConfig]:
        grid = head_grid(self.heads + (",extra" if self.extra_heads else ""), self.init)
        out = []
        for arch, v in itertools.product(self.archs, grid):
            head, logits, init, learn_scale = v.head, v.logits, v.init, v.learn_scale
            for scale in (self.scales if LOGITS_KINDS.get(logits).uses_scale else (None,)):
                for lr, seed in itertools.product(self.lrs or (None,), self.seeds):
                    out.append(TrainConfig(
                        dataset=self.dataset, arch=arch, head=head, logits=logits, scale=scale,
                        init=init, learn_scale=learn_scale, seed=seed, preset=self.preset,
                        epochs=self.epochs, batch_size=self.batch_size, max_train=self.max_train,
                        lr=lr, margin=v.margin, track=self.track,
                    ))
        return out


def run_cell(cfg: TrainConfig, run_dir: Path, conditions: str, device: str,
             data_dir: str | None, evaluate: bool = True, corrupt_backend: str = "reference") -> dict:
    """Train (or resume, or skip) one grid cell and evaluate the conditions it still lacks."""
    t0 = time.time()
    if not runs.is_finished(run_dir) or (run_dir / runs.STATE).exists():
        train(cfg, run_dir, device=device, resume=runs.is_run(run_dir), overwrite=False,
              data_dir=data_dir, progress=False)
    t1 = time.time()
    if not evaluate:
        return {"train_s": t1 - t0, "eval_s": 0.0}
    wanted = [c.name for c in parse_conditions(conditions, cfg.dataset, data_dir)]
    done = read_eval_json(run_dir).get("conditions", {})
    missing = [c for c in wanted if c not in done]
    if missing:
        evaluate_run(run_dir, ",".join(missing), device=device, data_dir=data_dir, progress=False,
                     corrupt_backend=corrupt_backend)
    return {"train_s": t1 - t0, "eval_s": time.time() - t1}


def prepare_data(plan: ReproducePlan, data_dir: str | None, progress: bool = True) -> None:
    """Load every split and build every condition once, before cells run in parallel: workers
    then read caches instead of generating the same files side by side."""
    from robeval.conditions import ConditionContext
    from robeval.data import load_split
    from robeval.data.loading import dataset_record

    for split in dataset_record(plan.dataset).splits:
        load_split(plan.dataset, split, data_dir)
    ctx = ConditionContext(plan.dataset, data_dir, seed=0,
                           options={"corrupt_backend": plan.corrupt_backend})
    for cond in progress_bar(parse_conditions(plan.conditions, plan.dataset, data_dir), desc="prepare conditions",
                             leave=False, disable=not progress):
        cond.build(ctx)


def worker_devices(device: str, devices: list[str] | None, workers: int) -> list[str]:
    """One entry per worker process: the given devices, or ``workers`` CPU workers."""
    if devices:
        return devices
    return [device] * workers if device == "cpu" and workers > 1 else [device]


def cell_done(cfg: TrainConfig, run_dir: Path, conditions: str, evaluate: bool = True,
              data_dir: str | None = None) -> bool:
    """True when ``run_cell`` would do nothing: trained, and evaluated on every wanted condition."""
    if not runs.is_finished(run_dir) or (run_dir / runs.STATE).exists():
        return False
    done = read_eval_json(run_dir).get("conditions", {}) if evaluate else {}
    return not evaluate or all(c.name in done for c in parse_conditions(conditions, cfg.dataset, data_dir))


def _launch(cells: list[tuple[TrainConfig, Path]], plan: ReproducePlan, batch: dict,
            data_dir: str | None, evaluate: bool, desc: str) -> Outcome:
    """Hand the cells to the chosen launcher (local processes or Slurm tasks)."""
    cell_list = [Cell(run_dir.name, run_cell,
                      {"cfg": cfg, "run_dir": run_dir, "conditions": plan.conditions,
                       "data_dir": data_dir, "evaluate": evaluate,
                       "corrupt_backend": plan.corrupt_backend},
                      partial(cell_done, cfg, run_dir, plan.conditions, evaluate, data_dir))
                 for cfg, run_dir in cells]
    launch = batch["options"]
    return LAUNCHERS.get(launch.launcher).run(Batch(cell_list, desc=desc, **batch))


def _incomplete(out: Path, failed: dict[str, str]) -> None:
    """OUT/incomplete.json lists the cells the report lacks (with their logs); gone when none."""
    path = out / "incomplete.json"
    if failed:
        write_json(path, {"note": "these cells failed twice; the report covers the others",
                          "cells": [{"run": name, "log": log} for name, log in sorted(failed.items())]})
    else:
        path.unlink(missing_ok=True)


def reproduce(
    plan: ReproducePlan,
    out_dir: str | Path = "reproduce",
    *,
    device: str = "auto",
    devices: list[str] | None = None,
    workers: int = 1,
    data_dir: str | None = None,
    progress: bool = True,
    launch: LaunchOptions | None = None,
) -> dict:
    """Run the plan into ``out_dir``/runs and ``out_dir``/report; returns timings and rows.

    With several ``devices`` (e.g. cuda:0, cuda:1), or ``workers`` > 1 on a CPU (each with its
    share of the cores), the grid cells are dealt round-robin to one worker process per entry and
    run in parallel; a cell's results do not depend on which worker ran it. ``launch`` picks
    where cells run (stages/launchers: local, slurm); when it returns before every cell finished
    (--no-wait) the result has ``pending`` and no report is written.
    """
    out = Path(out_dir)
    new = check_folder(out, "study") == "new"  # new, empty or a study to continue (docs/outputs.md)
    try:
        return _reproduce(plan, out, device=device, devices=devices, workers=workers,
                          data_dir=data_dir, progress=progress, launch=launch)
    except BaseException:
        if new:  # a study refused before any cell ran leaves no folder
            unmark_if_unused(out)
        raise


def _reproduce(plan: ReproducePlan, out: Path, *, device: str, devices: list[str] | None,
               workers: int, data_dir: str | None, progress: bool,
               launch: LaunchOptions | None) -> dict:
    from robeval.core.environment import pick_device

    t_start = time.time()
    launch = launch or LaunchOptions()
    launcher = LAUNCHERS.get(launch.launcher)
    launcher.check(launch, devices)
    parse_conditions(plan.conditions, plan.dataset, data_dir)  # a bad --conditions fails before training
    for d in devices or []:  # and on an unknown device, before workers start
        pick_device(d)
    cells = [(cfg, out / "runs" / runs.run_name(cfg)) for cfg in plan.configs()]
    timings = {"train_s": 0.0, "eval_s": 0.0}
    # Slurm tasks pick their own device (--device auto: the GPU each task is given)
    slots = [device] if launcher.remote else worker_devices(
        pick_device(device) if not devices else device, devices, workers)
    if len(slots) > 1 or launcher.remote:
        prepare_data(plan, data_dir, progress)
    out.mkdir(parents=True, exist_ok=True)
    mark(out, "study")
    batch = {"out": out, "options": launch, "slots": slots, "device": device, "progress": progress}
    sweep, failed = None, {}
    phases = ["sweep", "reproduce"] if plan.sweeps() else ["reproduce"]
    for phase in phases:  # a sweep trains every (LR, S), chooses on validation, evaluates the chosen
        done = _launch(cells, plan, batch, data_dir, evaluate=phase == "reproduce", desc=phase)
        if done.waiting:
            return _pending(done, out)
        timings["train_s"] += done.train_s
        timings["eval_s"] += done.eval_s
        failed.update(done.failed)
        cells = [c for c in cells if c[1].name not in failed]
        if phase == "sweep" and cells:
            vals = [(cfg, runs.read_summary(run_dir)["best_val_acc"]) for cfg, run_dir in cells]
            chosen, sweep = select_by_validation(vals)
            cells = [cells[i] for i in chosen]
            write_json(out / "sweep.json", {"note": "validation accuracy per variant and setting "
                                            "(lr, S); chosen on validation only", "rows": sweep})
    _incomplete(out, failed)
    if not cells:
        raise RobevalError(f"every cell failed twice; no report. Their logs: {out / 'incomplete.json'}")
    t3 = time.time()
    rows = write_report([run_dir for _, run_dir in cells], out / "report", sweep=sweep,
                        incomplete=failed)
    timings["report_s"] = time.time() - t3
    timings["total_s"] = time.time() - t_start
    claims = read_json(out / "report" / "results.json")["claims"]
    return {"rows": rows, "timings": {k: round(v, 1) for k, v in timings.items()},
            "report": str(out / "report"), "table": terminal_table(rows), "claims": claims,
            "workers": done.workers, "sweep": sweep, "incomplete": failed}


def _pending(done: Outcome, out: Path) -> dict:
    """--no-wait: what was submitted and what is still out; the report waits for a later call."""
    return {"pending": done.waiting, "submitted": done.submitted, "failed": done.failed,
            "logs": str(out / "slurm")}
