"""Noise and digital families on real images: parity with imagecorruptions (ImageNet table) and
with Hendrycks' CIFAR / Tiny ImageNet formulas, then per family and table at the table's native
size: shape, damage growing with severity, seeding, and the fast backend against the reference.

Images: CIFAR-10 test (32 px) and Tiny ImageNet val (64 px) JPEGs from the shared tarballs; other
sizes are Tiny ImageNet images resized with PIL's bicubic filter.
"""

from __future__ import annotations

import tarfile
import warnings

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from robeval.corruptions import TABLES, corrupt, digital, noise
from robeval.corruptions.families import FAMILIES
from robeval.corruptions.seeding import image_stream_keys, stream_bits, stream_bits_torch
from tests.helpers import real_data

NOISE = ("gaussian_noise", "shot_noise", "speckle_noise")
DIGITAL = ("brightness", "contrast", "elastic_transform", "pixelate", "saturate")
FAMILY_NAMES = NOISE + DIGITAL
RANDOM = tuple(f for f in FAMILY_NAMES if FAMILIES.get(f).seeded)
PARITY_SIZES = [(224, 224), (96, 96), (64, 64), (80, 120)]  # (H, W); the last is not square


def _read(tarball: str, split: str, per_folder: int, folders: int) -> np.ndarray:
    """The first ``per_folder`` images of the first ``folders`` class folders of ``split``."""
    path = real_data(tarball)
    taken: dict[str, int] = {}
    images = []
    with tarfile.open(path, "r|xz") as tf:
        for member in tf:
            parts = member.name.split("/")  # <root>/<split>/<class>/<file>
            if len(parts) != 4 or not member.isfile():
                continue
            if parts[1] != split:
                break
            if taken.get(parts[2], 0) < per_folder and (parts[2] in taken or len(taken) < folders):
                taken[parts[2]] = taken.get(parts[2], 0) + 1
                images.append(np.asarray(Image.open(tf.extractfile(member)).convert("RGB")))
            elif len(taken) == folders and all(n == per_folder for n in taken.values()):
                break
    return np.stack(images)


@pytest.fixture(scope="module")
def cifar() -> np.ndarray:
    """100 CIFAR-10 test images, 10 per class (32 px)."""
    return _read("cifar10-jpeg.tar.xz", "test", 10, 10)


@pytest.fixture(scope="module")
def tiny() -> np.ndarray:
    """64 Tiny ImageNet val images, 2 from each of 32 classes (64 px)."""
    return _read("tinyimagenet200-val-jpeg.tar.xz", "val", 2, 32)


def resized(images: np.ndarray, h: int, w: int) -> np.ndarray:
    return np.stack([np.asarray(Image.fromarray(im).resize((w, h), Image.BICUBIC)) for im in images])


@pytest.fixture(scope="module")
def native(cifar, tiny) -> dict[str, np.ndarray]:
    """Images at each table's native size: CIFAR at 32, Tiny ImageNet at 64 and (resized) 224."""
    return {"cifar": cifar, "tinyimagenet": tiny, "imagenet": resized(tiny[::8], 224, 224)}


def _imagecorruptions():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pytest.importorskip("imagecorruptions")


# --- (a) parity -------------------------------------------------------------------------------
@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_imagenet_table_equals_imagecorruptions(tiny, family):
    """Bit-equal at every severity and size, the non-square one included. Random families: our
    reference draws from its ``rng`` in the order imagecorruptions draws from numpy's global
    state, so a RandomState seeded like np.random.seed gives the same numbers. (None of these
    families needs imagecorruptions' removed names, np.float_ or multichannel=, patched.)"""
    ic = _imagecorruptions()
    record = FAMILIES.get(family)
    for k, (h, w) in enumerate(PARITY_SIZES):
        images = resized(tiny[k * 5: k * 5 + 2], h, w)
        for severity in range(1, 6):
            params = record.params("imagenet", severity)
            for i, image in enumerate(images):
                seed = 1000 * severity + 10 * k + i
                np.random.seed(seed)
                theirs = ic.corrupt(image, corruption_name=family, severity=severity)
                rng = np.random.RandomState(seed) if record.seeded else None
                ours = record.apply(image, params, rng)
                np.testing.assert_array_equal(ours, theirs, err_msg=f"{family}/{severity} {h}x{w}")
                assert ours.shape == image.shape and ours.dtype == np.uint8


