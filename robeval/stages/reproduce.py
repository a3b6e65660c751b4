"""The whole study in one call: train the head grid over seeds, evaluate every condition, report.

    robeval reproduce                       # offline, on the embedded `shapes`, a few CPU minutes

Finished runs are skipped and a killed run resumes from its last epoch, so re-running the same
command after an interruption continues where it stopped.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from robeval import runs
from robeval.conditions import resolve
from robeval.models.kinds import LOGITS_KINDS
from robeval.runs.outputs import read_eval_json
from robeval.stages.evaluate import evaluate_run
from robeval.stages.report import terminal_table, write_report
from robeval.stages.train import train
from robeval.training.config import TrainConfig

# (head, logits): the paper's 2 x 2 grid
PAPER_GRID = (("learned", "dot"), ("fixed", "dot"), ("learned", "cosine"), ("fixed", "cosine"))
# (head, logits, init, learn_scale): the geometry neural-collapse theory predicts (simplex ETF) and
# Hoffer et al. 2018's fixed Hadamard head with a learned scale; added with --extra-heads
EXTRA_HEADS = (("fixed", "dot", "simplex-etf", False), ("fixed", "cosine", "simplex-etf", False),
               ("fixed", "cosine", "hadamard", True))


@dataclass
class ReproducePlan:
    dataset: str = "shapes"
    archs: tuple[str, ...] = ("smallcnn",)
    preset: str = "quick"
    seeds: tuple[int, ...] = (0, 1)
    scales: tuple[float, ...] = (1.0,)
    epochs: int | None = None
    batch_size: int | None = None
    max_train: int | None = None
    conditions: str = "all"
    init: str = "sphere"
    extra_heads: bool = False

    def configs(self) -> list[TrainConfig]:
        grid = [(h, lg, self.init, False) for h, lg in PAPER_GRID]
        if self.extra_heads:
            grid += list(EXTRA_HEADS)
        out = []
        for arch, (head, logits, init, learn_scale) in itertools.product(self.archs, grid):
            for scale in (self.scales if LOGITS_KINDS.get(logits).uses_scale else (None,)):
                for seed in self.seeds:
                    out.append(TrainConfig(
                        dataset=self.dataset, arch=arch, head=head, logits=logits, scale=scale,
                        init=init, learn_scale=learn_scale, seed=seed, preset=self.preset,
                        epochs=self.epochs, batch_size=self.batch_size, max_train=self.max_train,
                    ))
        return out


def run_cell(cfg: TrainConfig, run_dir: Path, conditions: str, device: str,
             data_dir: str | None) -> dict:
    """Train (or resume, or skip) one grid cell and evaluate the conditions it still lacks."""
    t0 = time.time()
    if not runs.is_finished(run_dir) or (run_dir / runs.STATE).exists():
        train(cfg, run_dir, device=device, resume=runs.is_run(run_dir), overwrite=False,
              data_dir=data_dir, progress=False)
    t1 = time.time()
    wanted = [c.name for c in resolve(conditions, cfg.dataset)]
    done = read_eval_json(run_dir).get("conditions", {})
    missing = [c for c in wanted if c not in done]
    if missing:
        evaluate_run(run_dir, ",".join(missing), device=device, data_dir=data_dir, progress=False)
    return {"train_s": t1 - t0, "eval_s": time.time() - t1}


def _run_cells(cells: list[tuple[TrainConfig, Path]], conditions: str, device: str,
               data_dir: str | None) -> list[dict]:
    return [run_cell(cfg, run_dir, conditions, device, data_dir) for cfg, run_dir in cells]


def reproduce(
    plan: ReproducePlan,
    out_dir: str | Path = "reproduce",
    *,
    device: str = "auto",
    devices: list[str] | None = None,
    data_dir: str | None = None,
    progress: bool = True,
) -> dict:
    """Run the plan into ``out_dir``/runs and ``out_dir``/report; returns timings and rows.

    With several ``devices`` (e.g. cuda:0, cuda:1) the grid cells are dealt round-robin to one
    worker process per device and run in parallel.
    """
    out = Path(out_dir)
    t_start = time.time()
    resolve(plan.conditions, plan.dataset)  # fail on a bad --conditions before training anything
    cells = [(cfg, out / "runs" / runs.run_name(cfg)) for cfg in plan.configs()]
    timings = {"train_s": 0.0, "eval_s": 0.0}
    if devices and len(devices) > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        ctx = mp.get_context("spawn")
        pools = [ProcessPoolExecutor(max_workers=1, mp_context=ctx) for _ in devices]
        futures = [pool.submit(_run_cells, cells[i :: len(devices)], plan.conditions, dev, data_dir)
                   for i, (pool, dev) in enumerate(zip(pools, devices, strict=True))]
        for fut in tqdm(futures, desc=f"reproduce on {len(devices)} devices", disable=not progress):
            for t in fut.result():
                timings["train_s"] += t["train_s"]
                timings["eval_s"] += t["eval_s"]
        for pool in pools:
            pool.shutdown()
    else:
        dev = devices[0] if devices else device
        bar = tqdm(cells, desc="reproduce", disable=not progress)
        for cfg, run_dir in bar:
            bar.set_postfix_str(run_dir.name)
            t = run_cell(cfg, run_dir, plan.conditions, dev, data_dir)
            timings["train_s"] += t["train_s"]
            timings["eval_s"] += t["eval_s"]
    t3 = time.time()
    rows = write_report([run_dir for _, run_dir in cells], out / "report")
    timings["report_s"] = time.time() - t3
    timings["total_s"] = time.time() - t_start
    return {"rows": rows, "timings": {k: round(v, 1) for k, v in timings.items()},
            "report": str(out / "report"), "table": terminal_table(rows)}
