"""Bad input gives a one-line error, a non-zero exit and no traceback."""

import json
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from robeval import runs
from robeval.cli import cli
from robeval.stages.train import train
from tests.helpers import tiny_config


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    train(tiny_config(epochs=1, max_train=256), out, progress=False)
    return out


def invoke(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result.exit_code, result.output + (result.stderr if result.stderr_bytes else "")


def assert_clean_error(code, output, *needles):
    assert code != 0, output
    assert "Traceback" not in output
    for needle in needles:
        assert needle in output, output


@pytest.mark.parametrize("args, needle", [
    (["train", "--dataset", "nosuch"], "unknown dataset 'nosuch'"),
    (["train", "--arch", "resnet99"], "unknown arch 'resnet99'"),
    (["train", "--head", "frozen"], "unknown head 'frozen'; choose one of: learned, fixed"),
    (["train", "--init", "zeros"], "unknown init 'zeros'"),
    (["train", "--logits", "cosine", "--scale", "0"], "'0' must be > 0"),
    (["train", "--logits", "cosine", "--scale", "-2"], "'-2' must be > 0"),
    (["train", "--lr", "nan"], "'nan' is not a finite number"),
    (["train", "--logits", "dot", "--scale", "5"], "--scale applies to cosine logits only"),
    (["train", "--seeds", "a,b"], "give a count"),
    (["train", "--seeds", "0"], "at least 1"),
    (["train", "--seeds", "1,1"], "a seed is repeated"),
    (["reproduce", "--arch", "smallcnn,resnet99"], "unknown encoder resnet99"),
    (["reproduce", "--scales", "1,0"], "in '1,0': '0' must be > 0"),
    (["reproduce", "--conditions", "nosuch"], "unknown condition 'nosuch'"),
])
def test_bad_train_options(tmp_path, args, needle):
    code, out = invoke(*args, "--out", tmp_path / "x")
    assert_clean_error(code, out, needle)


def test_failed_start_leaves_no_run_folder(tmp_path):
    out = tmp_path / "run"
    code, output = invoke("train", "--dataset", f"imagefolder:{tmp_path / 'missing'}", "--out", out)
    assert_clean_error(code, output, "missing")
    assert not out.exists()


def test_seed_syntax():
    from robeval.cli.options import parse_seeds

    assert parse_seeds("3") == [0, 1, 2]  # a count, as in `reproduce --seeds 3`
    assert parse_seeds("2-4") == [2, 3, 4]
    assert parse_seeds("0,5") == [0, 5]
    assert parse_seeds("7-7") == [7]


def test_missing_and_foreign_run_folders(tmp_path):
    assert_clean_error(*invoke("eval", tmp_path / "nothing"), "no run folder")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("hello")
    assert_clean_error(*invoke("eval", foreign), "not a robeval run folder")
    assert_clean_error(*invoke("report", foreign, "--out", tmp_path / "r"), "not a robeval run folder")
    # a folder that is not a run is never deleted by --overwrite
    assert_clean_error(*invoke("train", "--out", foreign, "--overwrite"), "refusing to delete")
    assert (foreign / "notes.txt").exists()


def test_existing_output_refused_without_resume_or_overwrite(finished_run):
    code, out = invoke("train", "--out", finished_run, "--epochs", "1")
    assert_clean_error(code, out, "already exists", "--resume", "--overwrite")
    code, out = invoke("train", "--out", finished_run, "--resume", "--overwrite")
    assert_clean_error(code, out, "contradict")


def test_corrupt_checkpoint(finished_run, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(finished_run, broken)
    data = (broken / runs.BEST).read_bytes()
    (broken / runs.BEST).write_bytes(data[: len(data) // 2])  # truncated, as a full disk leaves it
    assert_clean_error(*invoke("eval", broken, "--conditions", "clean"), "cannot read checkpoint")
    (broken / runs.CONFIG).write_text("{not json")
    assert_clean_error(*invoke("eval", broken), "cannot be read as JSON")


def test_eval_unfinished_run(tmp_path, finished_run):
    import shutil

    unfinished = tmp_path / "unfinished"
    shutil.copytree(finished_run, unfinished)
    (unfinished / runs.SUMMARY).unlink()
    assert_clean_error(*invoke("eval", unfinished), "has not finished training", "--resume")


def test_report_without_eval(finished_run, tmp_path):
    assert_clean_error(*invoke("report", finished_run, "--out", tmp_path / "r"), "robeval eval")


def test_help_is_fast_and_lists_registries():
    t0 = time.time()
    out = subprocess.run([sys.executable, "-m", "robeval.cli", "--help"], capture_output=True, text=True)
    assert time.time() - t0 < 5  # interpreter start included; the group itself imports no torch
    assert out.returncode == 0 and "reproduce" in out.stdout
    probe = subprocess.run([sys.executable, "-c",
                            "import sys, robeval.cli; print('torch' in sys.modules)"],
                           capture_output=True, text=True)
    assert probe.stdout.strip() == "False"
    code, text = invoke("train", "--help")
    assert code == 0
    for name in ("smallcnn", "resnet18", "vgg16bn", "mobilenetv2", "simplex-etf", "hadamard", "authors"):
        assert name in text


def test_version():
    code, text = invoke("--version")
    assert code == 0 and "robeval" in text


def test_train_cli_writes_a_run(tmp_path):
    code, out = invoke("train", "--epochs", "1", "--max-train", "256", "--quiet",
                       "--head", "fixed", "--logits", "cosine", "-S", "2", "--out", tmp_path / "r")
    assert code == 0, out
    config = json.loads((tmp_path / "r" / runs.CONFIG).read_text())
    assert config["variant"] == "fixed-cosine-S2" and config["model"]["scale"] == 2.0


@pytest.mark.parametrize("args,message", [
    (["train", "--seed", "-1"], "--seed"),
    (["train", "--seed", str(2**64)], "--seed"),
    (["train", "--seeds", "-1"], "every --seed must be an integer in [0, 2^31)"),
    (["train", "--seeds", "0,-3"], "every --seed must be an integer in [0, 2^31)"),
    (["train", "--lr", "inf"], "'--lr': 'inf' is not a finite number"),
    (["train", "--lr", "nan"], "'--lr': 'nan' is not a finite number"),
    (["train", "-S", "inf", "--logits", "cosine"], "'inf' is not a finite number"),
    (["train", "--weight-decay", "-1"], "'--weight-decay': '-1' must be >= 0"),
    (["train", "--weight-decay", "nan"], "'--weight-decay': 'nan' is not a finite number"),
    (["train", "--max-train", "0"], "'--max-train': 0 is not in the range 1<=x"),
    (["corrupt", "--seed", "-1"], "--seed"),
    (["reproduce", "--lrs", "0.1,inf"], "in '0.1,inf': 'inf' is not a finite number"),
    (["reproduce", "--scales", "1,8,1"], "a value is repeated"),
])
def test_bad_numbers_are_one_line_errors_and_write_nothing(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out = invoke(*args, "--out", tmp_path / "o") if args[0] != "corrupt" else invoke(*args)
    assert code != 0 and message in out and "Traceback" not in out, out
    assert not (tmp_path / "o").exists() and not (tmp_path / "runs").exists()


def test_a_diverging_run_stops_with_a_clear_message_and_says_so(tmp_path):
    code, out = invoke("train", "--epochs", "2", "--max-train", "256", "--quiet", "--lr", "1e6",
                       "--out", tmp_path / "r")
    assert code != 0 and "training diverged in epoch 1" in out and "Traceback" not in out, out
    assert (tmp_path / "r" / "diverged.json").exists() and not (tmp_path / "r" / runs.STATE).exists()


@pytest.mark.parametrize("args,message", [
    (["corrupt", "--severities", "5-1"], "the range 5-1 is empty"),
    (["train", "--device", "tpu"], "unknown device 'tpu'"),
    (["reproduce", "--devices", "tpu:0,tpu:1", "--seeds", "1"], "each device is cpu, cuda:N or N"),
    (["train", "--learn-scale", "--logits", "dot"], "--learn-scale learns the cosine S"),
    (["train", "--epochs", "1"], "$ROBEVAL_DATA"),
])
def test_silent_no_ops_and_contradictions_are_errors(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    if message == "$ROBEVAL_DATA":  # the data root named by the environment is a file
        (tmp_path / "FILE").write_text("x")
        monkeypatch.setenv("ROBEVAL_DATA", str(tmp_path / "FILE"))
    extra = ["--out", str(tmp_path / "o")] if args[0] in ("train", "reproduce") else []
    code, out = invoke(*args, *extra)
    assert code != 0 and message in out and "Traceback" not in out, out
    assert not (tmp_path / "o").exists()


def test_eval_with_empty_conditions_is_an_error(finished_run):
    code, out = invoke("eval", finished_run, "--conditions", "")
    assert code != 0 and "--conditions is empty" in out


def test_resume_refuses_options_it_would_ignore(finished_run, tmp_path):
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(finished_run, run)
    code, out = invoke("train", "--resume", "--out", run, "--epochs", "99", "--lr", "0.5")
    assert code != 0 and "--epochs 99" in out and "--lr 0.5" in out and "Traceback" not in out


@pytest.mark.parametrize("exc, needle", [(ZeroDivisionError("x"), "unexpected error: ZeroDivisionError"),
                                         (EOFError(), "a file ended early")])
def test_last_resort_handler_gives_one_line(exc, needle, monkeypatch):
    """An exception no check anticipated: one 'Error:' line naming it (not click's bare
    'Aborted!' for an EOFError), exit 1; with ROBEVAL_DEBUG=1 the exception itself."""
    import click

    from robeval.cli.options import RobevalGroup

    @click.group(cls=RobevalGroup)
    def group():
        pass

    @group.command()
    def boom():
        raise exc

    monkeypatch.delenv("ROBEVAL_DEBUG")
    result = CliRunner().invoke(group, ["boom"])
    assert result.exit_code == 1 and needle in result.output and "ROBEVAL_DEBUG=1" in result.output
    assert [line for line in result.output.splitlines() if line.startswith("Error")] == \
        result.output.strip().splitlines()
    monkeypatch.setenv("ROBEVAL_DEBUG", "1")
    assert "ROBEVAL_DEBUG=1" not in CliRunner().invoke(group, ["boom"]).output  # re-raised as it was


def test_the_cli_bound_on_numbers_is_the_training_configs():
    from robeval.cli.values import LARGEST
    from robeval.training import config

    assert LARGEST == config.LARGEST
