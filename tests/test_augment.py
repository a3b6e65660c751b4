"""Batched GPU-style augmentation keeps torchvision's RandomCrop(padding) + flip semantics."""

import torch
from torchvision.transforms import v2

from robeval.training.augment import random_crop_flip, to_input


def _ramp(n: int, size: int = 8) -> torch.Tensor:
    """n copies of an image whose value encodes the column (so crops and flips are visible)."""
    col = torch.arange(1, size + 1, dtype=torch.uint8) * 30
    img = col[None, :, None].expand(size, size, 3)
    return img[None].expand(n, size, size, 3).contiguous()


def test_same_statistics_as_torchvision():
    n, pad = 4000, 2
    images = _ramp(n)
    ours = random_crop_flip(images, pad, True, torch.Generator().manual_seed(0)).float()
    torch.manual_seed(0)
    tv = v2.Compose([v2.RandomCrop(8, padding=pad), v2.RandomHorizontalFlip()])
    theirs = torch.stack([tv(im.permute(2, 0, 1)).permute(1, 2, 0) for im in images]).float()
    # mean image and share of padded (zero) pixels agree within sampling noise
    assert (ours.mean(0) - theirs.mean(0)).abs().max() < 4.0
    assert abs((ours == 0).float().mean() - (theirs == 0).float().mean()) < 0.01
    # each output row is an exact crop (or mirrored crop) of the padded input
    padded = torch.nn.functional.pad(images[0, 0, :, 0].float(), (pad, pad))
    windows = {tuple(padded[i : i + 8].tolist()) for i in range(2 * pad + 1)}
    windows |= {w[::-1] for w in windows}
    assert all(tuple(row.tolist()) in windows for row in ours[:200, 3, :, 0])


def test_seeded_and_shape_preserving():
    images = torch.randint(0, 256, (16, 32, 32, 3), dtype=torch.uint8)
    a = random_crop_flip(images, 4, True, torch.Generator().manual_seed(1))
    b = random_crop_flip(images, 4, True, torch.Generator().manual_seed(1))
    c = random_crop_flip(images, 4, True, torch.Generator().manual_seed(2))
    assert a.shape == images.shape and a.dtype == torch.uint8
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(random_crop_flip(images, 0, False, torch.Generator()), images)


def test_to_input_normalises_to_nchw():
    x = to_input(torch.full((2, 4, 4, 3), 255, dtype=torch.uint8), 0.5, 0.5)
    assert x.shape == (2, 3, 4, 4)
    assert torch.allclose(x, torch.ones_like(x))
    assert x.is_contiguous(memory_format=torch.channels_last)
