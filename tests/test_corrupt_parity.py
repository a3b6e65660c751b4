"""Parity on real CIFAR-10 test images: the reference backend against an independent re-statement
of Hendrycks' formulas (bit for bit), against imagecorruptions (ImageNet table), and the fast
backend against the reference."""

from __future__ import annotations

import tarfile
import warnings
from io import BytesIO

import cv2
import numpy as np
import pytest
from PIL import Image

from robeval.corruptions import TABLES, corrupt
from robeval.corruptions.families import FAMILIES
from tests.helpers import real_data

PER_CLASS = 30


@pytest.fixture(scope="session")
def cifar() -> np.ndarray:
    """The first 30 test images of each CIFAR-10 class (300, 32, 32, 3), streamed from the tarball."""
    images = []
    with tarfile.open(real_data("cifar10-jpeg.tar.xz"), "r|xz") as tf:
        for member in tf:
            parts = member.name.split("/")  # cifar10/test/<class>/NNNN.jpg; test comes before train
            if len(parts) != 4:
                continue
            if parts[1] != "test":
                break
            if int(parts[3][:4]) < PER_CLASS:
                images.append(np.asarray(Image.open(tf.extractfile(member)).convert("RGB")))
    assert len(images) == 10 * PER_CLASS
    return np.stack(images)


# --- Hendrycks' make_cifar_c.py formulas, re-typed here independently of robeval ---------------
def hendrycks_disk(radius, alias_blur=0.1, dtype=np.float32):
    if radius <= 8:
        L = np.arange(-8, 8 + 1)
        ksize = (3, 3)
    else:
        L = np.arange(-radius, radius + 1)
        ksize = (5, 5)
    X, Y = np.meshgrid(L, L)
    aliased_disk = np.array((X ** 2 + Y ** 2) <= radius ** 2, dtype=dtype)
    aliased_disk /= np.sum(aliased_disk)
    return cv2.GaussianBlur(aliased_disk, ksize=ksize, sigmaX=alias_blur)


def hendrycks_defocus(x, c):
    x = np.array(x) / 255.
    kernel = hendrycks_disk(radius=c[0], alias_blur=c[1])
    channels = [cv2.filter2D(x[:, :, d], -1, kernel) for d in range(3)]
    return np.uint8(np.clip(np.array(channels).transpose((1, 2, 0)), 0, 1) * 255)


def hendrycks_jpeg(x, c):
    output = BytesIO()
    Image.fromarray(x).save(output, "JPEG", quality=c)
    return np.uint8(Image.open(output))


CIFAR_DEFOCUS = [(0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)]  # make_cifar_c.py
CIFAR_JPEG = [80, 65, 58, 50, 40]


@pytest.mark.parametrize("severity", [1, 2, 3, 4, 5])
def test_reference_equals_hendrycks_cifar_formulas(cifar, severity):
    x = cifar[:100]
    defocus, info = corrupt(x, f"defocus_blur/{severity}", table="auto")
    assert info["table"] == "cifar"
    expected = np.stack([hendrycks_defocus(im, CIFAR_DEFOCUS[severity - 1]) for im in x])
    np.testing.assert_array_equal(defocus, expected)
    jpeg, _ = corrupt(x, f"jpeg_compression/{severity}@cifar")
    expected = np.stack([hendrycks_jpeg(im, CIFAR_JPEG[severity - 1]) for im in x])
    np.testing.assert_array_equal(jpeg, expected)
    assert (defocus != x).any() and (jpeg != x).any()


@pytest.mark.parametrize("severity", [1, 3, 5])
def test_imagenet_table_equals_imagecorruptions(cifar, severity):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ic = pytest.importorskip("imagecorruptions")
    x = cifar[::10]  # 30 images, 3 of each class
    for family in ("defocus_blur", "jpeg_compression"):
        ours, info = corrupt(x, f"{family}/{severity}@imagenet")
        theirs = np.stack([ic.corrupt(im, severity=severity, corruption_name=family) for im in x])
        np.testing.assert_array_equal(ours, theirs, err_msg=family)
        assert info["table"] == "imagenet"


@pytest.mark.parametrize("table", list(TABLES))
def test_fast_defocus_within_one_grey_level(cifar, table):
    for severity in (1, 3, 5):
        ref, _ = corrupt(cifar, f"defocus_blur/{severity}@{table}", backend="reference")
        fast, info = corrupt(cifar, f"defocus_blur/{severity}@{table}", backend="fast")
        assert info["implementation"] == "torch batched"
        diff = np.abs(ref.astype(int) - fast.astype(int))
        assert diff.max() <= 1, (table, severity)
        assert (diff == 0).mean() > 0.95  # nearly all values are equal, not merely close


def test_torch_defocus_path_within_one_grey_level(cifar):
    """The CUDA path (torch depthwise conv), run here on CPU, against the reference."""
    import torch

    from robeval.corruptions import blur

    rows = FAMILIES.get("defocus_blur").tables
    for table in TABLES.records():
        for radius, alias in (rows[table.name][0], rows[table.name][4]):
            ref = np.stack([hendrycks_defocus(im, (radius, alias)) for im in cifar[:100]])
            out = blur._defocus_torch(torch.from_numpy(cifar[:100]), radius, alias).numpy()
            assert np.abs(ref.astype(int) - out.astype(int)).max() <= 1, (table.name, radius)


@pytest.mark.parametrize("backend", ["reference", "fast"])
def test_impulse_noise_fraction_on_real_images(cifar, backend):
    for severity in (1, 5):
        amount = FAMILIES.get("impulse_noise").tables["cifar"][severity - 1]
        out, info = corrupt(cifar, f"impulse_noise/{severity}", backend=backend, seed=1)
        assert info["params"] == {"amount": amount}
        changed = out != cifar
        assert set(np.unique(out[changed])) <= {0, 255}  # salt or pepper, per channel value
        # A value already at 0 (255) cannot change when peppered (salted): half the flips miss it.
        expected = amount * (0.5 * (cifar != 255) + 0.5 * (cifar != 0)).mean()
        n = cifar.size
        assert abs(changed.mean() - expected) < 5 * np.sqrt(amount * (1 - amount) / n) + 1e-4
        # Single channel values flip, not whole pixels (the difference from albumentations' SaltAndPepper).
        per_pixel = changed.sum(-1)
        assert (per_pixel == 1).sum() > 5 * (per_pixel == 3).sum()
