"""Dataset sources fed files in the official formats (made here), and the real offline copies."""

from __future__ import annotations

import io
import tarfile

import numpy as np
import pytest

from robeval.core.errors import RobevalError
from robeval.data import download, load_split
from robeval.data.loading import cache_file
from tests.helpers import real_data
from tests.official_formats import (
    CIFAR10_NAMES,
    jpeg_bytes,
    make_cifar10_tarball,
    make_cifar100_tarball,
    make_stl10_tarball,
    make_tinyimagenet_zip,
    png_bytes,
    random_images,
)


def test_cifar10_python_tarball(data_dir, declare):
    path = data_dir / "downloads" / "cifar-10-python.tar.gz"
    path.parent.mkdir(parents=True)
    made = make_cifar10_tarball(path)
    declare("cifar10-python", path)
    test = load_split("cifar10", "test")
    assert test.classes == CIFAR10_NAMES
    np.testing.assert_array_equal(test.images, made["test"])
    np.testing.assert_array_equal(test.labels, made["test_labels"])
    train = load_split("cifar10", "train")
    np.testing.assert_array_equal(train.images, made["train"])
    np.testing.assert_array_equal(train.labels, made["train_labels"])
    assert cache_file("cifar10", "train").exists()  # cached as one file after the first load
    path.unlink()
    np.testing.assert_array_equal(load_split("cifar10", "test").images, made["test"])


def test_cifar10_hash_mismatch_is_refused(data_dir):
    path = data_dir / "downloads" / "cifar-10-python.tar.gz"
    path.parent.mkdir(parents=True)
    make_cifar10_tarball(path)  # not the official bytes
    with pytest.raises(RobevalError, match="sha256 is .* expected 6d958be0"):
        load_split("cifar10", "test")


