"""The whole study in one call: train the head grid over seeds, evaluate every condition, report.

    robeval reproduce                       # offline, on the embedded `shapes`, a few CPU minutes

Finished runs are skipped and a killed run resumes from its last epoch, so re-running the same
command after an interruption continues where it stopped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from robeval import runs
from robeval.conditions import resolve
from robeval.config import TrainConfig
from robeval.evaluate import evaluate_run
from robeval.fileio import read_json
from robeval.report import terminal_table, write_report
from robeval.train import train

# (head, logits): the paper's 2 x 2 grid
PAPER_GRID = (("learned", "dot"), ("fixed", "dot"), ("learned", "cosine"), ("fixed", "cosine"))
# (head, logits, init, learn_scale): the geometry neural-collapse theory predicts (simplex ETF) and
# Hoffer et al. 2018's fixed Hadamard head with a learned scale; added with --extra-heads
EXTRA_HEADS = (("fixed", "dot", "simplex-etf", False), ("fixed", "cosine", "simplex-etf", False),
               ("fixed", "cosine", "hadamard", True))


@dataclass
class ReproducePlan:
    dataset: str = "shapes"
    arch: str = "smallcnn"
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
        for head, logits, init, learn_scale in grid:
            for scale in (self.scales if logits == "cosine" else (None,)):
                for seed in self.seeds:
                    out.append(TrainConfig(
                        dataset=self.dataset, arch=self.arch, head=head, logits=logits, scale=scale,
                        init=init, learn_scale=learn_scale, seed=seed, preset=self.preset,
                        epochs=self.epochs, batch_size=self.batch_size, max_train=self.max_train,
                    ))
        return out


def run_name(cfg: TrainConfig) -> str:
    scale = cfg.scale if cfg.scale is not None else 1.0
    variant = TrainConfig.from_dict({**cfg.to_dict(), "scale": scale}).variant
    variant += "-learnS" if cfg.learn_scale else ""
    return f"{cfg.dataset.replace(':', '_').replace('/', '_')}-{cfg.arch}-{variant}-seed{cfg.seed}"


def reproduce(
    plan: ReproducePlan,
    out_dir: str | Path = "reproduce",
    *,
    device: str = "auto",
    data_dir: str | None = None,
    progress: bool = True,
) -> dict:
    """Run the plan into ``out_dir``/runs and ``out_dir``/report; returns timings and rows."""
    out = Path(out_dir)
    t_start = time.time()
    resolve(plan.conditions, plan.dataset)  # fail on a bad --conditions before training anything
    timings = {"train_s": 0.0, "eval_s": 0.0, "report_s": 0.0}
    run_dirs = []
    configs = plan.configs()
    bar = tqdm(configs, desc="reproduce", disable=not progress)
    for cfg in bar:
        run_dir = out / "runs" / run_name(cfg)
        bar.set_postfix_str(run_dir.name)
        t0 = time.time()
        if not runs.is_finished(run_dir) or (run_dir / runs.STATE).exists():
            train(cfg, run_dir, device=device, resume=run_dir.exists() and runs.is_run(run_dir),
                  overwrite=False, data_dir=data_dir, progress=False)
        t1 = time.time()
        wanted = [c.name for c in resolve(plan.conditions, plan.dataset)]
        done = read_json(run_dir / runs.EVAL_JSON)["conditions"] if (run_dir / runs.EVAL_JSON).exists() else {}
        missing = [c for c in wanted if c not in done]
        if missing:
            evaluate_run(run_dir, ",".join(missing), device=device, data_dir=data_dir, progress=False)
        t2 = time.time()
        timings["train_s"] += t1 - t0
        timings["eval_s"] += t2 - t1
        run_dirs.append(run_dir)
    t3 = time.time()
    rows = write_report(run_dirs, out / "report")
    timings["report_s"] = time.time() - t3
    timings["total_s"] = time.time() - t_start
    return {"rows": rows, "timings": {k: round(v, 1) for k, v in timings.items()},
            "report": str(out / "report"), "table": terminal_table(rows)}
