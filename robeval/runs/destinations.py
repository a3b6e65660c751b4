"""Where robeval may write: the one rule for outputs (docs/outputs.md), checked here for every verb.

1. An output folder (``--out`` of train, ``eval --import-checkpoint``, report, reproduce) is new,
   empty, or one robeval made for the same verb (``OUTPUT_KINDS``: a run, a report, a study), which
   the verb continues or refreshes as it documents. ``--overwrite`` replaces an output of the
   verb's own kind. A folder of another kind (a run given as a report's ``--out``) or one holding
   files robeval did not write is refused, with or without ``--overwrite``.
2. No output is written inside a run folder that is not its own: a run holds what train, eval
   and analyze write about it, nothing else.
3. An output file (``export --out``, ``corrupt --preview --out``, ``genset make-manifest --out``)
   that exists is replaced only with ``--overwrite``, and only by a file (never a folder).
4. Everything is checked before anything is written, so a refusal leaves the disk as it was.

Only reads happen here; the verbs create the folders (fileio.staged_folder, new_folder).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from robeval.core.errors import RobevalError
from robeval.core.fileio import write_json
from robeval.core.registry import Registry
from robeval.runs.layout import BEST, CONFIG, LAST, METRICS, STATE, SUMMARY

MARKER = ".robeval-output"  # {"kind": ...} in report and study folders: who made the folder
STUDY_ENTRIES = {"runs", "report", "slurm", "sweep.json", "incomplete.json", MARKER}


def _json(path: Path):
    """A small JSON file robeval may have written, or None (missing, unreadable, not JSON)."""
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None


def is_robeval_run(path: Path) -> bool:
    """A run folder: a config.json robeval wrote (a config.json of another tool is not one)."""
    config = _json(path / CONFIG)
    return isinstance(config, dict) and {"config", "model", "dataset"} <= set(config)


def _imported(path: Path) -> bool:
    config = _json(path / CONFIG)
    return isinstance(config, dict) and isinstance(config.get("imported"), dict)


def _marked(path: Path, kind: str) -> bool:
    marker = _json(path / MARKER)
    return isinstance(marker, dict) and marker.get("kind") == kind


def _is_report(path: Path) -> bool:
    return _marked(path, "report") or ((path / "report.md").is_file() and (path / "results.json").is_file())


def _is_study(path: Path) -> bool:
    """A reproduce folder (marked, or from before markers: runs/ and only reproduce's entries)."""
    if _marked(path, "study"):
        return True
    names = {p.name for p in path.iterdir() if not p.name.startswith(".")}
    return (path / "runs").is_dir() and names <= STUDY_ENTRIES


@dataclass(frozen=True)
class OutputKind:
    """A kind of output folder: how to recognise one, and the words that name it."""

    name: str
    what: str  # "a run folder"
    made_by: str  # "robeval train"
    recognise: Callable[[Path], bool]
    marked: bool = False  # a MARKER file is written into new folders of this kind


OUTPUT_KINDS: Registry[OutputKind] = Registry("output kind")
OUTPUT_KINDS.add(OutputKind("run", "a run folder", "robeval train or eval --import-checkpoint",
                                   is_robeval_run))
OUTPUT_KINDS.add(OutputKind("report", "a report folder", "robeval report", _is_report, True))
OUTPUT_KINDS.add(OutputKind("study", "a study folder", "robeval reproduce", _is_study, True))


def kind_of(path: Path) -> OutputKind | None:
    """The kind of output ``path`` holds, or None (not a folder, or not robeval's)."""
    if not path.is_dir():
        return None
    return next((k for k in map(OUTPUT_KINDS.get, OUTPUT_KINDS) if k.recognise(path)), None)


def enclosing_run(path: Path) -> Path | None:
    """The run folder ``path`` lies inside (not ``path`` itself), if any."""
    return next((p for p in Path(path).absolute().parents if is_robeval_run(p)), None)


def check_folder(path: str | Path, kind: str, *, overwrite: bool = False,
                 option: str = "--out") -> str:
    """Check an output folder before anything is written: 'new' (absent or empty), 'same' (an
    output of this kind, to continue or refresh) or 'replace' (the same with ``overwrite``).
    Anything else is a RobevalError saying what is there and what to do."""
    path = Path(path)
    want = OUTPUT_KINDS.get(kind)
    inside = enclosing_run(path)
    if inside is not None:
        raise RobevalError(f"{option} {path} is inside the run folder {inside}; robeval never writes "
                           "other outputs into a run's folder: choose a folder outside it")
    if path.exists() and not path.is_dir():
        raise RobevalError(f"{option} {path} is a file, not a folder; choose another path")
    if not path.exists() or not any(path.iterdir()):
        return "new"
    found = kind_of(path)
    if found is not None and found.name == kind:
        return "replace" if overwrite else "same"
    if found is not None:
        raise RobevalError(f"{option} {path} is {found.what} (written by {found.made_by}), not "
                           f"{want.what}; robeval never mixes its outputs into another's folder: "
                           "choose a new or empty folder")
    sample = ", ".join(sorted(p.name for p in path.iterdir())[:3])
    raise RobevalError(f"{option} {path} already holds files robeval did not write ({sample}); "
                       "choose a new or empty folder (robeval never replaces what it did not write)")


def mark(folder: Path, kind: str) -> None:
    """Record in ``folder`` (new, or a staging folder) that robeval made it as a ``kind``."""
    if OUTPUT_KINDS.get(kind).marked:
        write_json(folder / MARKER, {"kind": kind, "note": "written by robeval: docs/outputs.md"})


def unmark_if_unused(folder: Path) -> None:
    """Remove ``folder`` when it holds nothing but its MARKER: a verb that made it and then
    refused leaves nothing behind."""
    try:
        if {p.name for p in folder.iterdir()} <= {MARKER}:
            (folder / MARKER).unlink(missing_ok=True)
            folder.rmdir()
    except OSError:
        pass


def check_file(path: str | Path, *, overwrite: bool = False, option: str = "--out",
               suffixes: tuple[str, ...] = ()) -> None:
    """Check an output file: not a folder, not inside a run folder, of one of ``suffixes`` (when
    given), and replacing an existing file only with ``overwrite``."""
    path = Path(path)
    if path.is_dir():
        raise RobevalError(f"{option} {path} is a folder; give a file name, e.g. "
                           f"{path / ('out' + (suffixes[0] if suffixes else ''))}")
    if suffixes and path.suffix.lower() not in suffixes:
        raise RobevalError(f"{option} {path}: the file name must end in {' or '.join(suffixes)} "
                           "(what it will hold)")
    inside = enclosing_run(path)
    if inside is not None:
        raise RobevalError(f"{option} {path} is inside the run folder {inside}; robeval never writes "
                           "other outputs into a run's folder: choose a path outside it")
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise RobevalError(f"{option} {path} exists and is not a plain file (a link, a device, a "
                           "pipe); robeval replaces only files: choose another name")
    if path.exists() and not overwrite:
        raise RobevalError(f"{option} {path} exists; pass --overwrite to replace it, or choose "
                           "another name")


def check_run_folder(path: str | Path, *, resume: bool = False, overwrite: bool = False,
                     resumable: bool = True) -> str:
    """The rule for a run's ``--out``: 'new', 'resume' or 'replace'; refusals name the fix
    (``resumable`` False: an import, which has no --resume)."""
    path = Path(path)
    if resume and overwrite:
        raise RobevalError("--resume and --overwrite contradict each other; pick one")
    if path.exists() and not path.is_dir():
        raise RobevalError(f"{path} exists and is not a folder")
    if not (path / CONFIG).is_file():  # new, empty, or not a run: the general rule decides
        if path.is_dir() and any(path.iterdir()) and (resume or overwrite):
            found = kind_of(path)
            what = found.what if found else "not a robeval run folder"
            if resume:
                raise RobevalError(f"cannot resume: {path} is {what} (no {CONFIG})")
            raise RobevalError(f"refusing to delete {path}: it is {what}; choose another --out")
        check_folder(path, "run")
        return "new"
    inside = enclosing_run(path)
    if inside is not None:
        raise RobevalError(f"--out {path} is inside the run folder {inside}; robeval never writes "
                           "other outputs into a run's folder: choose a folder outside it")
    if resume:
        if _imported(path):
            raise RobevalError(f"cannot resume {path}: it holds an imported model, which robeval did "
                               "not train; evaluate it with robeval eval, or train into another --out")
        folders = [n for n in (SUMMARY, STATE, BEST, LAST, METRICS) if (path / n).is_dir()]
        if folders:
            raise RobevalError(f"cannot resume {path}: {', '.join(folders)} should be a file but is a "
                               "folder (the run folder was damaged); restore it or use --overwrite")
        return "resume"
    if overwrite:
        if not is_robeval_run(path):
            raise RobevalError(f"refusing to delete {path}: its {CONFIG} is not one robeval wrote (or "
                               "is damaged); delete the folder yourself if it is a damaged run")
        return "replace"
    how = "--resume to continue that run or --overwrite" if resumable else "--overwrite"
    raise RobevalError(f"{path} already exists; pass {how} to replace it")


def prepare_out_dir(path: Path, resume: bool, overwrite: bool) -> bool:
    """Create ``path`` for a new run; True when an existing run should be resumed instead."""
    action = check_run_folder(path, resume=resume, overwrite=overwrite)
    if action == "resume":
        return True
    if action == "replace":
        shutil.rmtree(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RobevalError(f"cannot create the run folder {path}: {exc.strerror or exc}; choose "
                           "another --out") from None
    return False
