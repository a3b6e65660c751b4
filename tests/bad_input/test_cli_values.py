"""Bad option values on every command: each is refused in one line, before anything is written.

    PYTHONPATH=. pytest -q tests/bad_input/test_cli_values.py
"""

from __future__ import annotations

import itertools

import pytest

from tests.bad_input.harness import assert_refused

INF, NAN = "inf", "nan"
BAD_INT = ["abc", "1.5", "", "1e3", "0x10", str(2**64)]
BAD_SEED = ["-1", str(2**31), str(2**64), "abc", "1.5", ""]
BAD_POS_FLOAT = ["0", "-1", INF, "-inf", NAN, "abc", "", "1e999"]
BAD_FRACTION = ["-0.1", "1", "1.5", NAN, INF, "abc"]
BAD_SEEDS = ["-1", "a,b", "0", "1-0", "1,1", "", ",", "2**64", "99999999999999999999", "0-1,1",
             "-", "0--1", "1-", "0,-1", " ", "3x"]
BAD_DEVICE = ["tpu", "tpu:0", "cuda:abc", "cuda:-1", "", "gpu", "cpu:x", "mps:0:1"]
BAD_SEVERITIES = ["0", "6", "5-1", "a", "", "1-", "-1", "1-9", "1,,", "3.5", "1-5-7"]
BAD_CONDITIONS = ["", ",", " , ", "nosuch", "defocus_blur/9", "defocus_blur/0", "defocus_blur/x",
                  "defocus/3", "genset:nosuch", "nosuch:all", "albu:Nope()", "albu:Blur(", ]

TRAIN = ["train", "--dataset", "shapes", "--arch", "tinycnn", "--epochs", "1", "--max-train", "64"]


def _cases():
    for v in BAD_SEED:
        yield TRAIN + ["--seed", v]
        yield ["corrupt", "--dataset", "shapes", "--seed", v]
    for v in BAD_SEEDS:
        yield TRAIN + ["--seeds", v]
        yield ["reproduce", "--seeds", v]
    for opt, values in [("--epochs", BAD_INT + ["0", "-1"]), ("--batch-size", BAD_INT + ["0", "-1"]),
                        ("--max-train", BAD_INT + ["-1"])]:
        for v in values:
            yield ["train", "--dataset", "shapes", "--arch", "tinycnn", opt, v]
            yield ["reproduce", opt, v]
    for opt in ("--lr",):
        for v in BAD_POS_FLOAT:
            yield TRAIN + [opt, v]
    for v in ["-1", NAN, INF, "abc", "-inf"]:
        yield TRAIN + ["--weight-decay", v]
    for v in BAD_FRACTION:
        yield TRAIN + ["--val-fraction", v]
    for v in BAD_INT + ["-1"]:
        yield TRAIN + ["--precise-bn-images", v]
    for v in BAD_POS_FLOAT:
        yield TRAIN + ["--logits", "cosine", "-S", v]
        yield ["reproduce", "--scales", v]
        yield ["reproduce", "--lrs", v]
    for v in BAD_DEVICE:
        yield TRAIN + ["--device", v]
        yield ["reproduce", "--devices", v]
    for v in ["abc", "", "-1"]:
        yield ["reproduce", "--workers", v]
        yield ["corrupt", "--dataset", "shapes", "--workers", v]
    for v in BAD_SEVERITIES:
        yield ["corrupt", "--dataset", "shapes", "--severities", v]
    for v in BAD_CONDITIONS:
        yield ["corrupt", "--dataset", "shapes", "--conditions", v]
        yield ["reproduce", "--conditions", v]
    for v in ["nosuch", "", "../train"]:
        yield ["corrupt", "--dataset", "shapes", "--split", v]
    for opt, v in itertools.product(["--dataset", "--arch", "--head", "--logits", "--init",
                                     "--preset", "--scheduler", "--precision"], ["nosuch", ""]):
        yield ["train", opt, v]
    yield TRAIN + ["--logits", "dot", "-S", "2"]
    yield TRAIN + ["--logits", "dot", "--learn-scale"]
    yield TRAIN + ["--resume", "--overwrite"]
    yield ["reproduce", "--arch", "smallcnn,nosuch"]
    yield ["reproduce", "--arch", ""]
    yield ["reproduce", "--preset", "nosuch"]
    yield ["corrupt", "--dataset", "shapes", "--conditions", "defocus_blur/1"]  # --out without --preview


CASES = list(_cases())


@pytest.mark.parametrize("args", CASES, ids=[" ".join(a[:1] + a[-2:]) for a in CASES])
def test_bad_value_is_refused(args, tmp_path, shared_data):
    assert_refused(args + ["--out", tmp_path / "out"], tmp_path)
    assert not (tmp_path / "out").exists()


def _run_commands():
    """Commands that take run folders, given things that are not runs."""
    for cmd in (["eval"], ["analyze"], ["report", "--out", "{tmp}/rep"], ["browse"],
                ["export", "--out", "{tmp}/rows.csv"]):
        for target in ("{tmp}/missing", "{tmp}/file.txt", "{tmp}/empty", "{tmp}/notrun"):
            yield cmd + [target]


RUN_CASES = list(_run_commands())


@pytest.mark.parametrize("args", RUN_CASES, ids=[" ".join(a) for a in RUN_CASES])
def test_not_a_run_is_refused(args, tmp_path, shared_data):
    (tmp_path / "file.txt").write_text("hello")
    (tmp_path / "empty").mkdir()
    (tmp_path / "notrun").mkdir()
    (tmp_path / "notrun" / "config.json").write_text("{}")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    assert_refused(args, tmp_path)