def _hendrycks_elastic(image, c, rs):
    """make_cifar_c.py / make_tinyimagenet_c.py elastic_transform, c = (alpha, sigma, affine) in
    pixels, drawing from the RandomState ``rs`` in the script's order."""
    from scipy.ndimage import map_coordinates
    from skimage.filters import gaussian

    image = np.array(image, dtype=np.float32) / 255.
    shape = image.shape
    center = np.float32(shape[:2]) // 2
    third = min(shape[:2]) // 3
    pts1 = np.float32([center + third, [center[0] + third, center[1] - third], center - third])
    pts2 = pts1 + rs.uniform(-c[2], c[2], size=pts1.shape).astype(np.float32)
    image = cv2.warpAffine(image, cv2.getAffineTransform(pts1, pts2), shape[:2][::-1],
                           borderMode=cv2.BORDER_REFLECT_101)
    dx = (gaussian(rs.uniform(-1, 1, size=shape[:2]), c[1], mode="reflect", truncate=3) * c[0])
    dy = (gaussian(rs.uniform(-1, 1, size=shape[:2]), c[1], mode="reflect", truncate=3) * c[0])
    dx, dy = dx.astype(np.float32)[..., None], dy.astype(np.float32)[..., None]
    x, y, z = np.meshgrid(np.arange(shape[1]), np.arange(shape[0]), np.arange(shape[2]))
    where = (y + dy).reshape(-1, 1), (x + dx).reshape(-1, 1), z.reshape(-1, 1)
    out = map_coordinates(image, where, order=1, mode="reflect").reshape(shape)
    return np.uint8(np.clip(out, 0, 1) * 255)


# The scripts' own numbers, typed from make_cifar_c.py (IMSIZE 32) and make_tinyimagenet_c.py (64).
SCRIPT_ELASTIC = {
    "cifar": [(32 * 0, 32 * 0, 32 * .08), (32 * .05, 32 * .2, 32 * .07), (32 * .08, 32 * .06, 32 * .06),
              (32 * .1, 32 * .04, 32 * .05), (32 * .1, 32 * .03, 32 * .03)],
    "tinyimagenet": [(64 * 0, 64 * 0, 64 * .08), (64 * .05, 64 * .3, 64 * .06), (64 * .1, 64 * .08, 64 * .06),
                     (64 * .1, 64 * .03, 64 * .03), (64 * .16, 64 * .03, 64 * .02)],
}
SCRIPT_PIXELATE = {"cifar": [.95, .9, .85, .75, .65], "tinyimagenet": [.9, .8, .7, .6, .5]}


@pytest.mark.parametrize("table", ["cifar", "tinyimagenet"])
def test_cifar_and_tiny_tables_equal_hendrycks_scripts(native, table):
    """Elastic transform and pixelate, the two families whose CIFAR / Tiny ImageNet operation is
    not imagecorruptions', against the scripts' formulas at the native size: bit-equal."""
    size = TABLES.get(table).native_size
    images = native[table][:12]
    elastic, pixelate = FAMILIES.get("elastic_transform"), FAMILIES.get("pixelate")
    for severity in range(1, 6):
        for i, image in enumerate(images):
            ours = elastic.apply(image, elastic.params(table, severity), np.random.RandomState(i))
            theirs = _hendrycks_elastic(image, SCRIPT_ELASTIC[table][severity - 1],
                                        np.random.RandomState(i))
            np.testing.assert_array_equal(ours, theirs, err_msg=f"elastic {table}/{severity}")
            c = SCRIPT_PIXELATE[table][severity - 1]
            box = Image.fromarray(image).resize((int(size * c), int(size * c)), Image.BOX)
            theirs = np.asarray(box.resize((size, size), Image.BOX))
            ours = pixelate.apply(image, pixelate.params(table, severity), None)
            np.testing.assert_array_equal(ours, theirs, err_msg=f"pixelate {table}/{severity}")


