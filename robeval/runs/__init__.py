"""Layer 3, shared contract: the run folder every stage reads and writes.

``layout`` (file names, open/create/resume), ``config_file`` (the one config.json writer),
``outputs`` (the one reader/writer of eval/*.npz, head.npz and eval.json), ``model`` (a run's
model from its checkpoint), ``naming`` (the one run-name and variant function) and
``destinations`` (the one rule for where any verb may write: docs/outputs.md).

May import ``training``, the components and ``core``; never ``conditions``, ``stages`` or ``cli``.
"""

from robeval.runs.destinations import check_run_folder, prepare_out_dir
from robeval.runs.layout import (
    BEST,
    CHECKPOINTS,
    CONFIG,
    EVAL_DIR,
    EVAL_JSON,
    LAST,
    METRICS,
    STATE,
    SUMMARY,
    is_finished,
    is_run,
    open_run,
    origin,
    read_summary,
)
from robeval.runs.naming import run_name, variant

__all__ = [
    "BEST", "CHECKPOINTS", "CONFIG", "EVAL_DIR", "EVAL_JSON", "LAST", "METRICS", "STATE", "SUMMARY",
    "check_run_folder", "is_finished", "is_run", "open_run", "origin", "prepare_out_dir",
    "read_summary", "run_name", "variant",
]
