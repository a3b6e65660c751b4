"""Precise BatchNorm statistics: after each epoch, re-estimate every BatchNorm layer's running mean
and variance over a fixed sample of training images with the weights frozen, so validation (and
the saved checkpoints) use population statistics of the current weights rather than the running
average that training leaves behind.

Why: with the default momentum 0.1, the running statistics are an exponential average over the
last ~10-20 training batches, taken while the weights were still moving; at batch 32 they are
noisy. On the embedded demo that noise alone moved validation accuracy by up to 2 pp at fixed
final weights (docs in training/presets.py), enough to fail the 1 pp plateau check at random.
The method is "PreciseBN" (Wu & Johnson 2021, "Rethinking 'Batch' in BatchNorm", Sec. 3): the
model runs in training mode over batches of the training batch size, each layer's per-batch mean
and variance are recorded, and the population statistics are their equal-weight aggregate by the
law of total variance (mean of batch means; mean of batch variances plus the variance of batch
means).

Only buffers change: the training trajectory (weights, optimiser, data order, augmentation) is
the same with or without it. The sample is the same every epoch (seeded by the run's seed, its
own generator), so epoch-to-epoch changes of validation accuracy come from the weights, not from
which images were drawn; a resumed run recomputes exactly what the uninterrupted run did. Under
torchrun every rank runs the whole sample (not a slice), so every rank ends with the same
statistics (SyncBatchNorm then averages identical numbers).
"""

from __future__ import annotations

import torch
from torch import nn

from robeval.models.inference import autocast, to_input


def batchnorm_layers(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


def sample_indices(n_train: int, n_images: int, seed: int) -> torch.Tensor:
    """The run's fixed sample: ``n_images`` of its training images (all when fewer), in a seeded
    order, so a dataset stored class by class still gives a mixed sample."""
    gen = torch.Generator().manual_seed(seed * 7_919 + 17)
    return torch.randperm(n_train, generator=gen)[: min(n_images, n_train)]


@torch.no_grad()
def recompute_bn_stats(model: nn.Module, images: torch.Tensor, indices: torch.Tensor,
                       batch_size: int, mean, std, device: str, precision: str = "fp32") -> int:
    """Replace the running statistics of every BatchNorm layer in ``model`` by their population
    estimate over ``images[indices]`` (uint8 NHWC, on ``device``), in batches of ``batch_size``
    (an incomplete last batch is dropped, as in training). Returns the number of batches used
    (0: no BatchNorm layer, or fewer images than one batch, and nothing changed)."""
    layers = batchnorm_layers(model)
    bs = min(batch_size, len(indices))
    steps = len(indices) // bs if bs else 0
    if not layers or steps == 0:
        return 0
    saved = [(m.momentum, m.num_batches_tracked.clone()) for m in layers]
    sums = [[torch.zeros_like(m.running_mean, dtype=torch.float64) for _ in range(3)] for m in layers]
    was_training = model.training
    model.train()
    try:
        for m in layers:
            m.momentum = 1.0  # the running buffers then hold exactly this batch's statistics
        for step in range(steps):
            idx = indices[step * bs : (step + 1) * bs].to(images.device)
            with autocast(device, precision):
                model(to_input(images[idx], mean, std))
            for m, (s_mean, s_sq, s_var) in zip(layers, sums, strict=True):
                mu = m.running_mean.double()
                s_mean += mu
                s_sq += mu * mu
                s_var += m.running_var.double()  # the batch's unbiased variance
        for m, (s_mean, s_sq, s_var) in zip(layers, sums, strict=True):
            mu = s_mean / steps
            var = s_var / steps + (s_sq / steps - mu * mu).clamp_min(0.0)  # total variance
            m.running_mean.copy_(mu.to(m.running_mean.dtype))
            m.running_var.copy_(var.to(m.running_var.dtype))
    finally:
        for m, (momentum, tracked) in zip(layers, saved, strict=True):
            m.momentum = momentum
            m.num_batches_tracked.copy_(tracked)
        model.train(was_training)
    return steps