# Standard deviation of the output on a flat image of value v (x = v/255), from the formulas alone:
# Gaussian 255 s, shot 255 sqrt(x / photons), speckle 255 x s (clipping negligible at these values).
NOISE_STD = {
    "gaussian_noise": lambda x, p: 255 * p["scale"],
    "shot_noise": lambda x, p: 255 * np.sqrt(x / p["photons"]),
    "speckle_noise": lambda x, p: 255 * x * p["scale"],
}


@pytest.mark.parametrize("backend", ["reference", "fast"])
@pytest.mark.parametrize("family", NOISE)
def test_noise_strength_on_flat_grey_matches_table(family, backend):
    """The seeded pipeline's noise has the table's strength: std on a flat image within 3% (plus
    0.3 grey levels for the truncation) of the value the formula gives, and mean shift under 1.
    Severities 1 and 3: at ImageNet's severities 4-5 shot noise has 3-5 photons, and its clipping
    at white and its coarse levels move both figures away from these simple formulas."""
    for table in TABLES:
        for severity in (1, 3):
            params = FAMILIES.get(family).params(table, severity)
            v = 96
            flat = np.full((16, 32, 32, 3), v, np.uint8)
            out, info = corrupt(flat, f"{family}/{severity}@{table}", backend=backend, seed=5)
            assert info["backend"] == backend
            expected = NOISE_STD[family](v / 255, params)
            assert abs(out.std() - expected) < 0.03 * expected + 0.3, (table, severity)
            assert abs(out.mean() - (v - 0.5)) < 1.0, (table, severity)  # truncation: -0.5 on average


# --- (b) per family and table, at the table's native size ------------------------------------
def _blockiness(images: np.ndarray) -> float:
    """Share of horizontally adjacent pixels that are equal: pixelate's larger blocks."""
    return float((images[:, :, 1:] == images[:, :, :-1]).all(-1).mean())


def damage(family: str, out: np.ndarray, images: np.ndarray) -> float:
    """The measure whose growth with severity is tested: blockiness gained for pixelate, the mean
    brightening for brightness, mean |out - in| otherwise."""
    if family == "pixelate":
        return _blockiness(out) - _blockiness(images)
    if family == "brightness":
        return float((out.astype(float) - images).mean())
    return float(np.abs(out.astype(float) - images).mean())


# Severities in the order their damage must grow. Hendrycks' tables are not ordered by any pixel
# measure for two families: saturate's severities 1-2 desaturate (x.3, x.1) and 3-5 saturate;
# elastic's CIFAR and Tiny ImageNet severity 1 is the largest random affine warp (8% of the side)
# alone, later ones trade that warp for a growing elastic field. These only have to damage.
ORDER: dict[tuple[str, str], list[list[int]]] = {
    **{("saturate", t): [[1, 2], [3, 4, 5]] for t in TABLES},
    ("elastic_transform", "cifar"): [],
    ("elastic_transform", "tinyimagenet"): [],
}


@pytest.mark.parametrize("table", list(TABLES))
@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_shape_and_damage_grow_with_severity(native, family, table):
    images = native[table][:32]
    measures = {}
    for severity in range(1, 6):
        out, info = corrupt(images, f"{family}/{severity}@{table}", seed=0)
        assert info["table"] == table and info["params"] == FAMILIES.get(family).params(table, severity)
        assert out.shape == images.shape and out.dtype == np.uint8
        measures[severity] = damage(family, out, images)
        assert measures[severity] > 0, (severity, measures)
    for group in ORDER.get((family, table), [[1, 2, 3, 4, 5]]):
        values = [measures[s] for s in group]
        assert values == sorted(values) and len(set(values)) == len(values), measures


