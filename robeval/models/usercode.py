"""Your own model code as a model source: ``--arch py:FILE.py:FUNCTION`` or ``--arch module:FUNCTION``.

    robeval eval --import-checkpoint r18.pt --arch py:cifar_resnet.py:build \\
        --arch-kwargs '{"num_classes": 10}' --dataset cifar10 --head learned --out runs/my-r18

robeval imports the file (or module) and calls the function with ``--arch-kwargs`` (a JSON
object) as keyword arguments: this RUNS YOUR CODE, as ``python FILE.py`` would. The function
returns the ``nn.Module`` the checkpoint's state dict loads into (as for torchvision:/timm:).
The file's path is recorded absolute (with its sha256), so ``robeval eval RUN`` rebuilds the
network from the same file later; a file that moved or is gone is a one-line error.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import re
import sys
from collections.abc import Callable
from pathlib import Path

from torch import nn

from robeval.core.errors import RobevalError

#: ``package.module:function`` (dotted Python names, then one name)
MODULE_FACTORY = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*$")


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:200]}" if lines else type(exc).__name__


def split_file_target(arg: str) -> tuple[Path, str]:
    """'path/to/model.py:build' -> (absolute path, 'build')."""
    path, colon, name = arg.rpartition(":")
    if not colon or not path or not name.isidentifier():
        raise RobevalError(f"py:{arg}: name the file and the function as py:PATH.py:FUNCTION, "
                           "e.g. py:models/cifar_resnet.py:build")
    return Path(path).expanduser().resolve(), name


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _load_file(path: Path):
    if not path.is_file():
        raise RobevalError(f"py:{path}: no such file; give the path of the Python file that builds "
                           "your model, e.g. --arch py:models/cifar_resnet.py:build")
    stem = re.sub(r"\W", "_", path.stem)
    module_name = f"robeval_user_{stem}_{file_sha256(path)[:10]}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    if module_spec is None or module_spec.loader is None:
        raise RobevalError(f"py:{path} is not a Python file robeval can import; give a .py file")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module  # dataclasses and pickling look classes up by module
    sys.path.insert(0, str(path.parent))  # its sibling modules import as they do from a script
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(module_name, None)
        raise RobevalError(f"running {path} raised {_first_line(exc)}; robeval runs your model "
                           "code as it is: fix the file") from None
    finally:
        sys.path.remove(str(path.parent))
    return module


def _load_module(name: str):
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and name.startswith(exc.name):
            raise RobevalError(f"no Python module {name!r} (for --arch {name}:FUNCTION): install its "
                               "package, run from its folder, or give py:PATH.py:FUNCTION") from None
        raise RobevalError(f"importing {name} raised {_first_line(exc)}; fix its imports") from None
    except Exception as exc:
        raise RobevalError(f"importing {name} raised {_first_line(exc)}; robeval runs your model "
                           "code as it is: fix the module") from None


def _factory(module, where: str, name: str) -> Callable:
    fn = getattr(module, name, None)
    if not callable(fn):
        defined = sorted(k for k, v in vars(module).items()
                         if callable(v) and not k.startswith("_") and getattr(v, "__module__", None)
                         == module.__name__)
        raise RobevalError(f"{where} has no callable {name!r}; it defines: "
                           f"{', '.join(defined[:8]) or 'no functions or classes'}")
    return fn


def _call(fn: Callable, where: str, kwargs: dict) -> nn.Module:
    try:
        net = fn(**kwargs)
    except Exception as exc:
        given = f" with --arch-kwargs {kwargs}" if kwargs else ""
        raise RobevalError(f"{where}(){given} raised {_first_line(exc)}; check the function and "
                           "--arch-kwargs") from None
    if not isinstance(net, nn.Module):
        raise RobevalError(f"{where}() returned a {type(net).__name__}, not a torch nn.Module; "
                           "make it return the network")
    return net


def build_from_file(arg: str, num_classes: int, kwargs: dict | None = None) -> nn.Module:
    """``py:PATH.py:FUNCTION`` -> FUNCTION(**kwargs) from that file (the user's own code)."""
    path, name = split_file_target(arg)
    module = _load_file(path)
    return _call(_factory(module, str(path), name), f"{path}:{name}", dict(kwargs or {}))


def build_from_module(arch: str, num_classes: int, kwargs: dict | None = None) -> nn.Module:
    """``package.module:FUNCTION`` -> FUNCTION(**kwargs) of an importable module."""
    module_name, _, name = arch.partition(":")
    module = _load_module(module_name)
    return _call(_factory(module, module_name, name), arch, dict(kwargs or {}))


def is_module_factory(arch: str) -> bool:
    """True for ``package.module:FUNCTION`` spellings (not ``py:``, which names a file)."""
    return bool(MODULE_FACTORY.match(arch))
