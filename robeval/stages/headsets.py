"""Named head-sets for ``robeval reproduce --heads``: which head variants the grid trains.

    robeval reproduce --heads paper             # the paper's 2 x 2: {learned, fixed} x {dot, cosine}
    robeval reproduce --heads paper+baselines   # + NormFace, CosFace, Hoffer et al.'s Hadamard head

Each cosine variant trains at every ``--scales`` value (a learned S starts there); with several,
reproduce keeps the S chosen on validation (stages/tuning.py). Adding a head-set is one record here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from robeval.core.registry import Registry

COSFACE_MARGIN = 0.35  # Wang et al. 2018's default m


@dataclass(frozen=True)
class HeadVariant:
    """One grid row: head mode, logits kind, class-vector init, learned S, CosFace margin."""

    head: str
    logits: str
    init: str = "sphere"
    learn_scale: bool = False
    margin: float = 0.0
    label: str = field(default="", compare=False)  # a readable name for docs and --help


@dataclass(frozen=True)
class HeadSet:
    """``paper``: the paper's 2 x 2 (reproduce.PAPER_GRID, with ReproducePlan.init); then ``extra``."""

    name: str
    paper: bool
    extra: tuple[HeadVariant, ...] = ()
    description: str = ""


BASELINES = (
    HeadVariant("learned", "cosine", learn_scale=True, label="NormFace (learned S)"),
    HeadVariant("learned", "cosine", margin=COSFACE_MARGIN, label=f"CosFace (m={COSFACE_MARGIN:g})"),
    HeadVariant("fixed", "cosine", "hadamard", learn_scale=True, label="Hoffer et al. fixed Hadamard, learned S"),
)

HEAD_SETS: Registry[HeadSet] = Registry("head-set")
for _set in (HeadSet("paper", True, description="the paper's 2 x 2 grid"),
             HeadSet("paper+baselines", True, BASELINES,
                     description="the paper's grid + NormFace, CosFace and Hoffer et al.'s fixed Hadamard head")):
    HEAD_SETS.add(_set)