@pytest.mark.parametrize("backend", ["reference", "fast"])
@pytest.mark.parametrize("family", RANDOM)
def test_seeded_per_image_at_every_table(native, family, backend):
    """Two runs give the same pixels, another seed others, and any subset of indices in any order
    and batch size gives each image its own pixels (the seeding does not depend on the table)."""
    for table in TABLES:
        images = native[table][:8]
        name = f"{family}/3@{table}"
        first, _ = corrupt(images, name, backend=backend, seed=7)
        again, _ = corrupt(images, name, backend=backend, seed=7)
        other, _ = corrupt(images, name, backend=backend, seed=8)
        np.testing.assert_array_equal(first, again)
        assert (first != other).any()
        pick = np.array([6, 1, 3])
        part, _ = corrupt(images[pick], name, backend=backend, seed=7, indices=pick, batch_size=2)
        np.testing.assert_array_equal(part, first[pick])


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_workers_do_not_change_pixels(cifar, family):
    """Two worker processes (core.py splits 64-image chunks) give what one gives."""
    images = np.concatenate([cifar, cifar[:30]])  # 130 images: three chunks
    one, _ = corrupt(images, f"{family}/4@cifar", workers=1, seed=3)
    two, _ = corrupt(images, f"{family}/4@cifar", workers=2, seed=3)
    np.testing.assert_array_equal(one, two)


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_any_size_and_empty_batches(tiny, family):
    """Non-square images at every table, both backends: shape kept, pixels changed; an empty
    batch stays empty."""
    images = resized(tiny[:4], 48, 72)
    for table in TABLES:
        for backend in ("reference", "fast"):
            out, _ = corrupt(images, f"{family}/5@{table}", backend=backend, seed=1)
            assert out.shape == images.shape and (out != images).any(), (table, backend)
    record = FAMILIES.get(family)
    if record.fast is not None:
        empty = torch.zeros((0, 32, 32, 3), dtype=torch.uint8)
        out = record.fast(empty, torch.zeros(0, dtype=torch.int64), **record.params("cifar", 3))
        assert out.shape == empty.shape


def _per_image(out: np.ndarray, images: np.ndarray) -> dict[str, np.ndarray]:
    """Per image and channel: mean and std of out - in, and the share of changed values."""
    d = out.astype(float) - images
    return {"mean": d.mean(axis=(1, 2)), "std": d.std(axis=(1, 2)),
            "changed": (out != images).mean(axis=(1, 2))}


@pytest.mark.parametrize("table", list(TABLES))
@pytest.mark.parametrize("family", [f for f in FAMILY_NAMES if FAMILIES.get(f).fast is not None])
def test_fast_matches_reference(native, family, table):
    """Deterministic fast paths give the reference's bits; random ones draw other numbers from the
    same law, so per channel the mean and std of out - in and the share of changed values agree
    within 4.5 standard errors (from the spread of the per-image figures)."""
    images = native[table]
    for severity in (1, 3, 5):
        name = f"{family}/{severity}@{table}"
        ref, _ = corrupt(images, name, backend="reference", seed=11)
        fast, info = corrupt(images, name, backend="fast", seed=11)
        assert info["backend"] == "fast" and fast.shape == images.shape and fast.dtype == np.uint8
        if not FAMILIES.get(family).seeded:
            np.testing.assert_array_equal(fast, ref, err_msg=name)
            continue
        a, b = _per_image(ref, images), _per_image(fast, images)
        for stat in a:
            se = np.sqrt(a[stat].var(0) / len(images) + b[stat].var(0) / len(images)) + 1e-3
            z = np.abs(a[stat].mean(0) - b[stat].mean(0)) / se
            assert (z < 4.5).all(), (name, stat, a[stat].mean(0), b[stat].mean(0))


