"""Image files that PIL opens but robeval must not take as they come: decompression bombs are
refused (skipped with --skip-bad), 16-bit and float images are scaled to 8 bits, not clipped.

    PYTHONPATH=. pytest -q tests/bad_input/test_images.py
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from robeval.data.images import BadImage, open_image
from tests.bad_input.harness import assert_refused


def png_header_only(width: int, height: int) -> bytes:
    """A valid PNG signature and IHDR claiming width x height grey pixels, with one tiny IDAT:
    a few hundred bytes that PIL would try to expand to width * height bytes."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + chunk(b"IEND", b""))


def encode(img: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


@pytest.mark.parametrize("side", [10_000, 30_000])  # above MAX_IMAGE_PIXELS; above twice it
def test_decompression_bomb_is_a_bad_image(side):
    assert side * side > Image.MAX_IMAGE_PIXELS
    with pytest.raises(BadImage, match="decompression bomb"):
        open_image(png_header_only(side, side), "bomb.png")


def test_16_bit_png_is_scaled_not_clipped():
    grey16 = (np.arange(32 * 32, dtype=np.uint32).reshape(32, 32) * 64).astype(np.uint16)
    rgb = np.asarray(open_image(encode(Image.fromarray(grey16), "PNG"), "a.png"))
    expected = np.round(grey16 / 257).astype(np.uint8)
    assert rgb.dtype == np.uint8 and rgb.shape == (32, 32, 3)
    assert np.array_equal(rgb[..., 0], expected) and np.array_equal(rgb[..., 2], expected)
    assert 0 < rgb.mean() < 255  # PIL's convert("RGB") gives 255 nearly everywhere


@pytest.mark.parametrize("scale", [1.0, 255.0])
def test_float_tiff_is_scaled_by_its_range(scale):
    rng = np.random.default_rng(0)
    values = rng.random((16, 16)).astype(np.float32) * np.float32(scale)
    rgb = np.asarray(open_image(encode(Image.fromarray(values), "TIFF"), "a.tif"))
    expected = np.round(values.astype(np.float64) * (255.0 / scale if scale == 1.0 else 1.0))
    assert np.abs(rgb[..., 1].astype(int) - expected.astype(int)).max() <= 1


@pytest.mark.parametrize("values", [np.full((8, 8), 300.0), np.full((8, 8), -1.0), np.full((8, 8), np.nan)])
def test_float_image_of_unknown_range_is_refused(values):
    with pytest.raises(BadImage, match="float pixels"):
        open_image(encode(Image.fromarray(values.astype(np.float32)), "TIFF"), "a.tif")


def _imagefolder(root, bad: bytes | None):
    """train/ and test/ with two classes of small PNGs; ``bad`` is added as one more image."""
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for cls in ("a", "b"):
            d = root / split / cls
            d.mkdir(parents=True)
            for i in range(4):
                Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(d / f"{i}.png")
    if bad is not None:
        (root / "train" / "a" / "bad.png").write_bytes(bad)
    return root


def test_imagefolder_with_a_bomb_is_refused(tmp_path, shared_data):
    folder = _imagefolder(tmp_path / "imgs", png_header_only(30_000, 30_000))
    line = assert_refused(["train", "--dataset", f"imagefolder:{folder}", "--arch", "tinycnn",
                           "--epochs", "1", "--out", tmp_path / "run"], tmp_path,
                          needle="decompression bomb")
    assert "bad.png" in line


def test_imagefolder_16_bit_images_train_like_their_8_bit_copies(tmp_path, shared_data):
    """A folder of 16-bit PNGs loads to the same pixels as the same images saved in 8 bits."""
    from robeval.data import load_split

    rng = np.random.default_rng(1)
    for depth in ("8", "16"):
        for cls in ("a", "b"):
            (tmp_path / depth / "test" / cls).mkdir(parents=True)
    for cls in ("a", "b"):
        for i in range(3):
            grey8 = rng.integers(0, 256, (16, 16), dtype=np.uint8)
            Image.fromarray(grey8).save(tmp_path / "8" / "test" / cls / f"{i}.png")
            Image.fromarray(grey8.astype(np.uint16) * 257).save(tmp_path / "16" / "test" / cls / f"{i}.png")
    eight = load_split(f"imagefolder:{tmp_path / '8'}", "test")
    sixteen = load_split(f"imagefolder:{tmp_path / '16'}", "test")
    assert np.array_equal(eight.images, sixteen.images) and np.array_equal(eight.labels, sixteen.labels)
