"""Every Registry in robeval has a test parametrised over every entry, and docs/architecture.md's
extension table lists exactly the registries there are (issue 29).

COVERED names, per registry, the tests that take each of its entries as a parameter; the check
imports each test and reads its ``parametrize`` values, so a test that lists entries by hand and
misses one fails too. A new Registry fails here until a row names its test.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from robeval.core.registry import Registry
from tests.registry_scan import Found, coverage_problems, find_registries

REG = "tests/test_registries.py"
CONTRACTS = "tests/test_registry_contracts.py"
RECORDS = "tests/test_report_records.py"
COVERED: dict[str, list[str]] = {
    "robeval.analysis.condition_metrics.CONDITION_METRICS": [
        "tests/test_field_metrics.py::test_every_condition_metric_record"],
    "robeval.analysis.condition_kinds.CONDITION_KINDS": [
        "tests/test_kinds.py::test_every_condition_kind_record_is_complete"],
    "robeval.analysis.metrics.METRICS": [f"{REG}::test_every_metric_on_degenerate_inputs"],
    "robeval.analysis.study_metrics.STUDY_METRICS": [f"{CONTRACTS}::test_every_study_metric_is_described"],
    "robeval.conditions.base.SOURCES": [f"{REG}::test_every_condition_source_resolves_its_group"],
    "robeval.conditions.genset.BUILTIN_GENSETS": [
        f"{CONTRACTS}::test_every_builtin_genset_loads_with_its_datasets_classes"],
    "robeval.conditions.released.BENCHMARKS": [
        f"{CONTRACTS}::test_every_released_benchmark_is_declared_for_a_dataset"],
    "robeval.corruptions.family.FAMILIES": [f"{REG}::test_every_family_and_table"],
    "robeval.corruptions.tables.TABLES": [f"{REG}::test_every_family_and_table"],
    "robeval.data.gensets.build.BUILDERS": [
        f"{CONTRACTS}::test_every_genset_builder_builds_two_items_from_local_files"],
    "robeval.data.loading.DATASETS": [f"{REG}::test_every_dataset_record_matches_what_loads"],
    "robeval.models.encoders.ENCODERS": [f"{REG}::test_encoder_declared_dim_and_sign"],
    "robeval.models.heads.INITS": [f"{REG}::test_every_init_head_mode_and_logits_kind"],
    "robeval.models.kinds.HEAD_MODES": [f"{REG}::test_every_init_head_mode_and_logits_kind",
                                        f"{REG}::test_every_preset_resolves_for_every_head"],
    "robeval.models.kinds.LOGITS_KINDS": [f"{REG}::test_every_init_head_mode_and_logits_kind",
                                          "tests/test_kinds.py::test_every_logits_kind_has_a_label_and_preset_numbers",
                                          f"{REG}::test_every_preset_resolves_for_every_head"],
    "robeval.models.preprocess.PIPELINES": [
        f"{CONTRACTS}::test_every_pipeline_refuses_an_unknown_arg_in_one_line"],
    "robeval.models.sources.MODEL_SOURCES": [
        f"{CONTRACTS}::test_every_model_source_refuses_an_unknown_arg_in_one_line"],
    "robeval.runs.destinations.OUTPUT_KINDS": [
        f"{CONTRACTS}::test_every_output_kind_is_recognised_by_its_own_rule"],
    "robeval.stages.export.FORMATS": [f"{CONTRACTS}::test_every_export_format_writes_rows_under_its_suffixes"],
    "robeval.stages.headsets.HEAD_SETS": [f"{CONTRACTS}::test_every_head_set_names_valid_distinct_variants",
                                          "tests/test_kinds.py::test_every_head_set_resolves_and_its_variants_parse_back"],
    "robeval.stages.launchers.base.LAUNCHERS": [
        f"{CONTRACTS}::test_every_launcher_checks_options_with_one_line_errors"],
    "robeval.stages.report.claims.CLAIMS": [f"{REG}::test_every_claim_judges_empty_inputs",
                                            f"{RECORDS}::test_every_claim_judges_the_tiny_study"],
    "robeval.stages.report.figures.FIGURES": [f"{RECORDS}::test_every_figure_draws_the_tiny_study"],
    "robeval.stages.report.page.SECTIONS": [f"{REG}::test_every_section_returns_blocks",
                                            f"{RECORDS}::test_every_section_renders_the_tiny_study"],
    "robeval.training.optim.SCHEDULERS": [f"{REG}::test_every_scheduler_builds_and_steps_as_declared"],
    "robeval.training.presets.PRESETS": [f"{REG}::test_every_preset_resolves_for_every_head"],
}


@pytest.fixture(scope="module")
def registries() -> list[Found]:
    return find_registries()


def test_every_registry_has_a_test_over_every_entry(registries):
    assert registries
    problems = coverage_problems(registries, COVERED)
    assert not problems, "\n".join(problems)


# ------------------------------------------------ the checker fails where it should

@pytest.mark.parametrize("name", ["alpha", "beta"])
def _over_two(name):
    """Not a test (leading underscore): a parametrised function the checker reads."""


def test_a_new_registry_without_a_test_is_named():
    fake = Found("robeval.fake", "FAKES", Registry("fake"))
    (problem,) = coverage_problems([fake], {})
    assert "robeval.fake.FAKES has no test" in problem


def test_a_test_that_misses_an_entry_is_named():
    reg = Registry("fake")
    for name in ("alpha", "beta", "gamma"):
        reg.register(name)(object())
    fake = Found("robeval.fake", "FAKES", reg)
    ref = "tests/test_registry_coverage.py::_over_two"
    (problem,) = coverage_problems([fake], {fake.key: [ref]})
    assert "missing gamma" in problem and "robeval.fake.FAKES" in problem
    (problem,) = coverage_problems([fake], {fake.key: ["tests/test_registry_coverage.py::nope"]})
    assert "no such test" in problem
    assert coverage_problems([], {fake.key: [ref]}) == [
        "COVERED names robeval.fake.FAKES, which is not a Registry in robeval"]


# ------------------------------------------------ docs/architecture.md's extension table

ARCHITECTURE = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"


def documented_registries(text: str) -> dict[str, str]:
    """registry name -> the module its row says defines it (the second column), from the table
    under '## Extension points'."""
    section = text.split("## Extension points", 1)[1].split("\n## ", 1)[0]
    out = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`"):
            continue
        for name in re.findall(r"`([A-Z_]+)`", cells[0]):
            out[name] = cells[1].strip("`")
    return out


def test_architecture_extension_table_lists_every_registry(registries):
    rows = documented_registries(ARCHITECTURE.read_text(encoding="utf-8"))
    actual = {f.name: f.module.replace(".", "/") + ".py" for f in registries}
    assert len(actual) == len(registries), "two registries share a name: the table cannot tell them apart"
    missing = [f"{n} ({p})" for n, p in actual.items() if n not in rows]
    extra = [n for n in rows if n not in actual]
    wrong = [f"{n}: table says {rows[n]}, it is in {p}" for n, p in actual.items()
             if n in rows and rows[n] != p]
    assert not (missing or extra or wrong), (
        f"docs/architecture.md's extension table is out of date: missing rows {missing}; rows for "
        f"no registry {extra}; wrong files {wrong}")
