import numpy as np
import pytest
import torch

from robeval.core.errors import RobevalError
from robeval.models import INITS, ClassifierHead, draw_class_vectors


@pytest.mark.parametrize("init", INITS.names())
def test_class_vectors_are_unit_norm_and_seeded(init):
    a = draw_class_vectors(init, 10, 128, seed=3)
    b = draw_class_vectors(init, 10, 128, seed=3)
    assert torch.equal(a, b)
    np.testing.assert_allclose(a.norm(dim=1).numpy(), 1.0, atol=1e-6)
    if init in ("sphere", "authors"):
        assert not torch.equal(a, draw_class_vectors(init, 10, 128, seed=4))


def test_simplex_etf_pairwise_cosine():
    w = draw_class_vectors("simplex-etf", 10, 64, seed=0).double()
    cos = w @ w.t()
    off = cos[~torch.eye(10, dtype=bool)]
    np.testing.assert_allclose(off.numpy(), -1 / 9, atol=1e-6)


def test_hadamard_rows_orthogonal():
    w = draw_class_vectors("hadamard", 10, 128, seed=0).double()
    np.testing.assert_allclose((w @ w.t()).numpy(), np.eye(10), atol=1e-9)


def test_simplex_etf_needs_enough_dimensions():
    with pytest.raises(RobevalError, match="needs feature dim"):
        draw_class_vectors("simplex-etf", 100, 64, seed=0)


@pytest.mark.parametrize("scale", [1.0, 7.5])
def test_cosine_logits_bounded_by_scale(scale):
    head = ClassifierHead(32, 10, "fixed", "cosine", scale=scale, bias=False)
    logits = head(torch.randn(256, 32) * 100)
    assert logits.abs().max() <= scale + 1e-5
    # features equal to a class vector reach the bound exactly
    hit = head(head.weight[3:4] * 5.0)
    assert hit[0, 3].item() == pytest.approx(scale, abs=1e-5)


def test_dot_logits_are_plain_affine():
    head = ClassifierHead(16, 4, "learned", "dot")
    h = torch.randn(8, 16)
    torch.testing.assert_close(head(h), h @ head.weight.t() + head.bias)


def test_fixed_head_has_no_parameters_and_saves_its_vectors():
    head = ClassifierHead(16, 4, "fixed", "dot", seed=5)
    assert list(head.parameters()) == []
    state = head.state_dict()
    assert torch.equal(state["weight"], draw_class_vectors("sphere", 4, 16, seed=5))
    assert "bias" in state


def test_authors_init_bias():
    head = ClassifierHead(16, 4, "learned", "dot", init="authors")
    torch.testing.assert_close(head.bias.detach(), torch.full((4,), 0.01))


def test_bad_scale_rejected():
    with pytest.raises(RobevalError, match="must be > 0"):
        ClassifierHead(16, 4, "fixed", "cosine", scale=0)
