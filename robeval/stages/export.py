"""``robeval export``: one row per (run, condition, image) for analysis in pandas.

    robeval export runs/* --format parquet --out images.parquet --conditions clean,defocus_blur/3

Columns (COLUMNS): run, variant, seed, condition, index (position in the condition's image
set), label, prediction, confidence (max softmax of the stored logits), correct, cos_pred and
cos_true (cosine between the image's penultimate feature and its predicted / true class vector
from eval/head.npz; empty when the run was evaluated with --no-features).

Everything is read from what ``robeval eval`` stored (runs/outputs.py); nothing is recomputed by
the model. Rows are streamed one (run, condition) at a time, so memory stays at one condition's
arrays, and the file is written under a temporary name and renamed when complete. Every input is
checked before anything is written.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robeval import runs
from robeval.analysis.calibration import softmax
from robeval.analysis.common import row_normalise
from robeval.core.errors import RobevalError
from robeval.core.fileio import atomic_path
from robeval.core.registry import Registry
from robeval.runs.destinations import check_file
from robeval.runs.outputs import load_condition, load_head, read_eval

COLUMNS = ("run", "variant", "seed", "condition", "index", "label", "prediction", "confidence",
           "correct", "cos_pred", "cos_true")
Chunk = dict[str, np.ndarray]  # column -> values, one (run, condition)


@dataclass
class ExportPlan:
    """What will be exported, checked before a byte is written: per run its folder, variant,
    seed, eval.json conditions and the names chosen."""

    run: Path
    variant: str
    seed: int
    conditions: dict[str, dict]
    chosen: list[str]


def plan(run_dirs: list[str | Path], conditions: str | None = None) -> list[ExportPlan]:
    """Open each run's eval outputs; ``conditions`` (comma-separated) must exist in every run."""
    if not run_dirs:
        raise RobevalError("no runs given; pass evaluated run folders, e.g. robeval export runs/* --out x.csv")
    wanted = [c.strip() for c in conditions.split(",") if c.strip()] if conditions else None
    if wanted is not None and not wanted:
        raise RobevalError("--conditions is empty; name conditions, e.g. --conditions clean")
    out = []
    for d in run_dirs:
        path, config, ev = read_eval(d)
        conds = ev.get("conditions", {})
        missing = [c for c in (wanted or []) if c not in conds]
        if missing:
            raise RobevalError(f"{path} has no condition {missing[0]!r}; evaluated: {', '.join(conds)} "
                               f"(evaluate it: robeval eval {path} --conditions {missing[0]})")
        cfg = config["config"]
        out.append(ExportPlan(path, runs.variant(cfg), int(cfg["seed"]), conds, wanted or list(conds)))
    return out


def condition_rows(p: ExportPlan, name: str, head_weight: np.ndarray) -> Chunk:
    """The rows of one run's condition as columns."""
    o = load_condition(p.run, name, p.conditions[name])
    n = len(o.labels)
    labels, preds = o.labels.astype(np.int64), o.predictions.astype(np.int64)
    if o.features is not None and n:
        # h . w_unit for every class (N x C, C small), then divided by |h|: no N x d copies
        # beyond the float64 features; an all-zero feature has cosine 0 (as row_normalise gives)
        h = np.asarray(o.features, dtype=np.float64)
        w, _ = row_normalise(head_weight)
        norms = np.sqrt(np.einsum("nd,nd->n", h, h))
        sims = np.divide(h @ w.T, norms[:, None], out=np.zeros((n, len(w))), where=norms[:, None] > 0)
        rows = np.arange(n)
        cos_pred = np.clip(sims[rows, preds], -1.0, 1.0)
        cos_true = np.clip(sims[rows, labels], -1.0, 1.0)
    else:
        cos_pred = cos_true = np.full(n, np.nan)
    confidence = softmax(o.logits).max(axis=1) if n else np.zeros(0)
    return {"run": np.full(n, str(p.run), dtype=object), "variant": np.full(n, p.variant, dtype=object),
            "seed": np.full(n, p.seed, dtype=np.int64), "condition": np.full(n, name, dtype=object),
            "index": o.index.astype(np.int64), "label": labels, "prediction": preds,
            "confidence": confidence, "correct": preds == labels, "cos_pred": cos_pred,
            "cos_true": cos_true}


def chunks(plans: list[ExportPlan], notes: list[str]) -> Iterator[Chunk]:
    """Each run's chosen conditions in turn; a note per run evaluated without features."""
    for p in plans:
        weight = load_head(p.run)["weight"]
        for name in p.chosen:
            c = condition_rows(p, name, weight)
            if len(c["label"]) and np.isnan(c["cos_pred"]).all():
                note = f"{p.run}: evaluated without features, cos_pred and cos_true are empty"
                if note not in notes:
                    notes.append(note)
            yield c


