"""Shared CLI pieces: registry-backed choices (looked up lazily, so --help stays fast), seed
parsing, common options and the group that turns RobevalError into a one-line error."""

from __future__ import annotations

import errno
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path

import click

from robeval.cli.values import DEVICE, OutPath


def _registry_names(registry: str) -> Callable[[], list[str]]:
    def names() -> list[str]:
        from robeval.stages.inputs import registry_names

        return registry_names(registry)

    return names


class RegistryName(click.ParamType):
    """A name from a registry, looked up only when needed (so --help stays fast).

    With ``allow_arg``, ``name:ARG`` is accepted when ``name`` is registered (e.g. imagefolder:PATH).
    """

    name = "name"

    def __init__(self, names: Callable[[], list[str]], allow_arg: bool = False) -> None:
        self.names = names
        self.allow_arg = allow_arg

    def get_metavar(self, *args, **kwargs) -> str:
        return "[" + "|".join(self.names()) + "]"

    def convert(self, value, param, ctx):
        base = value.split(":", 1)[0] if self.allow_arg else value
        choices = self.names()
        if base not in choices:
            self.fail(f"unknown {param.name if param else 'value'} {value!r}; choose one of: "
                      f"{', '.join(choices)}", param, ctx)
        return value


class NameList(RegistryName):
    """Comma-separated registry names that may be mixed with other words (``--heads``: head-sets
    and head variants); --help lists the registry, the stage that reads the list checks it."""

    def get_metavar(self, *args, **kwargs) -> str:
        return super().get_metavar(*args, **kwargs) + "[,...]"

    def convert(self, value, param, ctx):
        return value


# Every choice the CLI offers comes from the registry (or constant) that owns it, named in
# robeval.stages.inputs.REGISTRIES (checked by tests/test_registries.py).
DATASET = RegistryName(_registry_names("DATASETS"), allow_arg=True)
ARCH = RegistryName(_registry_names("ENCODERS"))


class ImportArch(RegistryName):
    """--arch of an import: robeval's encoders, a model source (torchvision:NAME, timm:NAME,
    py:FILE.py:FUNCTION, robustbench:..., torchscript), or package.module:FUNCTION."""

    def convert(self, value, param, ctx):
        from robeval.stages.inputs import is_module_factory

        if ":" in value and value.split(":", 1)[0] not in self.names() and is_module_factory(value):
            return value
        return super().convert(value, param, ctx)


IMPORT_ARCH = ImportArch(lambda: ARCH.names() + _registry_names("MODEL_SOURCES")(), allow_arg=True)
INIT = RegistryName(_registry_names("INITS"))
PRESET = RegistryName(_registry_names("PRESETS"))
HEAD = RegistryName(_registry_names("HEAD_MODES"))
LOGITS = RegistryName(_registry_names("LOGITS_KINDS"))
SCHEDULER = RegistryName(_registry_names("SCHEDULERS"))
PRECISION = RegistryName(_registry_names("PRECISIONS"))
CHECKPOINT = RegistryName(_registry_names("CHECKPOINTS"))
TABLE = RegistryName(_registry_names("TABLE_CHOICES"))
BACKEND = RegistryName(_registry_names("BACKENDS"))
MANIFEST_MAKER = RegistryName(_registry_names("MANIFEST_MAKERS"))
EMBEDDING = RegistryName(_registry_names("EMBEDDINGS"))
LAUNCHER = RegistryName(_registry_names("LAUNCHERS"))
HEADS = NameList(_registry_names("HEAD_SETS"))
REGISTRY_OPTIONS = (DATASET, ARCH, INIT, PRESET, HEAD, LOGITS, SCHEDULER, PRECISION, CHECKPOINT,
                    TABLE, BACKEND, MANIFEST_MAKER, EMBEDDING, LAUNCHER, HEADS)


MAX_SEEDS = 1000


def parse_seeds(text: str) -> list[int]:
    """'3' -> 3 seeds (0, 1, 2); '0-4' -> 0..4; '0,1,5' -> those seeds."""
    seeds: list[int] = []
    try:
        if text.strip().isdigit():
            count = int(text)
            if count > MAX_SEEDS:
                raise click.BadParameter(f"{text!r}: at most {MAX_SEEDS} seeds (a count); for one "
                                         f"seed of that number give {text}-{text}")
            if count < 1:
                raise click.BadParameter(f"{text!r}: a count of seeds must be at least 1 (one seed, "
                                         "e.g. seed 0: give 0-0)")
            return list(range(count))
        for part in text.split(","):
            if "-" in part.strip()[1:]:
                lo, hi = (int(x) for x in part.split("-", 1))
                if hi - lo + 1 > MAX_SEEDS:
                    raise click.BadParameter(f"{text!r}: more than {MAX_SEEDS} seeds")
                seeds += list(range(lo, hi + 1))
            else:
                seeds.append(int(part))
            if len(seeds) > MAX_SEEDS:
                raise click.BadParameter(f"{text!r}: more than {MAX_SEEDS} seeds")
    except ValueError:
        raise click.BadParameter(f"{text!r}: give a count (3 = seeds 0,1,2), a range 0-4 or a list 0,1,5") from None
    if not seeds:
        raise click.BadParameter("no seeds given")
    if any(not 0 <= s < 2**31 for s in seeds):
        raise click.BadParameter(f"{text!r}: every --seed must be an integer in [0, 2^31)")
    if len(set(seeds)) != len(seeds):
        raise click.BadParameter(f"{text!r}: a seed is repeated")
    return seeds


