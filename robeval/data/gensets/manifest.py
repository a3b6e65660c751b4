"""Generalisation-set manifests: the declaration a set is rebuilt from, checked before any work.

A manifest is one JSON file (format ``robeval-genset-1``, documented in manifests/README.md):
name, target dataset, class list, image size, a source of one kind (``npy``, ``files``,
``openimages``), per item an id, an explicit integer label and its class name, an optional box
and the sha256 of the source file, and ``built_sha256``, the hash of the built arrays.
Labels are always explicit; nothing is inferred from folder order.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from robeval.core.errors import RobevalError
from robeval.core.fileio import write_text
from robeval.data.download import manifest_dirs

FORMAT = "robeval-genset-1"
IMAGE_SIZES = (8, 1024)  # the built images' side: the manifest's and make-manifest's one range
TOP_REQUIRED = {"format", "name", "target", "classes", "image_size", "source"}
TOP_OPTIONAL = {"description", "items", "built_sha256", "crop_margin", "license", "notes"}
# kind -> (required item fields, optional item fields); boxes: pixels (files), fractions (openimages)
ITEM_FIELDS: dict[str, tuple[set[str], set[str]]] = {
    "files": ({"id", "path", "label", "class", "sha256"}, {"box", "md5"}),
    "openimages": ({"id", "url", "label", "class", "box", "sha256"}, {"md5", "mid", "subset"}),
}
SOURCE_FIELDS: dict[str, tuple[set[str], set[str]]] = {
    "npy": ({"kind", "data", "labels"}, {"note"}),
    "files": ({"kind"}, {"root", "note"}),
    "openimages": ({"kind"}, {"version", "annotations", "classmap", "per_class", "seed", "note",
                              "filters"}),
}
# shape/dtype: the array a published .npy file holds, so that a copy with other bytes but the same
# array can be named as such (build.py, --accept-arrays)
FILE_FIELDS = ({"url", "filename"}, {"sha256", "md5", "size", "shape", "dtype", "note"})
HEX64 = set("0123456789abcdef")


@dataclass
class Manifest:
    data: dict
    path: Path | None = None

    @property
    def name(self) -> str:
        return self.data["name"]

    @property
    def target(self) -> str:
        return self.data["target"]

    @property
    def classes(self) -> list[str]:
        return list(self.data["classes"])

    @property
    def kind(self) -> str:
        return self.data["source"]["kind"]

    @property
    def items(self) -> list[dict]:
        return self.data.get("items") or []

    @property
    def image_size(self) -> int:
        return int(self.data["image_size"])

    def save(self, path: Path | None = None) -> None:
        write_text(path or self.path, json.dumps(self.data, indent=1) + "\n")


def _fields(where: str, obj: dict, required: set[str], optional: set[str]) -> None:
    if not isinstance(obj, dict):
        raise RobevalError(f"{where}: expected an object, got {type(obj).__name__}")
    missing, extra = required - set(obj), set(obj) - required - optional
    if missing:
        raise RobevalError(f"{where}: missing field(s) {sorted(missing)}")
    if extra:
        raise RobevalError(f"{where}: unknown field(s) {sorted(extra)} (allowed: "
                           f"{sorted(required | optional)})")


def _check_hash(where: str, value: object, length: int = 64) -> None:
    if isinstance(value, str):
        value = value.lower()
    if value is not None and (not isinstance(value, str) or len(value) != length
                              or set(value) - HEX64):
        raise RobevalError(f"{where}: {value!r} is not a lowercase hex digest of {length} characters")


def safe_relpath(path: str, where: str) -> PurePosixPath:
    """A relative path that stays inside its root (no absolute paths, no '..')."""
    pure = PurePosixPath(str(path).replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or not pure.parts or str(path).startswith("~"):
        raise RobevalError(f"{where}: path {path!r} points outside the manifest's root; "
                           f"give paths relative to the root, without '..'")
    return pure


def validate(data: dict, where: str = "manifest") -> Manifest:
    """Check a manifest completely; every problem is a RobevalError that names the item."""
    _fields(where, data, TOP_REQUIRED, TOP_OPTIONAL)
    if data["format"] != FORMAT:
        raise RobevalError(f"{where}: format is {data['format']!r}, expected {FORMAT!r}")
    name = data["name"]
    if not isinstance(name, str) or not name or set(name) - set("abcdefghijklmnopqrstuvwxyz0123456789.-_"):
        raise RobevalError(f"{where}: name {name!r} must be lowercase letters, digits, '.', '-', '_'")
    classes = data["classes"]
    if not isinstance(classes, list) or not classes or not all(isinstance(c, str) and c for c in classes):
        raise RobevalError(f"{where}: classes must be a non-empty list of names")
    if len(set(classes)) != len(classes):
        dup = sorted({c for c in classes if classes.count(c) > 1})
        raise RobevalError(f"{where}: duplicate class names {dup[:5]}")
    low, high = IMAGE_SIZES
    if not isinstance(data["image_size"], int) or not low <= data["image_size"] <= high:
        raise RobevalError(f"{where}: image_size must be an integer in {low}..{high}")
    _check_hash(f"{where}: built_sha256", data.get("built_sha256"))
    source = data["source"]
    kind = source.get("kind") if isinstance(source, dict) else None
    if not isinstance(kind, str) or kind not in SOURCE_FIELDS:
        raise RobevalError(f"{where}: source.kind must be one of {sorted(SOURCE_FIELDS)}, got {kind!r}")
    _fields(f"{where}: source", source, *SOURCE_FIELDS[kind])
    if isinstance(data.get("items"), list) or kind == "npy":
        _lower_hashes(data)
    if kind == "npy":
        for role in ("data", "labels"):
            _fields(f"{where}: source.{role}", source[role], *FILE_FIELDS)
            _check_hash(f"{where}: source.{role}.sha256", source[role].get("sha256"))
            _check_hash(f"{where}: source.{role}.md5", source[role].get("md5"), 32)
        if data.get("items"):
            raise RobevalError(f"{where}: an npy source takes its labels from its labels file; "
                               f"remove 'items'")
    else:
        _validate_items(data, kind, where)
    return Manifest(data)


def _lower_hashes(data: dict) -> None:
    """Hex digests are compared in lowercase; hand-written manifests may use either case."""
    entries = [data["source"].get(r) for r in ("data", "labels")] + list(data.get("items") or [])
    for entry in entries:
        for key in ("sha256", "md5"):
            if isinstance(entry, dict) and isinstance(entry.get(key), str):
                entry[key] = entry[key].lower()
    if isinstance(data.get("built_sha256"), str):
        data["built_sha256"] = data["built_sha256"].lower()


def _validate_items(data: dict, kind: str, where: str) -> None:
    items, classes = data.get("items"), data["classes"]
    if not isinstance(items, list) or not items:
        raise RobevalError(f"{where}: the set is empty (no items)")
    required, optional = ITEM_FIELDS[kind]
    seen: dict[str, int] = {}
    dups: list[str] = []
    for i, item in enumerate(items):
        at = f"{where}: item {i} ({item.get('id', '?') if isinstance(item, dict) else '?'})"
        _fields(at, item, required, optional)
        iid = str(item["id"])
        if iid in seen:
            dups.append(iid)
        seen[iid] = i
        label = item["label"]
        if not isinstance(label, int) or isinstance(label, bool) or not 0 <= label < len(classes):
            raise RobevalError(f"{at}: label {label!r} is outside the class list 0..{len(classes) - 1}")
        if item["class"] != classes[label]:
            raise RobevalError(f"{at}: label {label} is {classes[label]!r} but class says "
                               f"{item['class']!r}")
        _check_hash(f"{at}: sha256", item["sha256"])
        _check_hash(f"{at}: md5", item.get("md5"), 32)
        if kind == "files":
            safe_relpath(item["path"], at)
        box = item.get("box")
        if box is not None:
            ok = isinstance(box, list) and len(box) == 4 and all(
                isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in box)
            if not ok or box[2] <= box[0] or box[3] <= box[1] or min(box) < 0:
                raise RobevalError(f"{at}: box must be 4 finite numbers [x0, y0, x1, y1] with x1 > x0, "
                                   "y1 > y0 >= 0")
            if kind == "openimages" and max(box) > 1:
                raise RobevalError(f"{at}: Open Images boxes are fractions of the image (0..1)")
    if dups:
        raise RobevalError(f"{where}: duplicate item ids {sorted(set(dups))[:10]}")


def load_manifest(path: str | Path) -> Manifest:
    path = Path(path)
    if path.is_dir():
        raise RobevalError(f"{path} is a folder; a manifest is a .json file (robeval genset "
                           "make-manifest writes one)")
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise RobevalError(f"no manifest at {path}") from None
    except OSError as exc:
        raise RobevalError(f"{path} cannot be read as a manifest ({exc.strerror or exc})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RobevalError(f"{path}: not valid JSON ({exc})") from None
    except RecursionError:
        raise RobevalError(f"{path}: JSON nested too deeply to be a manifest") from None
    m = validate(data, str(path))
    m.path = path
    return m


def manifest_paths() -> dict[str, Path]:
    """Known manifests by name: manifests/gensets/*.json in every manifest folder (first wins)."""
    out: dict[str, Path] = {}
    for d in manifest_dirs():
        for p in sorted((d / "gensets").glob("*.json")):
            out.setdefault(p.stem, p)
    return out


def find_manifest(name_or_path: str) -> Manifest:
    p = Path(name_or_path)
    if p.suffix == ".json" and p.exists():
        return load_manifest(p)
    known = manifest_paths()
    if name_or_path not in known:
        raise RobevalError(f"no generalisation set {name_or_path!r}; known: "
                           f"{', '.join(known) or 'none'} (or give the path of a manifest .json)")
    return load_manifest(known[name_or_path])
