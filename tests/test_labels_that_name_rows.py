"""A text target with most rows a label of its own (a name, an id) is refused before training: it trained 200
classes of one row each, 40 of them never in the training split, and its warning listed all 40
(tui/core/data.py, `_refuse_labels_that_name_rows`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from tui.cli import app
from tui.core import data, job
from tui.core.errors import UserError
from tui.core.reader import Reading
from tui.core.spec import DataSpec

from conftest import make_spec, trained_before_the_rule


def people(path, n: int = 200, names: int | None = None) -> str:
    r = np.random.default_rng(0)
    frame = pd.DataFrame({"age": r.integers(20, 61, n), "height": r.integers(150, 201, n),
                          "name": [f"person_{i % (names or n)}" for i in range(n)]})
    frame.to_csv(path, index=False)
    return str(path)


def test_a_name_in_the_target_column_is_refused_with_the_fix(tmp_path):
    csv = people(tmp_path / "people.csv")
    with pytest.raises(UserError) as last:
        data.prepare(DataSpec(dataset=csv), 0)
    assert str(last.value) == (
        f"target name in {csv} holds 200 distinct labels in 200 rows, most rows a label of its own: it names rows "
        "(an id, a name), not classes a model can learn; name is the last column, the target unless --target names "
        "another: --target NAME (--task classification trains on it as it is)")
    done = CliRunner().invoke(app, ["run", "--dataset", csv, "--target", "name", "--runs-dir", str(tmp_path / "r")])
    assert done.exit_code == 2 and done.stderr.startswith(
        f"error: target name in {csv} holds 200 distinct labels in 200 rows, most rows a label of its own: it names "
        "rows (an id, a name), not classes a model can learn; name the column to predict, --target NAME (--task "
        "classification trains on it as it is)\n"), done.output
    assert not (tmp_path / "r").exists()


def test_asked_for_it_trains_with_a_warning_and_the_absent_classes_are_counted_not_listed(tmp_path):
    csv = people(tmp_path / "people.csv")
    notices = data.prepare(DataSpec(dataset=csv, task="classification"), 0).notices
    assert "warning: target name in " + csv + " holds 200 distinct labels in 200 rows, most rows a label of its " \
           "own: it names rows (an id, a name), not classes a model can learn" in notices
    [absent] = [n for n in notices if n.startswith("warning: classes absent from the training split: ")]
    listed = absent.split(": ", 2)[2]
    assert listed.count("person_") == 10 and listed.endswith(" ... (40 in all)"), absent


def test_labels_rows_share_are_classes_still(tmp_path):
    """Half the rows a label of their own is the line: 80 names of 2-3 rows each in 200 rows train as classes;
    and a text label is not offered regression, which refuses it."""
    prepared = data.prepare(DataSpec(dataset=people(tmp_path / "shared.csv", names=80)), 0)
    assert len(prepared.pre.classes) == 80
    assert "task: classification, because target name holds text labels" in prepared.notices
    few = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 5.0], "y": ["a", "b", "c", "a", "b"]})  # 3 labels, 5 rows
    few.to_csv(tmp_path / "few.csv", index=False)
    assert data.prepare(DataSpec(dataset=str(tmp_path / "few.csv")), 0).pre.classes == ["a", "b", "c"]


def test_a_model_trained_before_the_rule_resumes_as_it_trained(tmp_path, monkeypatch):
    """Trained on 200 names before the refusal: its resume re-reads the data, and must not be refused for it."""
    spec = make_spec(tmp_path, data__dataset=people(tmp_path / "people.csv"), train__epochs=1)
    rules_then = (*job.plan.__defaults__[:-1], Reading(named_rows=False))
    folder, saved = trained_before_the_rule(monkeypatch, spec, "named_rows", [(job.plan, "__defaults__", rules_then)])
    assert len(saved["classes"]) == 200
    resumed, _ = job.resume(folder.path, lambda e: None, epochs=2)
    assert resumed.progress.epoch == 2
    with pytest.raises(UserError, match="most rows a label of its own"):  # a new run of it is refused
        job.plan(spec)
