"""Benchmark: ms/image and images/s per corruption for the `reference` and `fast` backends and
plain `imagecorruptions.corrupt`, at 32, 64 and 96 px, on CPU (and CUDA when present).

    PYTHONPATH=. python bench/corrupt.py                 # writes bench/results/corrupt-<device>-<time>.json
    PYTHONPATH=. python bench/corrupt.py --quick         # fewer images, for a smoke run

Images: real CIFAR-10 test (32 px) and Tiny ImageNet val (64 px) from $ROBEVAL_BENCH_DATA
(a folder with cifar10-jpeg.tar.xz and tinyimagenet200-val-jpeg.tar.xz) when present,
Tiny ImageNet resized to 96 px (bicubic; STL-10 is not available offline) for 96 px; uniform noise
images otherwise. Severity 3, table auto (32 -> cifar, 64/96 -> tinyimagenet); imagecorruptions
always uses its ImageNet table, so its impulse noise flips more values than ours at 32-96 px.
Each figure is the median of --repeats timed runs. This is a benchmark: it never fails on speed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tarfile
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from robeval.core.environment import environment  # noqa: E402
from robeval.core.fileio import write_json  # noqa: E402
from robeval.corruptions import corrupt  # noqa: E402
from robeval.corruptions.families import FAMILIES as CORRUPTION_FAMILIES  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
_ENV = os.environ.get("ROBEVAL_BENCH_DATA")
SHARED = next((p for p in ([Path(_ENV)] if _ENV else []) + [ROOT / "datasets" / "downloads"]
               if p.exists()), None)
FAMILIES = ("impulse_noise", "defocus_blur", "jpeg_compression")


def read_tar(name: str, split: str, n: int) -> np.ndarray | None:
    """The first ``n`` images of ``split`` in an ImageFolder tarball, or None."""
    if SHARED is None or not (SHARED / name).exists():
        return None
    out = []
    with tarfile.open(SHARED / name, "r|xz") as tf:
        for m in tf:
            parts = m.name.split("/")
            if m.isfile() and len(parts) == 4 and parts[1] == split:
                out.append(np.asarray(Image.open(tf.extractfile(m)).convert("RGB")))
                if len(out) == n:
                    break
    return np.stack(out) if out else None


def test_images(size: int, n: int) -> tuple[np.ndarray, str]:
    src = {32: ("cifar10-jpeg.tar.xz", "test"), 64: ("tinyimagenet200-val-jpeg.tar.xz", "val"),
           96: ("tinyimagenet200-val-jpeg.tar.xz", "val")}[size]
    x = read_tar(*src, n=n)
    if x is None:
        return np.random.default_rng(0).integers(0, 256, (n, size, size, 3), dtype=np.uint8), "uniform noise"
    label = f"{src[0]} {src[1]}"
    if x.shape[1] != size:
        x = np.stack([np.asarray(Image.fromarray(im).resize((size, size), Image.BICUBIC)) for im in x])
        label += f" resized to {size} px (bicubic)"
    return x, label


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def imagecorruptions_fn():
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import imagecorruptions
        return imagecorruptions.corrupt
    except Exception as exc:  # noqa: BLE001 - reported in the JSON, the rest still runs
        print(f"imagecorruptions unavailable: {exc}", file=sys.stderr)
        return None


def bench_cpu(sizes, n_slow: int, n_fast: int, repeats: int) -> list[dict]:
    rows, ic = [], imagecorruptions_fn()
    for size in sizes:
        images, source = test_images(size, max(n_slow, n_fast))
        for family in FAMILIES:
            name = f"{family}/3"
            runs = [("reference", n_slow, lambda x, name=name: corrupt(x, name, backend="reference")),
                    ("fast", n_fast, lambda x, name=name: corrupt(x, name, backend="fast", device="cpu"))]
            if ic is not None:
                runs.append(("imagecorruptions", n_slow, lambda x, family=family: [
                    ic(im, severity=3, corruption_name=family) for im in x]))
            for backend, n, fn in runs:
                x = images[:n]
                fn(x[:8])  # warm-up: imports, kernels, pools
                sec = timed(lambda fn=fn, x=x: fn(x), repeats)
                row = {"device": "cpu", "size": size, "condition": name, "backend": backend,
                       "images": len(x), "ms_per_image": 1000 * sec / len(x),
                       "images_per_s": len(x) / sec, "source": source}
                rows.append(row)
                print(f"cpu {size:>3}px {name:<20} {backend:<17} {row['ms_per_image']:8.3f} ms/img "
                      f"{row['images_per_s']:10.0f} img/s", flush=True)
    return rows


def bench_cuda(n: int, repeats: int, device: str = "cuda") -> list[dict]:
    """Device-resident throughput of the batched kernels (data already on the GPU), and the
    end-to-end figure through ``corrupt`` (host arrays in and out)."""
    import torch

    from robeval.corruptions import TABLES
    from robeval.corruptions.seeding import image_stream_keys

    rows = []
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    for size in (32, 64, 96):
        images, source = test_images(size, 10_000)
        reps = int(np.ceil(n / len(images)))
        host = np.concatenate([images] * reps)[:n]
        dev = torch.from_numpy(host).to(device)
        stream_keys = torch.from_numpy(image_stream_keys(0, "x/3", np.arange(n))).to(device)
        table = TABLES.get("cifar" if size == 32 else "tinyimagenet")
        for family in ("impulse_noise", "defocus_blur"):
            params = table.params(family, 3)

            def run(family=family, params=params, dev=dev, stream_keys=stream_keys):
                CORRUPTION_FAMILIES.get(family).fast(dev, stream_keys, **params)
                sync()

            run()
            sec = timed(run, repeats)
            rows.append({"device": device, "size": size, "condition": f"{family}/3", "backend": "fast",
                         "mode": "device-resident", "images": n, "ms_per_image": 1000 * sec / n,
                         "images_per_s": n / sec, "source": source})
            sec = timed(lambda family=family, host=host: corrupt(host, f"{family}/3", backend="fast",
                                                      device=device, batch_size=65536), repeats)
            rows.append({"device": device, "size": size, "condition": f"{family}/3", "backend": "fast",
                         "mode": "end-to-end (numpy in/out)", "images": n,
                         "ms_per_image": 1000 * sec / n, "images_per_s": n / sec, "source": source})
            for r in rows[-2:]:
                print(f"{device} {size:>3}px {r['condition']:<20} {r['mode']:<26} {r['images_per_s']:12.0f} img/s",
                      flush=True)
    return rows


def summary(rows: list[dict]) -> dict:
    """fast vs reference speed-up for impulse noise + defocus blur (time of both together)."""
    out = {}
    for size in sorted({r["size"] for r in rows if r["device"] == "cpu"}):
        ms = {b: sum(r["ms_per_image"] for r in rows if r["device"] == "cpu" and r["size"] == size
                     and r["backend"] == b and r["condition"] in ("impulse_noise/3", "defocus_blur/3"))
              for b in ("reference", "fast")}
        if ms["fast"]:
            out[f"cpu_{size}px_fast_over_reference_impulse_plus_defocus"] = round(ms["reference"] / ms["fast"], 2)
    for size in (32,):
        dev = [r for r in rows if r["device"] == "cuda" and r["size"] == size and r["mode"] == "device-resident"]
        if len(dev) == 2:
            out["cuda_32px_impulse_plus_defocus_images_per_s"] = round(
                1.0 / sum(1.0 / r["images_per_s"] for r in dev))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer images and repeats")
    ap.add_argument("--sizes", default="32,64,96")
    ap.add_argument("--cuda-images", type=int, default=200_000)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--out", default=None, help="JSON path (default bench/results/corrupt-<device>-<time>.json)")
    args = ap.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    n_slow, n_fast, repeats = (64, 256, 3) if args.quick else (256, 2048, 5)
    t0 = time.time()
    rows = bench_cpu([int(s) for s in args.sizes.split(",")], n_slow, n_fast, repeats)
    device = "cpu"
    if torch.cuda.is_available():
        device = "cuda"
        rows += bench_cuda(args.cuda_images, repeats)
    result = {"benchmark": "corrupt", "summary": summary(rows),
              "targets": {"cpu_96px_fast_over_reference_impulse_plus_defocus": ">= 10",
                          "cuda_h100_32px_impulse_plus_defocus_images_per_s": ">= 200000"},
              "load_average_1_5_15": list(os.getloadavg()), "torch_threads": torch.get_num_threads(),
              "wall_s": round(time.time() - t0, 1), "rows": rows, "environment": environment(device)}
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = Path(args.out or ROOT / "bench" / "results" / f"corrupt-{device}-{stamp}.json")
    write_json(out, result)
    print("summary:", result["summary"])
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