# --- the fast paths' pieces ---------------------------------------------------------------------
def test_counter_stream_same_bits_in_numpy_and_torch():
    stream_keys = torch.tensor([0, 5, 2**31 + 7, 2**32 - 1])
    assert torch.equal(stream_bits(stream_keys, 10, 500), stream_bits_torch(stream_keys, 10, 500))
    assert not torch.equal(stream_bits(stream_keys, 10, 500)[0], stream_bits(stream_keys, 10, 500)[1])


@pytest.mark.parametrize("kind,value", [("gaussian", 0.04), ("shot", 3), ("speckle", 0.6)])
def test_alias_sampler_draws_the_exact_level_law(kind, value):
    """On flat images the fast noise's histogram fits P(out = g | v), worked out from the formula
    (chi-square p > 0.001); the torch path (CUDA's) gives the numpy path's pixels."""
    from scipy.stats import chi2

    law = {"gaussian": noise._gaussian_levels, "shot": noise._shot_levels,
           "speckle": noise._speckle_levels}[kind](value)
    assert np.allclose(law.sum(1), 1) and (law >= 0).all()
    for v in (2, 128, 253):
        flat = torch.full((200, 32, 32, 3), v, dtype=torch.uint8)
        stream_keys = torch.arange(200) * 31 + 5
        out = noise._sample_levels(flat, stream_keys, kind, value)
        table = torch.from_numpy(noise._alias_table(kind, float(value)).astype(np.int64))
        via_torch = noise._levels_torch(flat.reshape(200, -1), stream_bits_torch(stream_keys, 0, 3072), table)
        assert torch.equal(via_torch.view(flat.shape), out)
        counts = np.bincount(out.numpy().ravel(), minlength=256)
        expected = law[v] * out.numel()
        used = expected > 5
        stat = ((counts[used] - expected[used]) ** 2 / expected[used]).sum()
        assert chi2.sf(stat, used.sum() - 1) > 1e-3, (kind, v)
        assert counts[~used].sum() < expected[~used].sum() + 5 * np.sqrt(expected[~used].sum() + 1)


def test_torch_elastic_path_close_to_opencv_path(native):
    """The CUDA path (torch grid_sample), run here on CPU, from the same uniforms as the CPU path
    (OpenCV): they differ only by OpenCV's 1/32-pixel interpolation steps."""
    record = FAMILIES.get("elastic_transform")
    for table in TABLES:
        images = native[table][:16]
        stream_keys = image_stream_keys(0, "elastic_transform/4", np.arange(len(images)))
        params = record.params(table, 4)
        cpu = digital._elastic_opencv(images, stream_keys, **params)
        other = digital._elastic_torch(torch.from_numpy(images), torch.from_numpy(stream_keys), **params)
        diff = np.abs(cpu.astype(int) - other.numpy())
        assert diff.mean() < 0.5 and (diff > 2).mean() < 0.01, (table, diff.mean())


@pytest.mark.parametrize("table", list(TABLES))
def test_fast_elastic_moves_pixels_as_far_as_the_reference(table):
    """On a ramp image out - in is the local displacement times the slope, so the per-image
    spread of out - in measures the displacement field itself, free of image content: the fast
    path's must match the reference's within 4.5 standard errors."""
    size = TABLES.get(table).native_size
    ramp = np.add.outer(np.arange(size), np.arange(size)) * (200 / (2 * size)) + 20
    images = np.repeat(np.repeat(ramp[None, ..., None], 3, -1), 96, 0).astype(np.uint8)
    if size > 64:
        images = images[:24]
    for severity in (2, 5):
        name = f"elastic_transform/{severity}@{table}"
        a = _per_image(corrupt(images, name, backend="reference", seed=2)[0], images)["std"][:, 0]
        b = _per_image(corrupt(images, name, backend="fast", seed=2)[0], images)["std"][:, 0]
        z = abs(a.mean() - b.mean()) / np.sqrt(a.var() / len(a) + b.var() / len(b))
        assert z < 4.5, (name, a.mean(), b.mean())
