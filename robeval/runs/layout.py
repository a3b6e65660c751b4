"""Run folders: what is in them and how they are opened, created, refused or resumed.

    runs/<name>/config.json      config, model config (ModelConfig), dataset facts, environment (git SHA, versions)
                checkpoint.pt    the model chosen on validation accuracy ({"model": state_dict})
                last.pt          the model after the last epoch
                state.pt         everything needed to resume (removed when training finishes)
                metrics.jsonl    one line per epoch
                summary.json     best-val and last-epoch results, wall time
                eval/            per-condition .npz + head.npz, eval.json (robeval eval)
"""

from __future__ import annotations

from pathlib import Path

from robeval.core.errors import RobevalError
from robeval.core.fileio import read_json
from robeval.training.config import check_stored

CONFIG = "config.json"
BEST = "checkpoint.pt"
LAST = "last.pt"
STATE = "state.pt"
METRICS = "metrics.jsonl"
SUMMARY = "summary.json"
EVAL_DIR = "eval"
EVAL_JSON = "eval.json"
CHECKPOINTS = {"best": BEST, "last": LAST}


def is_run(path: Path) -> bool:
    return (path / CONFIG).is_file()


def is_finished(path: Path) -> bool:
    return (path / SUMMARY).is_file() and (path / BEST).is_file()


def open_run(path: str | Path) -> tuple[Path, dict]:
    """The run folder and its config.json, or a RobevalError that says what is wrong."""
    path = Path(path)
    if not path.is_dir():
        raise RobevalError(f"no run folder at {path} (train one with: robeval train --out {path})")
    if not is_run(path):
        raise RobevalError(f"{path} is not a robeval run folder (no {CONFIG})")
    config = read_json(path / CONFIG)
    if not isinstance(config, dict) or "config" not in config or not isinstance(config.get("model"), dict) \
            or not isinstance(config.get("dataset"), dict):
        raise RobevalError(f"{path / CONFIG} is not a robeval run config")
    check_stored(config["config"], str(path / CONFIG))
    return path, config


def read_summary(path: Path) -> dict:
    """summary.json of a finished run; a damaged one (no best validation accuracy) is refused.
    An imported run (``"imported": true``) was never validated here: its accuracy is null."""
    summary = read_json(path / SUMMARY, dict)
    best = summary.get("best_val_acc")
    if summary.get("imported") is True and best is None:
        return summary
    if not isinstance(best, (int, float)) or isinstance(best, bool):
        raise RobevalError(f"{path / SUMMARY} has no best_val_acc; it is damaged: re-train the run "
                           f"(robeval train --overwrite --out {path}) or restore the file")
    return summary


def origin(config: dict) -> str | None:
    """Where an imported run's model came from, in words (None for a run robeval trained):
    'torchvision:resnet18 from r18.pt', 'robeval.evaluate(mypkg.Net)'."""
    imported = config.get("imported")
    if not isinstance(imported, dict):
        return None
    foreign = config.get("foreign") if isinstance(config.get("foreign"), dict) else {}
    arch = foreign.get("arch") or (config.get("config") or {}).get("arch", "?")
    if imported.get("api"):
        return f"{imported['api']}({foreign.get('class', 'nn.Module')})"
    files = [str(imported[k]) for k in ("checkpoint", "embedding", "bias") if imported.get(k)]
    return f"{arch} from {' + '.join(files) or 'a checkpoint'}"
