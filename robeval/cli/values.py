"""Value types of the CLI's numeric and device options, checked when the command line is parsed.

Why not click.FloatRange: it lets nan through (every comparison with nan is false) and accepts
inf, so ``--lr nan`` trained a model of NaNs. Why upper bounds on counts: ``--epochs 2**64``
parsed and then trained forever. Every refusal is one line naming the option and what to give.

    robeval train --lr nan        # Error: Invalid value for '--lr': 'nan' is not a finite number
"""

from __future__ import annotations

import math
import os
import re

import click

from robeval.core.environment import DEVICE_PATTERN

#: robeval.training.config.LARGEST, the largest learning rate, margin or scale a run accepts;
#: listed here so parsing a command line imports no torch (tests/test_cli.py keeps them equal)
LARGEST = 1e6


class Number(click.ParamType):
    """A finite float in an interval; ``low_open``/``high_open`` exclude the ends."""

    name = "number"

    def __init__(self, low: float | None = None, high: float | None = None, *,
                 low_open: bool = False, high_open: bool = False) -> None:
        self.low, self.high, self.low_open, self.high_open = low, high, low_open, high_open

    def describe(self) -> str:
        lo = "" if self.low is None else f"{'>' if self.low_open else '>='} {self.low:g}"
        hi = "" if self.high is None else f"{'<' if self.high_open else '<='} {self.high:g}"
        return " and ".join(p for p in (lo, hi) if p) or "finite"

    def check(self, value) -> float | str:
        """The number, or a sentence saying what is wrong with it."""
        try:
            x = float(value)
        except (TypeError, ValueError):
            return f"{value!r} is not a number"
        if not math.isfinite(x):
            return f"{value!r} is not a finite number"
        if self.low is not None and (x < self.low or (self.low_open and x == self.low)):
            return f"{value!r} must be {self.describe()}"
        if self.high is not None and (x > self.high or (self.high_open and x == self.high)):
            return f"{value!r} must be {self.describe()}"
        return x

    def convert(self, value, param, ctx):
        if isinstance(value, float):
            return value
        x = self.check(value)
        if isinstance(x, str):
            self.fail(x, param, ctx)
        return x


class NumberList(click.ParamType):
    """'0.05,0.1,0.2' -> a tuple of distinct numbers, each a ``Number``."""

    name = "numbers"

    def __init__(self, item: Number) -> None:
        self.item = item

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        parts = [p.strip() for p in str(value).split(",")]
        if not any(parts):
            self.fail(f"{value!r}: give one or more numbers separated by commas", param, ctx)
        out = []
        for p in parts:
            x = self.item.check(p)
            if isinstance(x, str):
                self.fail(f"in {value!r}: {x}" if len(parts) > 1 else x, param, ctx)
            out.append(x)
        if len(set(out)) != len(out):
            self.fail(f"{value!r}: a value is repeated", param, ctx)
        return tuple(out)


class Device(click.ParamType):
    """auto, cpu, cuda or cuda:N (whether it exists here is checked when it is used)."""

    name = "device"

    def convert(self, value, param, ctx):
        if value != "auto" and not re.fullmatch(DEVICE_PATTERN, value):
            self.fail(f"unknown device {value!r}; use auto, cpu, cuda or cuda:N", param, ctx)
        return value


class DeviceList(click.ParamType):
    """'cuda:0,cuda:1' or '0,1' -> ['cuda:0', 'cuda:1']; 'cpu,cpu' for CPU workers."""

    name = "devices"

    def convert(self, value, param, ctx):
        if isinstance(value, list):
            return value
        out = []
        for d in str(value).split(","):
            d = d.strip()
            d = f"cuda:{d}" if d.isdigit() else d
            if not re.fullmatch(DEVICE_PATTERN, d):
                self.fail(f"{value!r}: each device is cpu, cuda:N or N (e.g. 0,1)", param, ctx)
            out.append(d)
        return out


class OutPath(click.Path):
    """A folder (``folder=True``) or file the command will write: refused at parse time when it
    cannot be created or written, so no minutes of work end in a failed write."""

    def __init__(self, folder: bool, probe_existing: bool = True) -> None:
        super().__init__(file_okay=not folder, dir_okay=folder)
        self.what = "folder" if folder else "file"
        self.probe_existing = probe_existing

    def convert(self, value, param, ctx):
        from robeval.core.errors import RobevalError
        from robeval.core.fileio import check_creatable

        value = super().convert(os.path.expanduser(value), param, ctx)  # --out=~/x: the home folder
        try:
            check_creatable(value, self.what, self.probe_existing)
        except RobevalError as exc:
            self.fail(str(exc), param, ctx)
        return value


POSITIVE = Number(0, LARGEST, low_open=True)  # learning rates, cosine scales
NON_NEGATIVE = Number(0, LARGEST)             # weight decay, margins
FRACTION = Number(0, 1, low_open=True, high_open=True)  # shares of a split
EPOCHS = click.IntRange(1, 100_000)
BATCH = click.IntRange(1, 1 << 20)
IMAGES = click.IntRange(1, 1 << 31)           # --max-train of one run
IMAGES_OR_ALL = click.IntRange(0, 1 << 31)    # reproduce's --max-train (0 = all)
IMAGES_OR_OFF = click.IntRange(0, 1 << 31)    # --precise-bn-images (0 = off)
DEVICE = Device()
