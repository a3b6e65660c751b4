"""Draw an Open Images-derived generalisation set from the official annotation CSVs.

    robeval genset make-manifest openimages --target stl10 --annotations DIR --per-class 200 --seed 0

DIR holds Open Images' own files: ``*-annotations-bbox.csv`` (ImageID, Source, LabelName,
Confidence, XMin, XMax, YMin, YMax, IsOccluded, IsTruncated, IsGroupOf, IsDepiction, IsInside)
and ``*images*.csv`` (ImageID, Subset, OriginalURL, ..., OriginalMD5, ..., Rotation). The class
map ``manifests/openimages-classmap.csv`` (reviewed; rows with ``use=1``) says which Open Images
classes (MIDs) stand for each target class.

Rules (documented in manifests/README.md): a box counts when IsGroupOf=0 and IsDepiction=0 and
each side is at least ``min_side`` of the image; images with boxes of two different target
classes and rotated images (Rotation not 0) are left out; one box per image (the largest);
then ``per_class`` images per class are drawn with ``numpy.random.default_rng(seed)`` from the
candidates sorted by ImageID. A class with too few candidates is an error that names it.
"""

from __future__ import annotations

import base64
import csv
import io
from pathlib import Path

import numpy as np

from robeval.core.errors import RobevalError
from robeval.data.download import manifest_dirs
from robeval.data.gensets.manifest import FORMAT, validate

BBOX_COLUMNS = ["ImageID", "Source", "LabelName", "Confidence", "XMin", "XMax", "YMin", "YMax",
                "IsOccluded", "IsTruncated", "IsGroupOf", "IsDepiction", "IsInside"]
IMAGE_COLUMNS = ["ImageID", "OriginalURL", "OriginalMD5"]
CLASSMAP_COLUMNS = ["target", "class", "mid", "oi_name", "boxable", "use", "note"]
TARGET_CLASSES = {
    "stl10": ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"],
}
TARGET_SIZE = {"stl10": 96, "cifar100": 32, "cifar10": 32}


def read_csv(path: Path, required: list[str]) -> csv.DictReader:
    text = path.read_text(encoding="utf-8-sig").replace("\r\n", "\n").replace("\r", "\n")
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in required if c not in (reader.fieldnames or [])]
    if missing:
        raise RobevalError(f"{path}: missing column(s) {missing}; is this an official Open Images "
                           f"file? (found {reader.fieldnames})")
    return reader


def classmap_path() -> Path:
    for d in manifest_dirs():
        if (d / "openimages-classmap.csv").exists():
            return d / "openimages-classmap.csv"
    raise RobevalError("manifests/openimages-classmap.csv not found")


def load_classmap(target: str, path: Path | None = None) -> tuple[list[str], dict[str, str]]:
    """(target classes in label order, MID -> target class) from the reviewed class map."""
    rows = list(read_csv(path or classmap_path(), CLASSMAP_COLUMNS))
    classes: list[str] = []
    mids: dict[str, str] = {}
    for r in rows:
        if r["target"] != target:
            continue
        if r["class"] not in classes:
            classes.append(r["class"])
        if r["use"].strip() == "1":
            if r["mid"] in mids:
                raise RobevalError(f"class map: {r['mid']} is used for both {mids[r['mid']]} and {r['class']}")
            mids[r["mid"]] = r["class"]
    if not classes:
        raise RobevalError(f"class map has no rows for target {target!r}")
    if target in TARGET_CLASSES and sorted(classes) != sorted(TARGET_CLASSES[target]):
        raise RobevalError(f"class map rows for {target} do not list its {len(TARGET_CLASSES[target])} classes")
    if target in TARGET_CLASSES:
        classes = list(TARGET_CLASSES[target])
    return classes, mids


def split_gaps(classes: list[str], mids: dict[str, str]) -> tuple[list[str], list[str]]:
    """(classes with at least one usable Open Images class, gaps): gaps are left out of the set."""
    covered = set(mids.values())
    return [c for c in classes if c in covered], [c for c in classes if c not in covered]


def md5_hex(b64: str) -> str | None:
    try:
        raw = base64.b64decode(b64, validate=True)
    except ValueError:
        return None
    return raw.hex() if len(raw) == 16 else None