def parse_names(text: str, kind: RegistryName, what: str) -> list[str]:
    """'a,b' -> ['a', 'b'], each checked against the registry behind ``kind``."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in kind.names()]
    if unknown or not names:
        raise click.BadParameter(f"unknown {what} {', '.join(unknown) or repr(text)}; choose from: "
                                 f"{', '.join(kind.names())}")
    return names


ENVIRONMENT_ERRORS = {  # errno -> what to do; an OSError of these is the machine's, not a bug
    errno.EACCES: "fix its permissions, or choose a writable --out / --data-dir ($ROBEVAL_DATA)",
    errno.EPERM: "fix its permissions, or choose a writable --out / --data-dir ($ROBEVAL_DATA)",
    errno.EROFS: "it is on a read-only file system: choose another --out / --data-dir ($ROBEVAL_DATA)",
    errno.ENOSPC: "the disk is full: free space, or choose another --out / --data-dir",
    errno.EDQUOT: "the disk quota is used up: free space, or choose another --out / --data-dir",
    errno.ELOOP: "a symbolic link points back to itself: remove the loop",
}


def environment_error(exc: BaseException) -> str | None:
    """One line for an OSError caused by the machine (a read-only data root, a full disk)."""
    if not isinstance(exc, OSError) or exc.errno not in ENVIRONMENT_ERRORS:
        return None
    where = exc.filename or "a file robeval needs"
    return f"{where}: {exc.strerror or exc}; {ENVIRONMENT_ERRORS[exc.errno]}"


class RobevalGroup(click.Group):
    """Turns RobevalError into a one-line message and exit 1; Ctrl-C into exit 130."""

    def invoke(self, ctx: click.Context):
        from robeval.core.errors import RobevalError

        try:
            return super().invoke(ctx)
        except RobevalError as exc:
            raise click.ClickException(str(exc)) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("\ninterrupted: finished files are complete, nothing half-written was left; "
                       "re-run with --resume (train) or the same command (reproduce) to continue",
                       err=True)
            sys.exit(130)
        except Exception as exc:
            line = environment_error(exc)
            if line:  # the machine's state (permissions, a full disk), not a robeval bug
                raise click.ClickException(line) from None
            # Last resort: every known bad input is a RobevalError, so reaching this is a robeval
            # bug; one line for the user, the traceback with ROBEVAL_DEBUG=1 (the test suite sets
            # it, so the bad-input tests still see every unhandled exception). An EOFError would
            # otherwise become click's bare "Aborted!".
            if os.environ.get("ROBEVAL_DEBUG") == "1":
                raise
            what = "a file ended early (truncated?)" if isinstance(exc, EOFError) else "unexpected error"
            raise click.ClickException(
                f"{what}: {type(exc).__name__}: {exc}. This is a robeval bug: please report it with the "
                "command; ROBEVAL_DEBUG=1 shows the traceback") from None


def data_dir_option(f):
    return click.option("--data-dir", type=OutPath(folder=True, probe_existing=False), default=None,
                        help="Data root (default: $ROBEVAL_DATA, else ./datasets).")(f)


def device_option(f):
    return click.option("--device", type=DEVICE, default="auto", show_default=True,
                        help="auto (CUDA when present, else CPU), cpu, cuda or cuda:N.")(f)


def expand_runs(paths: tuple[str, ...]) -> list[Path]:
    """Run folders as given, and the run folders directly inside any folder that is not one. A run
    named twice (``runs/a runs/a``, ``runs/* runs/a``, ``runs/a ./runs/a/``) is kept once: it would
    otherwise be exported twice or counted as two seeds."""
    from robeval.stages.inputs import is_run

    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir() and not is_run(p):
            inside = sorted(q for q in p.iterdir() if is_run(q))
            out += inside or [p]
        else:
            out.append(p)
    seen: set[str] = set()  # realpath, unlike Path.resolve, never raises (a symlink loop)
    return [p for p in out if not (os.path.realpath(p) in seen or seen.add(os.path.realpath(p)))]


def _set_quiet(ctx, param, value: bool) -> bool:
    if value:
        from robeval.core.progress import set_quiet

        set_quiet(True)
    return value


def quiet_option(f):
    return click.option("--quiet", is_flag=True, callback=_set_quiet,
                        help="No progress bars at all (training, decoding, building, hashing).")(f)


def parse_json_object(ctx, param, value: str | None) -> dict | None:
    """'{"num_classes": 10}' -> that dict; anything but a JSON object is a one-line error."""
    import json

    from robeval.core.errors import RobevalError

    if value is None:
        return None
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        raise RobevalError(f"--{param.name.replace('_', '-')} {value!r} is not JSON ({exc}); give an "
                           """object such as '{"num_classes": 10}' (single quotes around it)""") from None
    if not isinstance(parsed, dict):
        raise RobevalError(f"--{param.name.replace('_', '-')} takes a JSON object such as "
                           f"""'{{"num_classes": 10}}', got a {type(parsed).__name__}""")
    return parsed


def parse_floats(ctx, param, value: str | None) -> float | list[float] | None:
    """'0.5' -> 0.5; '0.485,0.456,0.406' -> three floats (one per RGB channel)."""
    if value is None:
        return None
    try:
        numbers = [float(v) for v in value.split(",")]
    except ValueError:
        raise click.BadParameter(f"{value!r}: give 1 or 3 numbers separated by commas") from None
    if len(numbers) not in (1, 3):
        raise click.BadParameter(f"{value!r}: give 1 or 3 numbers (one per RGB channel)")
    if not all(math.isfinite(v) for v in numbers):
        raise click.BadParameter(f"{value!r}: every number must be finite (no nan or inf)")
    return numbers[0] if len(numbers) == 1 else numbers
