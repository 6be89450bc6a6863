"""The reading rules a model keeps as they were when it trained (reader.VERSIONED_RULES): one list makes a model's
flags from the reading it trained under, leaves out of its checkpoint the rules it was trained before, and reads its
flags back (preprocess.reading_of). Each rule's own behaviour, and a model trained before it, are tested with the
rule (test_durations.py, test_blank_rows.py, ...); here, that the list and the two dataclasses agree, so that a rule
added to one and not the others is caught before a model is trained with it."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pandas as pd
import pytest

from tui.core.preprocess import Preprocessor, reading_of
from tui.core.reader import VERSIONED_RULES, Reading

MORE_THAN_A_FLAG = {"decimal", "number_marks", "duration_forms"}  # kept beside the list, each in its own form
DERIVED = {"question_marks", "marks", "known", "text", "headerless"}  # worked out from a model's other fields


def test_each_rule_is_on_in_todays_reading_and_off_in_a_model_trained_before_it():
    reading = {f.name: f.default for f in fields(Reading)}
    model = {f.name: f.default for f in fields(Preprocessor)}
    assert len(set(VERSIONED_RULES)) == len(VERSIONED_RULES)
    assert all(reading[rule] is True and model[rule] is False for rule in VERSIONED_RULES)
    # every field of Reading is a rule of the list, kept beside it, or worked out from the model
    assert set(reading) == set(VERSIONED_RULES) | MORE_THAN_A_FLAG | DERIVED


def model(rules: Reading) -> Preprocessor:
    """A model fitted on a small table, its rows read by `rules`."""
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": [0.5, 1.5, 2.5, 3.0]})
    return Preprocessor.fit(frame, np.arange(4), ["y"], ["x"], "regression", [], False, rules=rules)


def test_a_model_trained_today_reads_by_todays_rules_and_writes_each_of_them():
    pre = model(Reading())
    saved = pre.to_dict()
    assert all(saved[rule] is True for rule in VERSIONED_RULES)
    back = reading_of(saved)
    assert all(getattr(back, rule) is True for rule in VERSIONED_RULES)


@pytest.mark.parametrize("rule", VERSIONED_RULES)
def test_a_model_trained_before_a_rule_lacks_it_in_its_checkpoint_and_reads_without_it(rule):
    """As a torchtui before the rule wrote it: the field absent (a resume compares the checkpoint's preprocessing
    with the one made again, so a False written where an old model wrote nothing would be 'data changed')."""
    saved = model(Reading(**{rule: False})).to_dict()
    assert rule not in saved
    back = reading_of(saved)
    assert getattr(back, rule) is False
    assert all(getattr(back, other) is True for other in VERSIONED_RULES if other != rule)
    assert model(back).to_dict() == saved  # read back and made again: the same model, no 'data changed'
