"""Build, verify and load generalisation sets declared by manifests.

    robeval genset build cifar10.1-v6      # -> <data root>/gensets/cifar10.1-v6.npz (+ .json)

Every source file is checked against the manifest's sha256 (md5 where only that is known) before
it is used; hash mismatches fail and name the items. Undecodable or truncated images fail too,
unless ``skip_bad``: then they are left out, listed, and recorded in the sidecar. ``pin`` fills
in hashes a manifest does not have yet (for its author), never overwriting one.
"""

from __future__ import annotations

import os
import urllib.error
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import PIL

from robeval.core.environment import env_flag
from robeval.core.errors import RobevalError
from robeval.core.fileio import (
    array_sha256,
    bytes_digest,
    file_digest,
    read_json,
    write_json,
    write_npz,
)
from robeval.core.progress import progress_bar
from robeval.core.registry import Registry
from robeval.data.base import ImageSet
from robeval.data.download import (
    RemoteFile,
    fetch_url,
    find_local,
)
from robeval.data.gensets.manifest import Manifest, find_manifest, safe_relpath
from robeval.data.images import DEFAULT_MARGIN, BadImage, crop_resize, open_image
from robeval.data.loading import data_root


@dataclass
class Built:
    images: np.ndarray
    labels: np.ndarray
    ids: list[str]
    skipped: list[str] = field(default_factory=list)
    pinned: int = 0
    accepted: list[str] = field(default_factory=list)  # files taken by --accept-arrays


Builder = Callable[[Manifest, Path, dict], Built]
BUILDERS: Registry[Builder] = Registry("genset source kind")


def out_paths(name: str, root: Path) -> tuple[Path, Path]:
    return root / "gensets" / f"{name}.npz", root / "gensets" / f"{name}.json"


def _check(where: str, data: bytes, sha256: str | None, md5: str | None) -> str | None:
    """None when the bytes match the declared hash, else a message."""
    if sha256:
        got = bytes_digest(data)
        return None if got == sha256 else f"{where}: sha256 {got} != {sha256}"
    if md5:
        got = bytes_digest(data, "md5")
        return None if got == md5 else f"{where}: md5 {got} != {md5}"
    return f"{where}: no hash recorded"


@BUILDERS.register("npy")
def build_npy(m: Manifest, root: Path, opts: dict) -> Built:
    """Data (N, H, W, 3) uint8 and labels (N,) from two official .npy files (CIFAR-10.1)."""
    arrays, pinned, accepted = {}, 0, []
    missing = [m.data["source"][r] for r in ("data", "labels")
               if find_local(root, m.data["source"][r]["filename"]) is None]
    for source_file in missing:
        try:
            _npy_file(source_file, root, opts)
        except _NoNetwork as exc:
            dest = (root / "downloads").resolve()
            lines = [f"  {s['url']}\n    -> {dest / s['filename']} ({_remote(s).describe()})"
                     for s in missing]
            raise RobevalError(
                f"{m.name}: cannot download {len(missing)} source file(s) ({exc}). On a machine "
                f"with internet access download:\n" + "\n".join(lines) +
                f"\nthen run `robeval genset build {m.name}` again; the hashes are checked") from None
    for role in ("data", "labels"):
        source_file = m.data["source"][role]
        path = _npy_file(source_file, root, opts)
        if not source_file.get("sha256") and not source_file.get("md5") and not opts.get("pin"):
            raise RobevalError(f"{m.name}: {source_file['filename']} has no hash in the manifest; "
                               f"run `robeval genset build {m.name} --pin` to record it")
        data = path.read_bytes()
        if (problem := _check(str(path), data, source_file.get("sha256"), source_file.get("md5"))) and (
                source_file.get("sha256") or source_file.get("md5")):
            if not _same_array_other_bytes(m, path, source_file, opts):
                raise RobevalError(f"{m.name}: hash mismatch, {problem}; delete the file and fetch "
                                   "it again")
            accepted.append(source_file["filename"])
        if opts.get("pin") and not source_file.get("sha256"):
            source_file["sha256"], pinned = bytes_digest(data), pinned + 1
        try:
            arrays[role] = np.load(path, allow_pickle=False)
        except ValueError as exc:
            raise RobevalError(f"{path}: not a readable .npy file ({exc})") from None
    images, labels = arrays["data"], arrays["labels"].astype(np.int64)
    size = m.image_size
    if images.dtype != np.uint8 or images.shape[1:] != (size, size, 3) or len(images) != len(labels):
        raise RobevalError(f"{m.name}: expected uint8 data ({len(labels)}, {size}, {size}, 3), got "
                           f"{images.dtype} {images.shape}")
    if len(labels) == 0:
        raise RobevalError(f"{m.name}: the set is empty")
    if labels.min() < 0 or labels.max() >= len(m.classes):
        raise RobevalError(f"{m.name}: labels {labels.min()}..{labels.max()} outside the class list")
    return Built(images, labels, [str(i) for i in range(len(labels))], pinned=pinned,
                 accepted=accepted)


