"""bench/gpu_check.py --smoke: the GPU script's code paths (throughput with counted FLOPs,
time-to-accuracy under the no-test-selection rule, the reproduce grid under a budget) on a CPU."""

from __future__ import annotations

import json

from bench.gpu_check import main


def test_gpu_check_smoke_writes_every_figure(tmp_path, data_dir):
    out = tmp_path / "g.json"
    result = main(["--smoke", "--out", str(out), "--work", str(tmp_path / "work")])
    assert json.loads(out.read_text()) == json.loads(json.dumps(result))
    (row,) = result["throughput"]
    # ResNet-18 at 32 px: ~1.1 GFLOPs forward, ~3x that per training image (counted, not assumed)
    assert 3.0e9 < row["train_flops_per_image"] < 3.7e9
    assert row["train_images_per_s"] > 0 and row["mfu"] is None  # no peak known for a CPU
    tta = result["time_to_94"]
    assert tta["epochs"] == 1 and 0 <= tta["test_acc_of_val_chosen_checkpoint"] <= 1
    assert (tta["first_epoch_val_reaches_target"] is None) == (tta["best_val_acc"] < 0.94)
    assert result["grid"]["cells_done"] == 1 and result["grid"]["cells_total"] == 1
    assert (tmp_path / "work" / "grid" / "runs").is_dir()
