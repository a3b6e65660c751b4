"""Calibration metrics against torchmetrics / independent loops, and their place in eval.json."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from robeval.analysis.calibration import aurc, brier, ece, nll
from robeval.analysis.condition_metrics import measure_condition as calibration
from robeval.runs.outputs import load_condition, read_eval
from robeval.stages.evaluate import evaluate_run
from robeval.stages.train import train
from tests.helpers import tiny_config


def _random(seed: int, n: int = 500, c: int = 7):
    g = np.random.default_rng(seed)
    logits = (g.normal(size=(n, c)) * g.uniform(0.5, 4.0)).astype(np.float32)
    labels = g.integers(0, c, size=n)
    # make some predictions right so accuracy is not ~1/c everywhere
    labels[: n // 3] = logits[: n // 3].argmax(1)
    return logits, labels


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ece_and_nll_equal_torchmetrics(seed):
    MulticlassCalibrationError = pytest.importorskip("torchmetrics.classification").MulticlassCalibrationError

    logits, labels = _random(seed)
    t_logits, t_labels = torch.from_numpy(logits).double(), torch.from_numpy(labels)
    metric = MulticlassCalibrationError(num_classes=logits.shape[1], n_bins=15, norm="l1")
    expected = float(metric(t_logits.softmax(1), t_labels))
    assert ece(logits, labels) == pytest.approx(expected, abs=1e-6)
    assert nll(logits, labels) == pytest.approx(float(F.cross_entropy(t_logits, t_labels)), abs=1e-9)


def _loop_brier(p, labels):
    total = 0.0
    for i in range(len(labels)):
        for c in range(p.shape[1]):
            total += (p[i, c] - (1.0 if c == labels[i] else 0.0)) ** 2
    return total / len(labels)


def _loop_aurc(p, labels):
    items = sorted(((-max(row), int(np.argmax(row)) != y) for row, y in zip(p, labels, strict=True)), key=lambda t: t[0])
    errors, area = 0, 0.0
    for k, (_, wrong) in enumerate(items, start=1):
        errors += wrong
        area += errors / k
    return area / len(items)


@pytest.mark.parametrize("seed", [0, 3])
def test_brier_and_aurc_equal_loops(seed):
    logits, labels = _random(seed, n=200)
    p = torch.from_numpy(logits).double().softmax(1).numpy()
    assert brier(logits, labels) == pytest.approx(_loop_brier(p, labels), abs=1e-9)
    assert aurc(logits, labels) == pytest.approx(_loop_aurc(p, labels), abs=1e-9)


def test_edge_cases():
    labels = np.array([0, 1, 2, 1])
    perfect = np.eye(3)[labels] * 50.0
    assert aurc(perfect, labels) == 0.0
    assert brier(perfect, labels) == pytest.approx(0.0, abs=1e-12)
    assert ece(perfect, labels) == pytest.approx(0.0, abs=1e-12)
    wrong = np.eye(3)[(labels + 1) % 3] * 50.0
    assert aurc(wrong, labels) == 1.0
    assert brier(wrong, labels) == pytest.approx(2.0, abs=1e-9)
    assert ece(wrong, labels) == pytest.approx(1.0, abs=1e-9)
    assert np.isnan(calibration(np.zeros((0, 3)), np.zeros(0, dtype=int))["ece"])


def test_eval_writes_calibration_recomputable_from_logits(tmp_path):
    torch.set_num_threads(1)
    run = tmp_path / "fixed-dot-0"
    train(tiny_config(head="fixed", logits="dot", epochs=1, max_train=128), run, progress=False)
    evaluate_run(run, "clean,genset:shapes-shift", progress=False, features=False)
    path, _, data = read_eval(run)
    conds = data["conditions"]
    assert set(conds) == {"clean", "genset:shapes-shift"}
    for name, info in conds.items():
        rows = load_condition(path, name, info)
        again = calibration(rows.logits, rows.labels)
        for key in ("nll", "ece", "brier", "aurc"):
            assert info[key] == pytest.approx(again[key], abs=1e-9), (name, key)
