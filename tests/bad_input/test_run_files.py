"""Damaged run folders: every file a command reads, made empty, garbage, a folder, the wrong JSON
type or the wrong arrays; each command refuses in one line and writes nothing.

    PYTHONPATH=. pytest -q tests/bad_input/test_run_files.py
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from tests.bad_input.harness import assert_refused, invoke


@pytest.fixture(scope="module")
def evaluated_run(tmp_path_factory):
    """One real run: trained one epoch and evaluated on clean and one corruption."""
    root = tmp_path_factory.mktemp("badrun")
    run = root / "run"
    mp = pytest.MonkeyPatch()
    mp.setenv("ROBEVAL_DATA", str(root / "data"))
    code, out, exc = invoke(["train", "--arch", "tinycnn", "--epochs", "1", "--max-train", "128",
                             "--out", run, "--quiet"])
    assert code == 0 and exc is None, out
    code, out, exc = invoke(["eval", run, "--conditions", "clean,defocus_blur/1", "--quiet"])
    assert code == 0 and exc is None, out
    yield run
    mp.undo()


def _write(rel, data: bytes):
    return lambda d: (d / rel).write_bytes(data)


def _folder(rel):
    def damage(d):
        p = d / rel
        p.unlink() if p.is_file() else shutil.rmtree(p)
        p.mkdir()
    return damage


def _truncate(rel):
    def damage(d):
        b = (d / rel).read_bytes()
        (d / rel).write_bytes(b[: len(b) // 2])
    return damage


def _wrong_arrays(rel):
    return lambda d: np.savez(d / rel, foo=np.zeros(3))


def _short_arrays(rel):
    def damage(d):
        z = dict(np.load(d / rel))
        z["predictions"] = z["predictions"][:-5]
        np.savez(d / rel, **z)
    return damage


def _nan_features(rel):
    def damage(d):
        z = dict(np.load(d / rel))
        z["features"][:] = np.nan
        np.savez(d / rel, **z)
    return damage


def _edit_config(fn):
    def damage(d):
        c = json.loads((d / "config.json").read_text())
        fn(c)
        (d / "config.json").write_text(json.dumps(c))
    return damage


EVAL = ["eval", "RUN", "--conditions", "clean", "--quiet"]
ANALYZE = ["analyze", "RUN"]
REPORT = ["report", "RUN", "--out", "TMP/report"]
RESUME = ["train", "--arch", "tinycnn", "--max-train", "128", "--out", "RUN", "--resume", "--quiet"]
BROWSE = ["browse", "RUN", "--no-launch", "--no-brain", "--quiet"]

JSON_DAMAGE = {"empty": b"", "garbage": b"\x00garbage" * 10, "list": b"[]", "number": b"3",
               "truncated": b'{"config": {"dataset": "sha'}
NPZ_DAMAGE = {"empty": lambda rel: _write(rel, b""), "garbage": lambda rel: _write(rel, b"PK\x03\x04junk"),
              "folder": _folder, "truncated": _truncate, "wrong-arrays": _wrong_arrays}


def _cases():
    for target, commands in [("config.json", [EVAL, ANALYZE, REPORT, RESUME, BROWSE]),
                             ("summary.json", [REPORT, RESUME]),
                             ("eval.json", [ANALYZE, REPORT, BROWSE])]:
        for kind, data in JSON_DAMAGE.items():
            for cmd in commands:
                yield f"{target}-{kind}-{cmd[0]}", _write(target, data), cmd
        for cmd in commands:
            yield f"{target}-folder-{cmd[0]}", _folder(target), cmd
    yield "eval.json-no-conditions", _write("eval.json", b'{"conditions": []}'), ANALYZE
    yield "eval.json-no-file", _write("eval.json", b'{"conditions": {"clean": {"accuracy": 1}}}'), REPORT
    for target, commands in [("eval/clean.npz", [ANALYZE, REPORT, BROWSE]),
                             ("eval/head.npz", [ANALYZE, REPORT])]:
        for kind, damage in NPZ_DAMAGE.items():
            for cmd in commands:
                yield f"{target}-{kind}-{cmd[0]}", damage(target), cmd
    yield "clean.npz-short", _short_arrays("eval/clean.npz"), ANALYZE
    yield "clean.npz-nan-features", _nan_features("eval/clean.npz"), ANALYZE
    for name, value in [("epochs", "abc"), ("lr", "abc"), ("seed", 1.5), ("head", 3), ("flip", "yes"),
                        ("precise_bn_images", "abc")]:
        for cmd in (RESUME, EVAL):
            yield f"config-{name}-{value}-{cmd[0]}", _edit_config(lambda c, n=name, v=value: c["config"].__setitem__(n, v)), cmd
    yield "config-no-dataset", _edit_config(lambda c: c["config"].pop("dataset")), EVAL
    yield "config-config-int", _edit_config(lambda c: c.__setitem__("config", 5)), EVAL
    yield "config-no-dataset-section", _edit_config(lambda c: c.pop("dataset")), EVAL
    for ckpt in ("checkpoint.pt", "last.pt"):
        cmd = EVAL if ckpt == "checkpoint.pt" else EVAL[:-1] + ["--checkpoint", "last", "--quiet"]
        yield f"{ckpt}-empty", _write(ckpt, b""), cmd
        yield f"{ckpt}-garbage", _write(ckpt, b"\x80\x02garbage" * 10), cmd
        yield f"{ckpt}-folder", _folder(ckpt), cmd
        yield f"{ckpt}-truncated", _truncate(ckpt), cmd
        yield f"{ckpt}-a-zip", _write(ckpt, b"PK\x05\x06" + b"\x00" * 18), cmd


CASES = list(_cases())


@pytest.mark.parametrize("damage, args", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_damaged_run_file_is_refused(damage, args, evaluated_run, tmp_path, shared_data):
    run = tmp_path / "run"
    shutil.copytree(evaluated_run, run)
    damage(run)
    args = [str(a).replace("RUN", str(run)).replace("TMP", str(tmp_path)) for a in args]
    assert_refused(args, tmp_path)


def test_failed_eval_keeps_the_previous_outputs(evaluated_run, tmp_path, shared_data):
    """An eval that fails part-way (clean is done, then an albumentations crop breaks the image
    size) leaves head.npz, the condition files and eval.json exactly as they were (the harness
    compares sizes and mtimes, so even a byte-identical rewrite fails)."""
    run = tmp_path / "run"
    shutil.copytree(evaluated_run, run)
    before = {p.name: p.read_bytes() for p in (run / "eval").iterdir()}
    eval_json = (run / "eval.json").read_bytes()
    assert_refused(["eval", run, "--checkpoint", "last", "--quiet", "--conditions",
                    "clean,albu:Crop(x_max=8,y_max=8)"], tmp_path, needle="must keep uint8")
    assert {p.name: p.read_bytes() for p in (run / "eval").iterdir()} == before
    assert (run / "eval.json").read_bytes() == eval_json
    assert not (run / ".eval.incoming").exists()  # the staging folder (fileio.staged_folder)
