"""Every claim, section and figure of the report run on a real tiny study (conftest.tiny_study),
not on empty inputs: each gives well-formed output, and output at all where the study holds what
it reads. A new record is tested here without a new test."""

from __future__ import annotations

import re
import shutil

import pytest

from robeval.render.document import to_html, to_markdown
from robeval.stages.report import aggregate, collect, paired_rows
from robeval.stages.report.claims import (
    CLAIMS,
    ClaimInputs,
    build_claims,
    geometry_rows,
    geometry_summary,
)
from robeval.stages.report.field import field_results
from robeval.stages.report.figures import FIGURES, FigureContext
from robeval.stages.report.page import SECTIONS, ReportInputs, ensure_analysis

# a verdict starts with one of these (claims.py: gain_verdict, kept_verdict, _overall, extra_heads)
VERDICT = re.compile(r"(supported|contradicted|inconclusive|consistent|not supported|not reachable|"
                     r"measured|mixed|"
                     r"one seed|n = \d+ seeds|better|worse)\b")
BLOCK_KINDS = {"h", "p", "note", "ul", "table", "img", "figures", "pre", "details", "fold", "row"}
# sections that read an input a plain set of runs does not have (None: shown without it)
NEEDS_MORE = {"tuning": "sweep: the learning-rate sweep of robeval reproduce --lrs"}


@pytest.fixture(scope="module")
def study(tiny_study, tmp_path_factory):
    """The report's inputs, built as page._build builds them, on copies of the tiny study."""
    root = tmp_path_factory.mktemp("report-records")
    dirs = [shutil.copytree(d, root / "runs" / d.name) for d in tiny_study]
    records = collect(dirs)
    rows, paired = aggregate(records), paired_rows(records)
    notes = ensure_analysis(records, analyze=False, plots=False)
    geo = geometry_rows(records)
    geo_sum = geometry_summary(geo, records)
    env = {"git_sha": "x", "python": "3", "platform": "p", "libraries": {}, "time_utc": "t"}
    x = ReportInputs(records, rows, paired, env, notes, geo, geo_sum,
                     build_claims(records, paired, geo_sum), field=field_results(records, None, None))
    from robeval.render.figures import palette

    out = root / "report"
    colours = palette(list(dict.fromkeys(r["variant"] for r in rows)))
    context = FigureContext(records, rows, out, colours)
    x.figs = {f.name: f.draw(context) for f in FIGURES.records()}
    return x, context


@pytest.mark.parametrize("claim", CLAIMS.records(), ids=lambda c: c.name)
def test_every_claim_judges_the_tiny_study(claim, study):
    x, _ = study
    evidence, verdict = claim.judge(ClaimInputs(x.records, x.paired, x.geo_sum))
    assert VERDICT.match(verdict), f"{claim.name}: verdict {verdict!r} is none of the known ones"
    # the tiny study holds every claim's inputs (pairs, S = 1 heads, an extra head, corruptions,
    # a shifted set, geometry): extend conftest.tiny_study when a new claim needs more
    assert list(evidence) and all(isinstance(line, str) and line for line in evidence), claim.name
    assert claim.title and claim.claim and claim.paper


@pytest.mark.parametrize("figure", FIGURES.records(), ids=lambda f: f.name)
def test_every_figure_draws_the_tiny_study(figure, study):
    x, context = study
    drawn = x.figs[figure.name]
    assert drawn, f"{figure.name}: nothing drawn from a study that holds its inputs"
    assert len({p for p, _ in drawn}) == len(drawn)  # no two figures in one file
    for path, caption in drawn:
        f = context.out / path
        assert f.is_file() and f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
        assert caption.strip(), path


def _walk(blocks: list) -> list[tuple]:
    out = []
    for b in blocks:
        out.append(b)
        if b[0] == "fold":
            out += _walk(b[2])
        elif b[0] == "row":
            out += _walk(b[1])
    return out


@pytest.mark.parametrize("section", SECTIONS.records(), ids=lambda s: s.name)
def test_every_section_renders_the_tiny_study(section, study):
    x, context = study
    blocks = section.blocks(x)
    assert isinstance(blocks, list)
    if section.name in NEEDS_MORE:
        assert getattr(x, NEEDS_MORE[section.name].split(":")[0]) is None
    else:
        assert blocks, f"{section.name}: no blocks from a study of {len(x.records)} runs"
    for b in _walk(blocks):
        assert isinstance(b, tuple) and b[0] in BLOCK_KINDS, b
        if b[0] == "table":
            assert all(len(row) == len(b[1]) for row in b[2]), f"{section.name}: ragged table"
        for path in ([b[1]] if b[0] == "img" else [p for p, _ in b[1]] if b[0] == "figures" else []):
            assert (context.out / path).is_file(), f"{section.name} shows {path}, which was not drawn"
    md = to_markdown(blocks)
    page = re.sub(r"data:image/png;base64,[^\"]*", "", to_html(blocks, context.out, "t"))
    assert not re.search(r"\bnan\b", md + page, re.IGNORECASE), section.name