def _write_csv(tmp: Path, parts: Iterator[Chunk]) -> int:
    n = 0
    with open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        for c in parts:
            # tolist(): Python floats, whose str() is the shortest text that reads back exactly
            # no features: empty cells, which pandas reads as NaN
            cols = [[""] * len(c[k]) if k in ("cos_pred", "cos_true") and np.isnan(c[k]).all()
                    else c[k].tolist() for k in COLUMNS]
            w.writerows(zip(*cols, strict=True))
            n += len(c["label"])
    return n


def _arrow_schema():
    import pyarrow as pa

    types = {"run": pa.string(), "variant": pa.string(), "seed": pa.int64(), "condition": pa.string(),
             "index": pa.int64(), "label": pa.int64(), "prediction": pa.int64(),
             "confidence": pa.float64(), "correct": pa.bool_(), "cos_pred": pa.float64(),
             "cos_true": pa.float64()}
    return pa.schema([(k, types[k]) for k in COLUMNS])


def _write_parquet(tmp: Path, parts: Iterator[Chunk]) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema, n = _arrow_schema(), 0
    with pq.ParquetWriter(tmp, schema) as writer:  # one row group per (run, condition)
        for c in parts:
            writer.write_table(pa.table({k: c[k] for k in COLUMNS}, schema=schema))
            n += len(c["label"])
    return n


def _needs_pyarrow() -> None:
    try:
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise RobevalError("--format parquet needs pyarrow: pip install robeval[export]") from None


@dataclass(frozen=True)
class ExportFormat:
    name: str
    write: Callable[[Path, Iterator[Chunk]], int]  # temp path, chunks -> rows written
    suffixes: tuple[str, ...]  # what --out's name ends in (the first is the usual one)
    check: Callable[[], None] = lambda: None  # raises RobevalError when the format cannot be written


FORMATS: Registry[ExportFormat] = Registry("export format")
FORMATS.add(ExportFormat("csv", _write_csv, (".csv",)))
FORMATS.add(ExportFormat("parquet", _write_parquet, (".parquet", ".pq"), _needs_pyarrow))


def pick_format(out: Path, fmt: str | None) -> ExportFormat:
    """The format asked for, else the one --out's extension names; the file name and the bytes
    in it always agree (no CSV under a .parquet name)."""
    if fmt is not None:
        return FORMATS.get(fmt)  # an unknown name: RobevalError listing the formats
    found = [f for f in FORMATS.records() if out.suffix.lower() in f.suffixes]
    if not found:
        names = " or ".join(f.suffixes[0] for f in FORMATS.records())
        raise RobevalError(f"--out {out}: name a {names} file (the format follows the extension), "
                           "or pass --format")
    return found[0]


def check_out(out: Path, writer: ExportFormat, overwrite: bool = False) -> None:
    """--out names a new file (or one to replace with ``overwrite``) of the format's extension in
    an existing, writable folder (export never creates folders); docs/outputs.md."""
    check_file(out, overwrite=overwrite, suffixes=writer.suffixes)
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise RobevalError(f"--out {out}: folder {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise RobevalError(f"--out {out}: folder {parent} is not writable")


def export(run_dirs: list[str | Path], out: str | Path, fmt: str | None = None,
           conditions: str | None = None, overwrite: bool = False) -> dict:
    """Write the per-image table of ``run_dirs`` to ``out``; returns rows, runs and notes.
    ``fmt`` None: the format --out's extension names. An existing ``out`` is replaced only with
    ``overwrite``."""
    out = Path(out)
    if out.is_dir():
        raise RobevalError(f"--out {out} is a folder; give a file name, e.g. {out / 'images.csv'}")
    writer = pick_format(out, fmt)
    writer.check()
    check_out(out, writer, overwrite)
    plans = plan(run_dirs, conditions)
    for p in plans:  # a missing file fails here, before the output is begun
        load_head(p.run)
        for name in p.chosen:
            if not (p.run / p.conditions[name].get("file", "")).is_file():
                load_condition(p.run, name, p.conditions[name])  # raises with the command to run
    notes: list[str] = []
    with atomic_path(out) as tmp:
        n = writer.write(tmp, chunks(plans, notes))
    return {"rows": n, "runs": len(plans), "out": str(out), "format": writer.name, "notes": notes}
