"""One --conditions grammar: the same words name the same conditions through every verb's path."""

import pytest
from click.testing import CliRunner

from robeval.cli import cli
from robeval.conditions import parse_conditions
from robeval.core.errors import RobevalError
from robeval.stages.corrupt import corruptions_to_build
from robeval.stages.evaluate import check_conditions

WORDS = "defocus_blur,impulse_noise/2,corrupt:noise"


def test_the_same_words_name_the_same_corruptions_in_eval_and_corrupt():
    evaluated = [c.name for c in parse_conditions(WORDS, "shapes")]
    built = [s.name for s in corruptions_to_build(WORDS, "shapes")]
    assert evaluated == built
    assert evaluated[:6] == [f"defocus_blur/{s}" for s in range(1, 6)] + ["impulse_noise/2"]
    check_conditions(WORDS, "shapes")  # eval --import-checkpoint and reproduce refuse nothing here


def test_an_unknown_word_is_one_line_listing_what_is_accepted():
    for parse in (lambda w: parse_conditions(w, "shapes"), lambda w: corruptions_to_build(w, "shapes")):
        with pytest.raises(RobevalError) as err:
            parse("clean,nosuch")
        line = str(err.value)
        assert "\n" not in line and "unknown condition 'nosuch'" in line
        assert all(w in line for w in ("corrupt:GROUP", "FAMILY/S[@TABLE]", "genset:NAME", "defocus_blur"))


def test_corrupt_refuses_a_word_it_cannot_build_and_writes_nothing(tmp_path):
    res = CliRunner().invoke(cli, ["corrupt", "--dataset", "shapes", "--conditions", "clean",
                                   "--data-dir", str(tmp_path / "d")])
    assert res.exit_code != 0 and "clean: robeval corrupt builds corrupted copies" in res.output
    assert not (tmp_path / "d").exists()
