"""The classification layer under study: class vectors W (C x d) and bias b.

``train``: ``learned`` (W, b are parameters) or ``fixed`` (W, b are buffers: drawn once from the
run's seed, saved in the checkpoint, never seen by an optimizer).
``logits``: ``dot`` -> h . w_c + b_c;  ``cosine`` -> S * cos(h, w_c) + b_c.
``init``: how W is drawn (every row L2-normalised):

- ``sphere``: Gaussian rows, i.e. uniform on the unit sphere;
- ``authors``: ``randint(-100, 100)`` per entry (the authors' code), bias 0.01 per class;
- ``simplex-etf``: a simplex equiangular tight frame (pairwise cos = -1/(C-1)) in a random
  C-dimensional subspace (needs d >= C);
- ``hadamard``: rows 1..C of a Hadamard matrix (Hoffer et al. 2018), first d columns.

``learn_scale`` makes S a parameter (Hoffer et al.'s fixed Hadamard head learns it; with a
learned cosine head it is NormFace). ``margin`` m > 0 is CosFace: in training mode, given the
labels, the true class's logit becomes S * (cos(h, w_y) - m) + b_y; evaluation logits carry no margin.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from robeval.core.errors import RobevalError
from robeval.core.registry import Registry
from robeval.models.kinds import HEAD_MODES, LOGITS_KINDS

INITS: Registry[Callable[[int, int, np.random.Generator], np.ndarray]] = Registry("init")


def _normalise(w: np.ndarray) -> np.ndarray:
    return w / np.linalg.norm(w, axis=1, keepdims=True)


@INITS.register("sphere")
def init_sphere(c: int, d: int, rng: np.random.Generator) -> np.ndarray:
    return _normalise(rng.standard_normal((c, d)))


@INITS.register("authors")
def init_authors(c: int, d: int, rng: np.random.Generator) -> np.ndarray:
    return _normalise(rng.integers(-100, 100, size=(c, d)).astype(np.float64))


@INITS.register("simplex-etf")
def init_simplex_etf(c: int, d: int, rng: np.random.Generator) -> np.ndarray:
    if d < c:
        raise RobevalError(f"a simplex ETF of {c} classes needs feature dim >= {c}, got {d}")
    basis, _ = np.linalg.qr(rng.standard_normal((d, c)))  # d x c, orthonormal columns
    etf = math.sqrt(c / (c - 1)) * (np.eye(c) - np.ones((c, c)) / c)
    return _normalise(etf @ basis.T)


@INITS.register("hadamard")
def init_hadamard(c: int, d: int, rng: np.random.Generator) -> np.ndarray:
    from scipy.linalg import hadamard

    n = 1
    while n < max(c + 1, d):  # Sylvester's construction exists for powers of two
        n *= 2
    return _normalise(hadamard(n)[1 : c + 1, :d].astype(np.float64))


def draw_class_vectors(init: str, num_classes: int, dim: int, seed: int) -> torch.Tensor:
    """The class vectors for ``seed``: the same seed always gives the same W (float32, C x d)."""
    rng = np.random.default_rng([seed, 1_000_003])
    return torch.from_numpy(INITS.get(init)(num_classes, dim, rng)).float()


class ClassifierHead(nn.Module):
    def __init__(
        self,
        dim: int,
        num_classes: int,
        train: str = "learned",
        logits: str = "dot",
        scale: float = 1.0,
        bias: bool = True,
        init: str = "sphere",
        seed: int = 0,
        learn_scale: bool = False,
        margin: float = 0.0,
    ) -> None:
        super().__init__()
        mode = HEAD_MODES.get(train)
        self.kind = LOGITS_KINDS.get(logits)
        if not scale > 0:
            raise RobevalError(f"the cosine scale S must be > 0, got {scale}")
        if margin and not self.kind.uses_margin:
            raise RobevalError(f"a margin applies to cosine logits only; {logits} logits have none")
        self.train_mode, self.logits_kind, self.init, self.margin = train, logits, init, float(margin)
        weight = draw_class_vectors(init, num_classes, dim, seed)
        bias_value = torch.full((num_classes,), 0.01 if init == "authors" else 0.0)
        if not bias:
            bias_value.zero_()
        self.use_bias = bias
        if not mode.trainable:
            self.register_buffer("weight", weight)
            self.register_buffer("bias", bias_value)
        else:
            self.weight = nn.Parameter(weight)
            if bias:
                self.bias = nn.Parameter(bias_value)
            else:
                self.register_buffer("bias", bias_value)
        scale_t = torch.tensor(float(scale))
        if learn_scale:
            self.scale = nn.Parameter(scale_t)
        else:
            self.register_buffer("scale", scale_t)

    def forward(self, features: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Logits; with ``labels`` in training mode the CosFace margin is taken off the true class."""
        logits = self.kind.forward(features, self.weight, self.scale)
        if self.margin and self.training and labels is not None:
            onehot = torch.nn.functional.one_hot(labels, logits.shape[1]).to(logits.dtype)
            logits = logits - self.scale * self.margin * onehot
        return logits + self.bias

    def extra_repr(self) -> str:
        c, d = self.weight.shape
        s = f", S={float(self.scale):g}" if self.kind.uses_scale else ""
        s += f", m={self.margin:g}" if self.margin else ""
        return f"{self.train_mode} {self.logits_kind}{s}, init={self.init}, C={c}, d={d}"