def candidates(ann_dir: Path, mids: dict[str, str], min_side: float) -> dict[str, list[dict]]:
    """Target class -> candidate boxes (one per image), from every *-annotations-bbox.csv."""
    files = sorted(ann_dir.glob("*annotations-bbox.csv"))
    if not files:
        raise RobevalError(f"{ann_dir}: no *-annotations-bbox.csv (Open Images box annotations)")
    per_image: dict[str, list[dict]] = {}
    for f in files:
        for r in read_csv(f, BBOX_COLUMNS):
            if r["LabelName"] not in mids or r["IsGroupOf"] == "1" or r["IsDepiction"] == "1":
                continue
            try:
                x0, x1, y0, y1 = (float(r[k]) for k in ("XMin", "XMax", "YMin", "YMax"))
            except ValueError:
                raise RobevalError(f"{f}: bad box values in row for {r['ImageID']}") from None
            if x1 - x0 < min_side or y1 - y0 < min_side:
                continue
            per_image.setdefault(r["ImageID"], []).append({
                "class": mids[r["LabelName"]], "mid": r["LabelName"],
                "box": [round(x0, 6), round(y0, 6), round(x1, 6), round(y1, 6)],
                "area": (x1 - x0) * (y1 - y0), "subset": f.name.split("-")[0],
            })
    out: dict[str, list[dict]] = {}
    for image_id in sorted(per_image):
        boxes = per_image[image_id]
        if len({b["class"] for b in boxes}) > 1:
            continue  # two target classes in one image: ambiguous
        best = max(boxes, key=lambda b: b["area"])
        out.setdefault(best["class"], []).append({"id": image_id, **best})
    return out


def image_table(ann_dir: Path) -> dict[str, dict]:
    files = sorted(p for p in ann_dir.glob("*images*.csv"))
    if not files:
        raise RobevalError(f"{ann_dir}: no *images*.csv (Open Images image list with OriginalURL)")
    table = {}
    for f in files:
        for r in read_csv(f, IMAGE_COLUMNS):
            table[r["ImageID"]] = r
    return table


def make_manifest(target: str, ann_dir: str | Path, per_class: int, seed: int = 0,
                  name: str | None = None, min_side: float = 0.2,
                  classmap: str | Path | None = None) -> dict:
    """A validated manifest dict (item sha256s empty until `genset build --pin` records them)."""
    ann_dir = Path(ann_dir)
    if not ann_dir.is_dir():
        raise RobevalError(f"--annotations {ann_dir} is not a folder")
    if per_class < 1:
        raise RobevalError("--per-class must be at least 1")
    classes, mids = load_classmap(target, Path(classmap) if classmap else None)
    classes, gaps = split_gaps(classes, mids)
    cands = candidates(ann_dir, mids, min_side)
    images = image_table(ann_dir)
    rng = np.random.default_rng(seed)
    items, short = [], []
    for label, cls in enumerate(classes):
        pool = []
        for c in cands.get(cls, []):
            row = images.get(c["id"])
            if row is None or row.get("Rotation", "").strip() not in ("", "0", "0.0"):
                continue
            pool.append((c, row))
        if len(pool) < per_class:
            short.append(f"{cls} ({len(pool)})")
            continue
        for i in sorted(rng.choice(len(pool), per_class, replace=False)):
            c, row = pool[i]
            item = {"id": c["id"], "url": row["OriginalURL"], "label": label, "class": cls,
                    "box": c["box"], "sha256": None, "mid": c["mid"], "subset": c["subset"]}
            if md5 := md5_hex(row.get("OriginalMD5", "")):
                item["md5"] = md5
            items.append(item)
    if short:
        raise RobevalError(f"too few candidate images for {per_class} per class: {', '.join(short)}; "
                           f"lower --per-class, --min-side, or use more annotation files "
                           f"(classes without a boxable Open Images class are gaps, see the class map)")
    data = {
        "format": FORMAT, "name": name or f"openimages-{target}", "target": target,
        "description": f"Open Images boxes of the {target} classes, {per_class} per class, seed {seed}",
        "classes": classes, "image_size": TARGET_SIZE.get(target, 32),
        "source": {"kind": "openimages", "version": "v4", "per_class": per_class, "seed": seed,
                   "annotations": sorted(p.name for p in ann_dir.glob("*.csv")),
                   "filters": {"min_side": min_side, "IsGroupOf": 0, "IsDepiction": 0,
                               "rotation": 0, "one_target_class_per_image": True}},
        "license": "Open Images annotations CC BY 4.0; images listed as CC BY 2.0 (unverified)",
        "items": items, "built_sha256": None,
    }
    if gaps:
        data["notes"] = (f"{len(gaps)} {target} classes have no boxable Open Images class and are "
                         f"not in this set (scored on the others only): {', '.join(gaps)}")
    validate(data, data["name"])
    return data