def _same_array_other_bytes(m: Manifest, path: Path, source_file: dict, opts: dict) -> bool:
    """True when ``--accept-arrays`` accepts a file whose sha256 differs from the published one
    but whose array has the published shape and dtype (older copies of CIFAR-10.1 store the same
    arrays in other bytes). Without the flag, such a file is a RobevalError that says exactly
    that; a file whose array does not fit is False (a plain hash mismatch)."""
    if not source_file.get("sha256") or not source_file.get("shape") or not source_file.get("dtype"):
        return False
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError):
        return False
    integer = array.dtype.kind in "iu" and np.dtype(source_file["dtype"]).kind in "iu"  # labels: any int
    same_dtype = integer or str(array.dtype) == source_file["dtype"]
    if list(array.shape) != list(source_file["shape"]) or not same_dtype:
        return False
    if opts.get("accept_arrays"):
        return True
    raise RobevalError(
        f"{m.name}: {path} has sha256 {bytes_digest(path.read_bytes())}, not the published "
        f"{source_file['sha256']}, but it holds a {source_file['dtype']} array of shape "
        f"{tuple(source_file['shape'])} "
        f"as published ({path.stat().st_size:,} bytes; published: {source_file.get('size', '?')}); "
        f"copies downloaded before 2020 store the same arrays in other bytes. If you trust where "
        f"it came from, run `robeval genset build {m.name} --accept-arrays`; else delete it and "
        "fetch it again")


def _remote(source_file: dict) -> RemoteFile:
    name = source_file["filename"]
    return RemoteFile(name, source_file["url"], name, source_file.get("sha256"), source_file.get("md5"))


def _npy_file(source_file: dict, root: Path, opts: dict) -> Path:
    found = find_local(root, source_file["filename"])
    if found is not None:
        return found
    dest = root / "downloads" / source_file["filename"]
    if env_flag("ROBEVAL_OFFLINE"):
        raise _NoNetwork("ROBEVAL_OFFLINE=1")
    try:
        return fetch_url(source_file["url"], dest, sha256=source_file.get("sha256"), md5=source_file.get("md5"),
                         progress=opts.get("progress", True))
    except (OSError, urllib.error.URLError) as exc:
        raise _NoNetwork(f"no network: {getattr(exc, 'reason', exc)}") from None


class _NoNetwork(Exception):
    pass


DATA_ROOT = "{data_root}"  # a manifest's source.root starting with it lies under the data root


def files_root(m: Manifest, opts: dict, data_root_dir: Path | None = None) -> Path:
    """The image root of a 'files' manifest: --root, else source.root, which is absolute,
    ``{data_root}/...`` (under --data-dir / $ROBEVAL_DATA / ./datasets, wherever robeval runs
    from) or relative to the manifest's folder."""
    given = opts.get("root") or m.data["source"].get("root")
    if not given:
        raise RobevalError(f"{m.name}: a 'files' manifest needs source.root or --root DIR")
    if not opts.get("root") and str(given).startswith(DATA_ROOT):
        base = (data_root_dir or data_root(None)) / str(given)[len(DATA_ROOT):].lstrip("/")
    else:
        base = Path(given).expanduser()
        if not base.is_absolute() and not opts.get("root") and m.path is not None:
            base = m.path.parent / base
    if not base.is_dir():
        raise RobevalError(f"{m.name}: image root {base} is not a folder (unpack the images there, "
                           "or pass --root DIR)")
    try:
        return base.resolve(strict=True)
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise RobevalError(f"{m.name}: image root {base} cannot be resolved ({exc})") from None


def _read_local(base: Path, item: dict, where: str) -> bytes:
    try:
        path = (base / safe_relpath(item["path"], where)).resolve()
    except (OSError, RuntimeError):  # Python < 3.13 raises RuntimeError for a symlink loop
        raise OSError(f"{item['path']} is a symbolic link loop") from None
    if not path.is_relative_to(base):
        raise RobevalError(f"{where}: {item['path']} resolves outside the root {base}")
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise RobevalError(f"{where}: file {path} is missing") from None


def _openimages_bytes(item: dict, root: Path, opts: dict) -> bytes:
    """The original image: <images dir>/<ImageID>.jpg, downloaded (with resume) when absent."""
    folder = Path(opts.get("images") or root / "downloads" / "openimages")
    path = folder / f"{item['id']}.jpg"
    if not path.exists():
        if env_flag("ROBEVAL_OFFLINE"):
            raise OSError("ROBEVAL_OFFLINE=1")
        fetch_url(item["url"], path, progress=False, retries=opts.get("retries", 3))
    return path.read_bytes()


