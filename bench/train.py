"""Training and evaluation throughput of the encoders, and time-to-accuracy of a preset.

    python bench/train.py                      # reduced grid on CPU (smallcnn + resnet18, 32 px)
    python bench/train.py --full               # the whole grid (for a GPU): every encoder,
                                               # 32/64/96 px, fp32/bf16, NCHW/channels_last, eager/compile
    python bench/train.py --tta cifar10 --preset fast   # time-to-accuracy on a real dataset

Throughput runs the real training step (`robeval.stages.train.train_epoch`: GPU-resident uint8 data,
batched crop + flip, autocast, SGD) on synthetic images, after one warm-up epoch; eval runs
`robeval.stages.train.predict` with features. Figures are printed and written as JSON under
bench/results/, named by device, precision set and torch version. Never a pass/fail.
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from robeval.core.environment import environment, pick_device  # noqa: E402
from robeval.models import ModelConfig, build_model  # noqa: E402
from robeval.models.inference import predict  # noqa: E402
from robeval.runs.model import predict_kwargs  # noqa: E402
from robeval.stages.train import train_epoch  # noqa: E402
from robeval.training.config import TrainConfig, with_preset_defaults  # noqa: E402
from robeval.training.distributed import DistInfo  # noqa: E402
from robeval.training.optim import make_optimizer, make_scheduler  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def throughput(arch: str, size: int, precision: str, channels_last: bool, compile_: bool,
               device: str, n_train: int, batch: int) -> dict:
    cfg = with_preset_defaults(TrainConfig(arch=arch, head="fixed", logits="cosine", epochs=2, batch_size=batch,
                              lr=0.05, precision=precision, channels_last=channels_last,
                              compile=compile_, preset="quick"), size)
    model = build_model(ModelConfig(arch, 10, size, "fixed", "cosine"))
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    model = model.to(device)
    net = torch.compile(model) if compile_ else model
    opt = make_optimizer(model, cfg, device)
    record, sched = make_scheduler(opt, cfg, n_train // batch)
    per_batch = record.steps_on == "batch"
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.integers(0, 256, (n_train, size, size, 3), dtype=np.uint8)).to(device)
    y = torch.from_numpy(rng.integers(0, 10, n_train)).to(device)
    one = DistInfo()
    train_epoch(net, opt, sched, x, y, cfg, 1, device, one, False, per_batch)  # warm-up (and compile)
    sync(device)
    t0 = time.perf_counter()
    train_epoch(net, opt, sched, x, y, cfg, 2, device, one, False, per_batch)
    sync(device)
    train_s = time.perf_counter() - t0
    images = x.cpu().numpy()
    predict(model, images[: cfg.eval_batch_size], device, features=True, **predict_kwargs(cfg))
    sync(device)
    t0 = time.perf_counter()
    predict(model, images, device, features=True, **predict_kwargs(cfg))
    sync(device)
    eval_s = time.perf_counter() - t0
    steps = n_train // batch
    return {"arch": arch, "size": size, "precision": precision,
            "layout": "channels_last" if channels_last else "nchw", "compile": compile_,
            "batch": batch, "train_images_per_s": round(steps * batch / train_s, 1),
            "eval_images_per_s": round(n_train / eval_s, 1)}


def time_to_accuracy(dataset: str, preset: str, arch: str, device: str, out: Path) -> dict:
    """Train a preset on a real dataset and report wall time and test accuracy (no test-set selection)."""
    from robeval.stages.evaluate import evaluate_run
    from robeval.stages.train import train

    cfg = TrainConfig(dataset=dataset, arch=arch, head="learned", logits="dot", preset=preset)
    t0 = time.perf_counter()
    summary = train(cfg, out, device=device, overwrite=True, progress=True)
    train_s = time.perf_counter() - t0
    result = evaluate_run(out, "clean", device=device, features=False, progress=False)
    metrics = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    return {"dataset": dataset, "preset": preset, "arch": arch, "train_wall_s": round(train_s, 1),
            "epochs": summary["epochs"], "best_val_acc": summary["best_val_acc"],
            "test_acc_best_val_checkpoint": result["conditions"]["clean"]["accuracy"],
            "epoch_times_s": [m["time_s"] for m in metrics]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--full", action="store_true", help="the whole grid (meant for a GPU)")
    ap.add_argument("--archs", default=None, help="comma list (default: reduced or full grid's)")
    ap.add_argument("--train-images", type=int, default=None)
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--tta", default=None, metavar="DATASET", help="also time a preset to accuracy")
    ap.add_argument("--preset", default="fast")
    ap.add_argument("--tta-arch", default="resnet18")
    args = ap.parse_args()
    device = pick_device(args.device)
    cuda = device.startswith("cuda")
    archs = (args.archs.split(",") if args.archs else
             ["resnet18", "vgg16bn", "mobilenetv2", "smallcnn"] if args.full else ["smallcnn", "resnet18"])
    sizes = [32, 64, 96] if args.full else [32]
    compiles = [False, True] if args.full else [False]
    n_train = args.train_images or (20480 if cuda else 512)
    batch = args.batch or (512 if cuda else 64)
    rows = []
    for arch, size, precision, cl, comp in itertools.product(archs, sizes, ["fp32", "bf16"], [False, True], compiles):
        row = throughput(arch, size, precision, cl, comp, device, n_train, batch)
        rows.append(row)
        print(f"{arch:12s} {size:3d}px {precision} {row['layout']:13s} compile={comp!s:5s} "
              f"train {row['train_images_per_s']:9.1f} img/s   eval {row['eval_images_per_s']:9.1f} img/s",
              flush=True)
    result = {"device": device, "machine": platform.machine(), "throughput": rows,
              "environment": environment(device)}
    if args.tta:
        result["time_to_accuracy"] = time_to_accuracy(args.tta, args.preset, args.tta_arch, device,
                                                      Path("runs") / f"bench-tta-{args.tta}-{args.preset}")
        print(json.dumps(result["time_to_accuracy"], indent=2))
    name = result["environment"]["device_name"].split("(")[0].strip().replace(" ", "-").lower()
    out = RESULTS / f"train-{name}-{'full' if args.full else 'reduced'}-torch{torch.__version__.split('+')[0]}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
