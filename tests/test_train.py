import json

import pytest
import torch

from robeval import runs
from robeval.models import draw_class_vectors
from robeval.runs.model import load_run_model
from robeval.stages.train import train
from robeval.training.optim import make_optimizer
from tests.helpers import tiny_config


@pytest.fixture(scope="module")
def fixed_cosine_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "fixed"
    summary = train(tiny_config(head="fixed", logits="cosine", epochs=3, seed=7), out, progress=False)
    return out, summary


def test_fixed_vectors_bit_identical_after_training(fixed_cosine_run):
    out, _ = fixed_cosine_run
    fresh = draw_class_vectors("sphere", 10, 128, seed=7)  # a fresh draw from the run's seed
    for name in (runs.BEST, runs.LAST):
        state = torch.load(out / name, weights_only=True)["model"]
        assert torch.equal(state["head.weight"], fresh)
        assert torch.equal(state["head.bias"], torch.zeros(10))
    # and the encoder did change, so training really happened
    model, _, _ = load_run_model(out)
    assert any(not torch.equal(p, q) for p, q in zip(
        model.encoder.state_dict().values(),
        type(model.encoder)(32).state_dict().values(), strict=True))


def test_fixed_vectors_absent_from_optimizer():
    from robeval.models import ModelConfig, build_model

    cfg = tiny_config(head="fixed", logits="dot")
    cfg.lr, cfg.weight_decay = 0.1, 0.0
    model = build_model(ModelConfig("smallcnn", 10, head="fixed", logits="dot"))
    opt = make_optimizer(model, cfg)
    ids = {id(p) for g in opt.param_groups for p in g["params"]}
    assert id(model.head.weight) not in ids and id(model.head.bias) not in ids
    assert not model.head.weight.requires_grad
    learned = build_model(ModelConfig("smallcnn", 10, head="learned", logits="dot"))
    assert id(learned.head.weight) in {id(p) for g in make_optimizer(learned, cfg).param_groups
                                       for p in g["params"]}


def test_loss_falls_and_files_written(fixed_cosine_run):
    out, summary = fixed_cosine_run
    rows = [json.loads(line) for line in (out / runs.METRICS).read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    assert summary["best_val_acc"] > 0.13  # chance is 0.1; 1000 val images: 3 sigma above
    cfg = json.loads((out / runs.CONFIG).read_text())
    assert torch.__version__.startswith(cfg["environment"]["libraries"]["torch"])
    assert "git_sha" in cfg["environment"] and cfg["dataset"]["n_val"] == 1000
    assert not (out / runs.STATE).exists()  # removed once training finished


def test_learned_dot_loss_falls(tmp_path):
    summary = train(tiny_config(head="learned", logits="dot", epochs=2), tmp_path / "r", progress=False)
    rows = [json.loads(x) for x in (tmp_path / "r" / runs.METRICS).read_text().splitlines()]
    assert rows[1]["train_loss"] < rows[0]["train_loss"]
    assert summary["best_val_acc"] > 0.13


def test_resume_after_sigkill_equals_uninterrupted(tmp_path):
    """kill -9 a real training process after its first epoch, resume it, compare the weights."""
    import os
    import signal
    import subprocess
    import sys
    import time

    args = ["--head", "learned", "--logits", "cosine", "--epochs", "4", "--batch-size", "32",
            "--max-train", "1024", "--lr", "0.05", "--seed", "3", "--quiet", "--device", "cpu"]
    straight = tmp_path / "straight"
    train(tiny_config(head="learned", logits="cosine", epochs=4, seed=3), straight, progress=False)

    killed = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())}
    proc = subprocess.Popen([sys.executable, "-m", "robeval.cli", "train", *args, "--out", str(killed)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    metrics = killed / runs.METRICS
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if metrics.exists() and metrics.read_text().count("\n") >= 1:
            break
        time.sleep(0.02)
    assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / runs.SUMMARY).exists() and (killed / runs.STATE).exists()

    from robeval.training.config import TrainConfig

    # the killed session "ran" 1,000 s: the resumed clock must count on from there, not from 0
    # (a fixed offset, so the check does not depend on how fast a loaded machine runs the epochs)
    state = torch.load(killed / runs.STATE, weights_only=False)
    state["history"][-1]["time_s"] = 1000.0
    torch.save(state, killed / runs.STATE)
    started = time.time()
    train(TrainConfig(), killed, resume=True, progress=False)  # the config comes from the folder
    resumed_s = time.time() - started
    a = torch.load(straight / runs.LAST, weights_only=True)["model"]
    b = torch.load(killed / runs.LAST, weights_only=True)["model"]
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    rows = [json.loads(x) for x in (killed / runs.METRICS).read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    # time_s counts on from the killed session, and only the resumed session's time is added
    assert rows[0]["time_s"] == 1000.0
    assert 1000.0 < rows[1]["time_s"] < rows[2]["time_s"] < rows[3]["time_s"] <= 1000.0 + resumed_s
    summary = json.loads((killed / runs.SUMMARY).read_text())
    assert summary["train_wall_s"] >= rows[-1]["time_s"]
    assert not list(killed.glob(".*.tmp"))  # no half-written temporary files left behind