def build_items(m: Manifest, root: Path, opts: dict) -> Built:
    """Items -> bytes (local or downloaded in parallel) -> hash check -> decode -> crop -> resize."""
    kind, size = m.kind, m.image_size
    margin = float(m.data.get("crop_margin", DEFAULT_MARGIN))
    base = files_root(m, opts, root) if kind == "files" else None

    def one(item: dict) -> tuple[str, np.ndarray | None, str | None, str | None]:
        where = f"item {item['id']}"
        try:
            data = (_read_local(base, item, where) if base is not None
                    else _openimages_bytes(item, root, opts))
        except (OSError, urllib.error.URLError) as exc:
            return "fetch", None, f"{where}: {getattr(exc, 'reason', exc)}", None
        digest = bytes_digest(data)
        if item["sha256"] or item.get("md5"):
            if problem := _check(where, data, item["sha256"], item.get("md5")):
                return "hash", None, problem, None
        elif not opts.get("pin"):
            return "nohash", None, where, None
        try:
            img = open_image(data, where)
        except BadImage as exc:
            return "bad", None, str(exc), digest
        box = item.get("box")
        if box is not None and kind == "openimages":
            box = [box[0] * img.width, box[1] * img.height, box[2] * img.width, box[3] * img.height]
        if box is not None and (box[2] > img.width or box[3] > img.height):
            return "bad", None, f"{where}: box {box} reaches outside the {img.width}x{img.height} image", digest
        return "ok", crop_resize(img, size, box, margin), None, digest

    # Pillow and hashing release the GIL: threads help local files too, downloads most
    workers = opts.get("workers", 8) if kind == "openimages" else min(4, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(progress_bar(pool.map(one, m.items), total=len(m.items), desc=f"build {m.name}",
                            leave=False, disable=not opts.get("progress", True), unit="img"))
    problems: dict[str, list[str]] = {}
    for (status, _, msg, _), item in zip(results, m.items, strict=True):
        if status != "ok":
            problems.setdefault(status, []).append(msg or str(item["id"]))
    _raise_for(m, problems, opts)
    keep = [(r, it) for r, it in zip(results, m.items, strict=True) if r[0] == "ok"]
    if not keep:
        raise RobevalError(f"{m.name}: no usable images; the set would be empty")
    pinned = 0
    if opts.get("pin"):
        for (_, _, _, digest), item in keep:
            if not item["sha256"]:
                item["sha256"], pinned = digest, pinned + 1
    images = np.stack([r[1] for r, _ in keep])
    labels = np.array([it["label"] for _, it in keep], np.int64)
    skipped = problems.get("bad", [])
    return Built(images, labels, [str(it["id"]) for _, it in keep], skipped, pinned)


def _raise_for(m: Manifest, problems: dict[str, list[str]], opts: dict) -> None:
    def show(xs: list[str]) -> str:
        return "; ".join(xs[:10]) + (f"; ... ({len(xs) - 10} more)" if len(xs) > 10 else "")

    if "hash" in problems:
        raise RobevalError(f"{m.name}: {len(problems['hash'])} item(s) do not match their hash "
                           f"(changed or damaged files): {show(problems['hash'])}")
    if "nohash" in problems:
        raise RobevalError(f"{m.name}: {len(problems['nohash'])} item(s) have no sha256 in the "
                           f"manifest ({show(problems['nohash'])}); if you are its author, run "
                           f"`robeval genset build {m.name} --pin` to record them")
    if "fetch" in problems and m.kind == "files":
        raise RobevalError(f"{m.name}: {len(problems['fetch'])} file(s) under the image root could "
                           f"not be read: {show(problems['fetch'])}. Restore them, or pass --root DIR")
    if "fetch" in problems:
        where = opts.get("images") or "<data root>/downloads/openimages"
        raise RobevalError(f"{m.name}: {len(problems['fetch'])} source file(s) could not be read "
                           f"or downloaded: {show(problems['fetch'])}. Offline, place the originals "
                           f"(from each item's url) as {where}/<id>.jpg, or pass --images DIR")
    if "bad" in problems and not opts.get("skip_bad"):
        raise RobevalError(f"{m.name}: {len(problems['bad'])} image(s) are truncated or cannot "
                           f"be decoded: {show(problems['bad'])}. Replace them, or build with "
                           f"--skip-bad to leave them out (they are then listed in the sidecar)")


BUILDERS.register("files")(build_items)
BUILDERS.register("openimages")(build_items)


def build(name_or_path: str, data_dir: str | Path | None = None, **opts) -> dict:
    """Build one set into ``<root>/gensets/``; returns its sidecar (what was built, hashes, skips)."""
    from robeval.core.environment import environment

    m = find_manifest(name_or_path)
    root = data_root(data_dir)
    built = BUILDERS.get(m.kind)(m, root, opts)
    digest = array_sha256(built.images, built.labels)
    declared = m.data.get("built_sha256")
    if opts.get("pin") and not declared and not built.skipped:
        m.data["built_sha256"] = declared = digest
        built.pinned += 1
    matches = declared == digest if declared else None
    if declared and not matches and not built.skipped:
        raise RobevalError(f"{m.name}: built arrays have sha256 {digest}, the manifest declares "
                           f"{declared}; the sources matched, so the decoder or resizer differs "
                           f"(Pillow {PIL.__version__}); nothing was written")
    npz, sidecar = out_paths(m.name, root)
    write_npz(npz, images=built.images, labels=built.labels, classes=np.array(m.classes),
              ids=np.array(built.ids))
    if built.pinned and m.path is not None:
        m.save()  # before hashing it, so the sidecar names the manifest as it now is
    info = {
        "name": m.name, "target": m.target, "classes": m.classes, "n": int(len(built.labels)),
        "image_size": m.image_size, "manifest": str(m.path), "kind": m.kind,
        "manifest_sha256": file_digest(m.path) if m.path else None,
        "built_sha256": digest, "declared_sha256": declared, "matches_manifest": matches,
        "skipped": built.skipped, "pillow": PIL.__version__, "environment": environment(),
        "accepted_by_array": built.accepted,
    }
    if built.pinned and m.path is not None:
        info["pinned"] = built.pinned
    write_json(sidecar, info)
    return info


def load_built(name: str, data_dir: str | Path | None = None, build_missing: bool = True) -> ImageSet:
    """The built set as an ImageSet; built from its manifest first when it is not there yet."""
    npz, sidecar = out_paths(name, data_root(data_dir))
    if not npz.exists():
        if not build_missing:
            raise RobevalError(f"generalisation set {name!r} is not built; run `robeval genset build {name}`")
        try:
            build(name, data_dir, progress=False)
        except RobevalError as exc:
            raise RobevalError(f"genset:{name} is not built under {npz.parent} and cannot be built "
                               f"now: {exc}") from None
    with np.load(npz, allow_pickle=False) as z:
        data = ImageSet(z["images"], z["labels"], [str(c) for c in z["classes"]], f"genset:{name}")
    if sidecar.exists():
        data.meta.update(read_json(sidecar))
    return data


def verify(name: str, data_dir: str | Path | None = None, **opts) -> dict:
    """Rebuild in memory from the sources and compare with the manifest and the built file."""
    m = find_manifest(name)
    root = data_root(data_dir)
    built = BUILDERS.get(m.kind)(m, root, {**opts, "pin": False, "progress": opts.get("progress", True)})
    digest = array_sha256(built.images, built.labels)
    npz, _ = out_paths(m.name, root)
    on_disk = None
    if npz.exists():
        with np.load(npz, allow_pickle=False) as z:
            on_disk = array_sha256(z["images"], z["labels"])
    report = {"name": m.name, "sources_ok": True, "n": int(len(built.labels)),
              "rebuilt_sha256": digest, "declared_sha256": m.data.get("built_sha256"),
              "built_file_sha256": on_disk, "skipped": built.skipped}
    report["matches_manifest"] = (digest == report["declared_sha256"]) if report["declared_sha256"] else None
    report["built_file_matches"] = (on_disk == digest) if on_disk else None
    return report


def list_sets(data_dir: str | Path | None = None) -> list[dict]:
    """Known manifests, and whether each is built under the data root."""
    from robeval.data.gensets.manifest import load_manifest, manifest_paths

    rows = []
    root = data_root(data_dir)
    for name, path in manifest_paths().items():
        try:
            m = load_manifest(path)
        except RobevalError as exc:
            rows.append({"name": name, "error": str(exc)})
            continue
        npz, sidecar = out_paths(name, root)
        n = len(m.items) if m.items else None
        rows.append({"name": name, "target": m.target, "classes": len(m.classes), "items": n,
                     "kind": m.kind, "built": npz.exists(),
                     "pinned": bool(m.data.get("built_sha256")), "manifest": str(path)})
    for sidecar in sorted((root / "gensets").glob("*.json")) if (root / "gensets").is_dir() else []:
        if sidecar.stem not in {r["name"] for r in rows}:
            info = read_json(sidecar)
            rows.append({"name": sidecar.stem, "target": info.get("target"), "classes": len(info.get("classes", [])),
                         "items": info.get("n"), "kind": info.get("kind"), "built": True,
                         "pinned": bool(info.get("declared_sha256")), "manifest": info.get("manifest")})
    return rows
