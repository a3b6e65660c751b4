"""What produced a result: git SHA, library versions, device. Written beside every result."""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from robeval.core.errors import RobevalError

LIBRARIES = (
    "robeval", "torch", "torchvision", "numpy", "scipy", "pillow", "scikit-image",
    "opencv-python-headless", "imagecorruptions", "albumentations", "fiftyone", "click",
    "matplotlib",
)


FLAG_ON, FLAG_OFF = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


def env_flag(name: str) -> bool:
    """An on/off environment variable (ROBEVAL_OFFLINE, ROBEVAL_NO_VERIFY, ...): 1/true/yes/on or
    0/false/no/off/unset; anything else is refused rather than read as off."""
    value = os.environ.get(name, "").strip().lower()
    if value in FLAG_ON or value in FLAG_OFF:
        return value in FLAG_ON
    raise RobevalError(f"${name}={os.environ[name]!r}: set it to 1 (on) or 0 (off), or unset it")


def git_sha() -> str | None:
    """The SHA of the robeval checkout (with '-dirty' if it has uncommitted changes), if any."""
    root = Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5
        )
        if sha.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root, capture_output=True, text=True, timeout=5,
        )
        return sha.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def package_version(name: str) -> str | None:
    """The installed version of a distribution, None when it is not installed."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def library_versions() -> dict[str, str | None]:
    return {name: package_version(name) for name in LIBRARIES}


DEVICE_PATTERN = r"cpu|cuda(:\d+)?"  # a device robeval can run on; the CLI adds "auto"


def pick_device(device: str = "auto") -> str:
    """auto -> CUDA when present, else CPU; an explicit CUDA device must exist."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if not re.fullmatch(DEVICE_PATTERN, device):
        raise RobevalError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RobevalError(f"--device {device} asked for, but no CUDA device is available here; "
                           "use --device cpu")
    return device


def describe_device(device: str) -> str:
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def environment(device: str | None = None) -> dict:
    """The one environment record written beside every result: time, git SHA, Python, platform,
    library versions and, when a ``device`` is given, the device (which imports torch)."""
    out = {
        "time_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "git_sha": git_sha(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }
    if device is not None:
        out.update(device=device, device_name=describe_device(device))
    out["libraries"] = library_versions()
    return out
