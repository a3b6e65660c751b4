"""The ``clean`` condition: the dataset's own test split."""

from __future__ import annotations

from robeval.conditions.base import Condition, ConditionSource, register_source


def clean_conditions(dataset: str) -> list[Condition]:
    return [Condition("clean", "clean", lambda ctx: ctx.clean_test, family="clean")]


register_source(ConditionSource("clean", clean_conditions, description="the test split as it is"))
