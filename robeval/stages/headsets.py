"""Named head-sets for ``robeval reproduce --heads``: the one definition of which head variants
the grid trains.

    robeval reproduce --heads paper             # the paper's 2 x 2: {learned, fixed} x {dot, cosine}
    robeval reproduce --heads paper,extra       # + fixed simplex-ETF (dot, cosine) and fixed Hadamard
    robeval reproduce --heads paper,baselines   # + NormFace, CosFace, Hoffer et al.'s Hadamard head
    robeval reproduce --heads paper,fixed-cosine-hadamard-learnS   # + one variant by its name

``--heads`` takes head-set names and head variants (as run names spell them without S:
``fixed-cosine-simplex-etf``, ``learned-cosine-m0.35``, ``learned-cosine-learnS``), separated by
commas; the grid is their variants in order, each once. Each cosine variant trains at every
``--scales`` value (a learned S starts there); with several, reproduce keeps the S chosen on
validation (stages/tuning.py). Adding a head-set is one record here: ``--heads``, its ``--help``
and the tests read HEAD_SETS.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from robeval.core.errors import RobevalError
from robeval.core.registry import Registry
from robeval.models.kinds import HEAD_MODES, LOGITS_KINDS
from robeval.runs import variant

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

    @property
    def name(self) -> str:
        """How ``--heads`` and run names spell it (without S): 'fixed-cosine-hadamard-learnS'."""
        return variant({"head": self.head, "logits": self.logits, "init": self.init,
                        "learn_scale": self.learn_scale, "margin": self.margin}, with_scale=False)


@dataclass(frozen=True)
class HeadSet:
    """``variants`` in grid order, after those of the head-sets in ``sets``; ``takes_init``: its
    variants are drawn with the plan's class-vector init (ReproducePlan.init; the paper's grid),
    not their own."""

    name: str
    variants: tuple[HeadVariant, ...] = ()
    description: str = ""
    takes_init: bool = False
    sets: tuple[str, ...] = ()

    def grid(self, init: str = "sphere") -> list[HeadVariant]:
        own = [replace(v, init=init) for v in self.variants] if self.takes_init else list(self.variants)
        grid = [v for name in self.sets for v in HEAD_SETS.get(name).grid(init)]
        return grid + [v for v in own if v not in grid]


PAPER = tuple(HeadVariant(h, lg) for h, lg in (("learned", "dot"), ("fixed", "dot"),
                                               ("learned", "cosine"), ("fixed", "cosine")))
# the geometry neural-collapse theory predicts (simplex ETF) and Hoffer et al. 2018's fixed
# Hadamard head with a learned scale
EXTRA = (HeadVariant("fixed", "dot", "simplex-etf", label="fixed simplex ETF (dot)"),
         HeadVariant("fixed", "cosine", "simplex-etf", label="fixed simplex ETF (cosine)"),
         HeadVariant("fixed", "cosine", "hadamard", learn_scale=True,
                     label="Hoffer et al. fixed Hadamard, learned S"))
BASELINES = (
    HeadVariant("learned", "cosine", learn_scale=True, label="NormFace (learned S)"),
    HeadVariant("learned", "cosine", margin=COSFACE_MARGIN, label=f"CosFace (m={COSFACE_MARGIN:g})"),
    HeadVariant("fixed", "cosine", "hadamard", learn_scale=True, label="Hoffer et al. fixed Hadamard, learned S"),
)

HEAD_SETS: Registry[HeadSet] = Registry("head-set")
for _set in (HeadSet("paper", PAPER, "the paper's 2 x 2 grid", takes_init=True),
             HeadSet("extra", EXTRA, "fixed simplex-ETF heads (dot, cosine) and Hoffer et al.'s "
                                     "fixed Hadamard head with learned S"),
             HeadSet("baselines", BASELINES, "NormFace, CosFace (m=0.35) and Hoffer et al.'s fixed "
                                             "Hadamard head with learned S"),
             HeadSet("paper+baselines", description="the paper's grid + NormFace, CosFace and "
                                                    "Hoffer et al.'s fixed Hadamard head",
                     sets=("paper", "baselines"))):
    HEAD_SETS.add(_set)


def _variant_named(name: str) -> HeadVariant | None:
    """A head variant from its name (HeadVariant.name): HEAD-LOGITS[-mMARGIN][-INIT][-learnS],
    HEAD and LOGITS among the registered ones (a name may hold dashes); None when it is none."""
    from robeval.models import INITS  # here, so --help (which lists HEAD_SETS) loads no torch

    for head in HEAD_MODES:
        for logits in LOGITS_KINDS:
            prefix = f"{head}-{logits}"
            if name != prefix and not name.startswith(prefix + "-"):
                continue
            rest = name[len(prefix) + 1:]
            learn = rest == "learnS" or rest.endswith("-learnS")
            rest = rest.removesuffix("learnS").removesuffix("-")
            margin = 0.0
            m, _, after = rest.partition("-")
            if m.startswith("m"):
                try:
                    margin, rest = float(m[1:]), after
                except ValueError:  # an init that starts with m
                    pass
            init = rest or "sphere"
            v = HeadVariant(head, logits, init, learn, margin)
            if init in INITS and v.name == name:  # a spelling run names never use is refused
                return v
    return None


def head_grid(heads: str, init: str = "sphere") -> list[HeadVariant]:
    """The variants ``--heads`` names, in order, each once: head-set names and head variants
    separated by commas (``paper,extra``; ``paper,fixed-cosine-hadamard-learnS``)."""
    grid: list[HeadVariant] = []
    words = [w.strip() for w in heads.split(",") if w.strip()]
    if not words:
        raise RobevalError(f"--heads is empty; give a head-set ({', '.join(HEAD_SETS)}) or head "
                           "variants such as fixed-cosine-simplex-etf, separated by commas")
    for word in words:
        if word in HEAD_SETS:
            named = HEAD_SETS.get(word).grid(init)
        elif (v := _variant_named(word)) is not None:
            named = [v]
        else:
            raise RobevalError(f"unknown head-set or head variant {word!r} in --heads; head-sets: "
                               f"{', '.join(HEAD_SETS)}; a variant is spelled as in run names "
                               "without S, e.g. fixed-cosine-simplex-etf or learned-cosine-learnS")
        grid += [v for v in named if v not in grid]
    return grid