def test_cifar_pickle_with_code_is_refused(data_dir, declare):
    import pickle

    path = data_dir / "downloads" / "cifar-100-python.tar.gz"
    path.parent.mkdir(parents=True)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with tarfile.open(path, "w:gz") as tf:
        for name in ("meta", "test"):
            data = pickle.dumps({b"x": Evil()}, protocol=2)
            info = tarfile.TarInfo(f"cifar-100-python/{name}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    declare("cifar100-python", path)
    with pytest.raises(RobevalError, match="refusing to load .*print"):
        load_split("cifar100", "test")


def test_cifar100_python_tarball(data_dir, declare):
    path = data_dir / "cifar-100-python.tar.gz"  # placed in the data root itself: also found
    data_dir.mkdir(parents=True)
    made, fine = make_cifar100_tarball(path)
    declare("cifar100-python", path)
    test = load_split("cifar100", "test")
    assert test.classes == fine and len(test.classes) == 100
    np.testing.assert_array_equal(test.images, made["test"])
    np.testing.assert_array_equal(test.labels, made["test_labels"])


def test_stl10_binaries(data_dir, declare):
    path = data_dir / "downloads" / "stl10_binary.tar.gz"
    path.parent.mkdir(parents=True)
    made = make_stl10_tarball(path)
    declare("stl10-binary", path)
    train = load_split("stl10", "train")
    assert train.images.shape == (5, 96, 96, 3) and train.classes[7] == "monkey"
    np.testing.assert_array_equal(train.images, made["train"])
    np.testing.assert_array_equal(train.labels, made["train_labels"])
    np.testing.assert_array_equal(load_split("stl10", "test").images, made["test"])
    extracted = data_dir / "extracted" / "stl10" / "stl10_binary"
    assert (extracted / "train_X.bin").exists() and not (extracted / "unlabeled_X.bin").exists()


def test_tinyimagenet_zip(data_dir, declare):
    path = data_dir / "downloads" / "tiny-imagenet-200.zip"
    path.parent.mkdir(parents=True)
    wnids = ["n02", "n01", "n03"]
    made = make_tinyimagenet_zip(path, wnids)
    declare("tinyimagenet", path)
    train = load_split("tinyimagenet", "train")
    assert train.classes == ["name of n01", "name of n02", "name of n03"]  # sorted wnids
    assert len(train) == 6 and train.images.shape[1:] == (64, 64, 3)
    for img, lab in zip(train.images, train.labels, strict=True):
        wnid = sorted(wnids)[lab]
        assert any(np.array_equal(img, made["train"][(wnid, i)]) for i in range(2))
    test = load_split("tinyimagenet", "test")
    assert len(test) == 6
    for img, lab, (wnid, want) in zip(test.images, test.labels, made["val"], strict=True):
        assert sorted(wnids)[lab] == wnid
        np.testing.assert_array_equal(img, want)


def test_imagefolder(tmp_path, data_dir):
    root = tmp_path / "tree"
    imgs = random_images(12, 16, 5)
    for split in ("train", "test"):
        for i, cls in enumerate(["b_cls", "a_cls", "b_cls", "c_cls"] * 3):
            d = root / split / cls
            d.mkdir(parents=True, exist_ok=True)
            (d / f"{i:02d}.png").write_bytes(png_bytes(imgs[i]))
    (root / "train" / "a_cls" / ".hidden.png").write_bytes(b"junk")  # hidden files are skipped
    (root / "classes.txt").write_text("c_cls\nb_cls\na_cls\n")  # explicit order beats sorting
    train = load_split(f"imagefolder:{root}", "train")
    assert train.classes == ["c_cls", "b_cls", "a_cls"] and len(train) == 12
    counts = np.bincount(train.labels, minlength=3)
    assert counts.tolist() == [3, 6, 3]
    test = load_split(f"imagefolder:{root}", "test")
    assert [test.classes[i] for i in test.labels[:4]] == ["a_cls", "a_cls", "a_cls", "b_cls"]
    (root / "test" / "a_cls" / "bad.jpg").write_bytes(jpeg_bytes(imgs[0])[:100])  # truncated
    cache_file(f"imagefolder:{root}", "test").unlink()
    with pytest.raises(RobevalError, match="cannot be decoded.*bad.jpg"):
        load_split(f"imagefolder:{root}", "test")
    (tmp_path / "flat").mkdir()
    with pytest.raises(RobevalError, match="no train/ folder"):
        load_split(f"imagefolder:{tmp_path / 'flat'}", "train")


def test_missing_download_offline_message(data_dir, monkeypatch):
    monkeypatch.setenv("ROBEVAL_OFFLINE", "1")
    with pytest.raises(RobevalError) as err:
        load_split("cifar100", "test")
    msg = str(err.value)
    assert "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz" in msg
    assert str((data_dir / "downloads" / "cifar-100-python.tar.gz").resolve()) in msg
    assert "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7" in msg


def test_real_cifar10_jpeg_copy(data_dir):
    (data_dir / "downloads").mkdir(parents=True)
    (data_dir / "downloads" / "cifar10-jpeg.tar.xz").symlink_to(real_data("cifar10-jpeg.tar.xz"))
    test = load_split("cifar10", "test")
    assert test.images.shape == (10_000, 32, 32, 3) and test.classes == CIFAR10_NAMES
    assert np.bincount(test.labels).tolist() == [1000] * 10


def test_real_tinyimagenet_val_copy(data_dir):
    (data_dir / "downloads").mkdir(parents=True)
    (data_dir / "downloads" / "tinyimagenet200-val-jpeg.tar.xz").symlink_to(
        real_data("tinyimagenet200-val-jpeg.tar.xz"))
    test = load_split("tinyimagenet", "test")
    assert test.images.shape == (10_000, 64, 64, 3) and len(test.classes) == 200
    assert np.bincount(test.labels).tolist() == [50] * 200
    assert test.classes[0] == "goldfish"  # n01443537, first in sorted wnid order
    with pytest.raises(RobevalError, match="tiny-imagenet-200.zip"):
        load_split("tinyimagenet", "train")  # the copy has no train split


def test_extracted_official_folders_are_read(data_dir):
    """torchvision-style extracted folders (cifar-10-batches-py/, tiny-imagenet-200/) work too."""
    import shutil

    tmp = data_dir.parent / "made"
    tmp.mkdir()
    made = make_cifar10_tarball(tmp / "c10.tar.gz")
    download.safe_extract(tmp / "c10.tar.gz", data_dir / "downloads")
    np.testing.assert_array_equal(load_split("cifar10", "test").images, made["test"])
    zmade = make_tinyimagenet_zip(tmp / "t.zip", ["n05", "n04"])
    download.safe_extract(tmp / "t.zip", data_dir)
    test = load_split("tinyimagenet", "test")
    assert test.classes == ["name of n04", "name of n05"]
    np.testing.assert_array_equal(test.images[0], zmade["val"][0][1])
    shutil.rmtree(data_dir / "downloads" / "cifar-10-batches-py")
    (data_dir / "downloads" / "cifar-10-batches-py").mkdir()
    shutil.rmtree(data_dir / "cache")
    with pytest.raises(RobevalError, match="missing"):
        load_split("cifar10", "test")


def test_imagefolder_mixed_sizes_are_brought_to_the_common_side(tmp_path, data_dir):
    root = tmp_path / "mixed"
    for split in ("train", "test"):
        for i, size in enumerate([24, 24, 24, 40]):
            d = root / split / ("a" if i % 2 else "b")
            d.mkdir(parents=True, exist_ok=True)
            img = random_images(1, size, i)[0][:, : size - (i == 3) * 8]  # one is not square
            (d / f"{i}.png").write_bytes(png_bytes(np.ascontiguousarray(img)))
    train = load_split(f"imagefolder:{root}", "train")
    assert train.images.shape == (4, 24, 24, 3) and train.classes == ["a", "b"]


def test_imagefolder_with_only_test_serves_eval_and_corrupt(tmp_path, data_dir):
    from robeval.stages.corrupt import corrupt_dataset

    root = tmp_path / "testonly"
    imgs = random_images(6, 32, 9)
    for i, cls in enumerate(["dog", "cat", "ant"] * 2):
        (root / "test" / cls).mkdir(parents=True, exist_ok=True)
        (root / "test" / cls / f"{i}.png").write_bytes(png_bytes(imgs[i]))
    test = load_split(f"imagefolder:{root}", "test")
    assert test.classes == ["ant", "cat", "dog"] and len(test) == 6  # named from test/
    rows = corrupt_dataset(f"imagefolder:{root}", "test", "impulse_noise", [3], progress=False)
    assert rows[0]["condition"] == "impulse_noise/3" and rows[0]["params"]
    with pytest.raises(RobevalError, match="no train/ folder"):  # training still needs train/
        load_split(f"imagefolder:{root}", "train")
