"""Generalisation sets: manifests with per-item checksums, their builder, and the two manifest
makers (Open Images annotations, a local image tree). Part of the ``data`` component."""

from robeval.data.gensets.build import build, list_sets, load_built, out_paths, verify

__all__ = ["build", "list_sets", "load_built", "out_paths", "verify"]

# `robeval genset make-manifest KIND`: openimages (gensets/openimages.py), files (gensets/files.py)
MANIFEST_MAKERS = ("openimages", "files")
