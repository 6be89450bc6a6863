"""The Data pane's choices of columns, split and file format, against what preparation makes of them.

The Features list ticked every column that was not dropped, so an id or a constant column the checks leave out
showed as an input while the model never saw it, and there was no way to use it from the screen. The pane's
warnings and notices told the screen's user to pass flags (`--group COL`, `--encoding`, `--skip-rows 0`) the
screen had no field for. Each test here failed before the fix; what the screen prepares is checked against
the core's own preparation of the same choices."""

from __future__ import annotations

import ast
import csv
import random
import re
from pathlib import Path

import torch
from textual.widgets import Collapsible, Input, Select, SelectionList

from tui.app import screen_words
from tui.app.app import TorchTUI
from tui.app.data_pane import NEW_TABLE
from tui.core.data import prepare
from tui.core.spec import DataSpec

# in_tmp: test_app's autouse fixture (each test in its own folder, no worker left behind), used here too
from test_app import Notices, cpu_spec, data_loaded, in_tmp, run_events, running, text_of, wait_for  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]

SIZE = (100, 30)


def patients(path, rows: int = 300) -> str:
    """Visits of 40 patients: a row number (an id: left out by the checks), a constant column (left out), the
    patient (a group: several rows each), age and dose, and the outcome."""
    rng = random.Random(1)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["row_id", "patient", "age", "const", "dose", "outcome"])
        for i in range(rows):
            age, dose = rng.randint(20, 80), rng.random()
            w.writerow([i + 1, rng.randint(1, 40), age, 7, round(dose, 3), "yes" if dose + age / 100 > 1 else "no"])
    return str(path)


def features(app: TorchTUI) -> dict[str, bool]:
    """The Features list as shown: column -> ticked."""
    box = app.query_one("#data-features", SelectionList)
    chosen = set(box.selected)
    return {box.get_option_at_index(i).value: box.get_option_at_index(i).value in chosen
            for i in range(box.option_count)}


async def reloaded(app, pilot, check) -> None:
    await wait_for(pilot, lambda: app.data is not None and app.data.spec == app.spec.data and check(), what="reload")
    await pilot.pause(0.1)


async def test_the_features_list_shows_what_the_model_takes_and_a_left_out_column_can_be_ticked(tmp_path):
    data = patients(tmp_path / "patients.csv")
    app = TorchTUI(cpu_spec(**{"data.dataset": data}))
    async with running(app, SIZE) as pilot:
        await data_loaded(app, pilot)
        assert app.data.prepared.pre.feature_names == ["patient", "age", "dose"]
        assert features(app) == {"row_id": False, "patient": True, "age": True, "const": False, "dose": True}
        box = app.query_one("#data-features", SelectionList)
        labels = {box.get_option_at_index(i).value: str(box.get_option_at_index(i).prompt)
                  for i in range(box.option_count)}
        assert "left out" in labels["row_id"] and "left out" in labels["const"] and "left out" not in labels["age"]

        # Unticking an input drops it (the left-out ones are not written into drop: nobody chose them).
        box.deselect("dose")
        await reloaded(app, pilot, lambda: app.data.prepared.pre.feature_names == ["patient", "age"])
        assert app.spec.data.drop == ["dose"] and app.spec.data.features == []

        # Ticking a left-out column names the inputs outright, as --features does: the model takes it.
        box.select("row_id")
        await reloaded(app, pilot, lambda: app.spec.data.features != [])
        assert app.spec.data.features == ["row_id", "patient", "age"] and app.spec.data.drop == []
        assert app.data.prepared.pre.feature_names == ["row_id", "patient", "age"]
        assert features(app) == {"row_id": True, "patient": True, "age": True, "const": False, "dose": False}
        want = prepare(DataSpec(dataset=data, features=["row_id", "patient", "age"]), app.spec.train.seed)
        assert torch.equal(app.data.prepared.x_train, want.x_train)

        # Named outright, unticking takes a column out of the list (it never goes to drop).
        box.deselect("patient")
        await reloaded(app, pilot, lambda: app.spec.data.features == ["row_id", "age"])
        assert app.data.prepared.pre.feature_names == ["row_id", "age"] and app.spec.data.drop == []

        # Another target: the choices made around the old one go, and the checks choose again.
        app.query_one("#data-target", Select).value = "dose"
        await reloaded(app, pilot, lambda: app.spec.data.target == "dose")
        assert app.spec.data.features == [] and app.spec.data.drop == []
        assert app.data.prepared.pre.feature_names == ["patient", "age", "outcome"]


async def test_constant_columns_keep_makes_them_inputs_as_keep_constant_does(tmp_path):
    """An image's blank border pixels are constant, and ticking 184 of them one by one was the screen's only way
    to give a Conv2d the whole grid. Constant columns: keep (data.keep_constant, --keep-constant) keeps every
    constant column an input in its place; an id is still left out. The note says the field, not the flag."""
    data = patients(tmp_path / "patients.csv")
    app = TorchTUI(cpu_spec(**{"data.dataset": data}))
    async with running(app, SIZE) as pilot:
        await data_loaded(app, pilot)
        note = "column const left out: constant (every row is 7); tick it in Features, or set Constant columns: keep, "
        assert note + "to use it" in str(app.query_one("#data-notices").render())
        app.query_one("#data-constant", Select).value = "keep"
        await reloaded(app, pilot, lambda: app.spec.data.keep_constant)
        assert app.data.prepared.pre.feature_names == ["patient", "age", "const", "dose"]
        assert features(app) == {"row_id": False, "patient": True, "age": True, "const": True, "dose": True}
        assert app.spec.data.features == [] and app.spec.data.drop == []  # nothing named: the checks chose
        want = prepare(DataSpec(dataset=data, keep_constant=True), app.spec.train.seed)
        assert torch.equal(app.data.prepared.x_train, want.x_train)
        assert "left out: constant" not in str(app.query_one("#data-notices").render())

        app.query_one("#data-constant", Select).value = "leave"
        await reloaded(app, pilot, lambda: not app.spec.data.keep_constant)
        assert app.data.prepared.pre.feature_names == ["patient", "age", "dose"]

        # the built-in digits keeps its blank pixels whatever is chosen: shown so, and not to be changed
        app.edit({"data.dataset": "digits", **{k: v for k, v in NEW_TABLE.items() if k != "data.dataset"}},
                 reload=True)
        await reloaded(app, pilot, lambda: app.spec.data.dataset == "digits")
        select = app.query_one("#data-constant", Select)
        assert select.value == "keep" and select.disabled and app.data.prepared.pre.n_inputs == 64


async def test_the_split_select_keeps_a_columns_rows_together_as_group_does(tmp_path):
    data = patients(tmp_path / "patients.csv")
    app = TorchTUI(cpu_spec(**{"data.dataset": data}))
    async with running(app, SIZE) as pilot:
        await data_loaded(app, pilot)
        split = app.query_one("#data-split", Select)
        values = [value for _, value in split._options]
        assert values[:2] == ["", "stratify"] and "group:patient" in values and "group:outcome" not in values

        split.value = "group:patient"
        await reloaded(app, pilot, lambda: app.spec.data.group == "patient")
        want = prepare(DataSpec(dataset=data, group="patient"), app.spec.train.seed)
        assert torch.equal(app.data.prepared.y_val, want.y_val) and torch.equal(app.data.prepared.x_val, want.x_val)
        notices = text_of(app.query_one("#data-notices"))
        assert "groups of patient" in notices and "no group is on both sides" in notices
        assert "patient" not in features(app)  # the column the split keeps together is not an input
        assert app.data.prepared.pre.feature_names == ["age", "dose"]

        split.value = "stratify"
        await reloaded(app, pilot, lambda: app.spec.data.stratify)
        assert app.spec.data.group == ""
        want = prepare(DataSpec(dataset=data, stratify=True), app.spec.train.seed)
        assert torch.equal(app.data.prepared.y_val, want.y_val)

        split.value = ""
        await reloaded(app, pilot, lambda: not app.spec.data.stratify)
        assert app.spec.data.group == ""
        assert torch.equal(app.data.prepared.y_val, prepare(DataSpec(dataset=data), app.spec.train.seed).y_val)


async def test_a_split_the_spec_refuses_is_said_and_the_select_shows_the_spec_again(tmp_path):
    data = patients(tmp_path / "patients.csv")
    val = patients(tmp_path / "visits.csv", rows=60)
    app = TorchTUI(cpu_spec(**{"data.dataset": data, "data.val": val}))
    async with running(app, SIZE) as pilot:
        notices = Notices(app)
        await data_loaded(app, pilot)
        split = app.query_one("#data-split", Select)
        split.value = "group:patient"
        await wait_for(pilot, lambda: notices.titled("data", "error"), what="the refusal")
        assert "data.val" in notices.titled("data", "error")[0]
        await pilot.pause()
        assert split.value == "" and app.spec.data.group == ""


async def test_a_group_from_the_spec_shows_in_the_select_before_and_after_the_table_is_read(tmp_path):
    data = patients(tmp_path / "patients.csv")
    app = TorchTUI(cpu_spec(**{"data.dataset": data, "data.group": "patient"}))
    async with running(app, SIZE) as pilot:
        assert app.query_one("#data-split", Select).value == "group:patient"
        await data_loaded(app, pilot)
        assert app.query_one("#data-split", Select).value == "group:patient"
        assert "patient" not in features(app)
        warnings = text_of(app.query_one("#data-warnings"))
        assert "--" not in warnings


def labelled_export(path) -> str:
    """A lab instrument's export: two metadata lines above the table, ';' between cells, decimal commas,
    Windows-1252 text (accented names)."""
    rows = ["exported by LabTool 3.1", "site: north", "name;height;weight;kind"]
    rows += [f"{n};1,{60 + i * 3};{50 + i * 5},{i};{'ab'[i % 2]}" for i, n in enumerate(
        ["Anna", "Béla", "Cléo", "Dan", "Eve", "Fay", "Gúst", "Hédi", "Ian", "Jó"])]
    Path(path).write_bytes(("\n".join(rows) + "\n").encode("cp1252"))
    return str(path)


def shown(app) -> str:
    """Every text of the Data pane that says what preparation made of the file (or why it could not)."""
    return "\n".join(text_of(app.query_one(sel)) for sel in ("#data-error", "#data-warnings", "#data-notices"))


async def type_value(pilot, box: Input, text: str) -> None:
    box.value = text
    await pilot.pause()


async def test_the_file_format_fields_set_how_the_file_is_read_and_the_messages_name_them(tmp_path):
    data = labelled_export(tmp_path / "export.csv")
    app = TorchTUI(cpu_spec(**{"data.dataset": data}))
    notices = Notices(app)
    async with running(app, SIZE) as pilot:
        await data_loaded(app, pilot)
        fold = app.query_one("#data-format", Collapsible)
        assert fold.display and fold.title == "File format: detected"
        text = shown(app)
        assert "set Encoding to choose another" in text and "target kind holds text labels" in text
        assert "regression to change" not in text  # text labels are no regression target: not offered
        assert "--" not in text, text

        fold.collapsed = False
        await pilot.pause()
        await type_value(pilot, app.query_one("#data-skip-rows", Input), "0")
        await reloaded(app, pilot, lambda: app.spec.data.skip_rows == 0 and app.data.prepared is None)
        assert fold.title == "File format: Lines to skip 0"
        error = text_of(app.query_one("#data-error"))
        assert "set the format with Separator: ';', Decimal mark: ',', Lines to skip: 0" in error, error
        assert "--" not in shown(app)
        # the toast says it as the pane does (it named the flags: a tmux audit), and so does ctrl+r's refusal
        assert notices.titled("data", "error")[-1] == " ".join(error.split()), notices.calls
        assert app.problems() == ("data", notices.titled("data", "error")[-1])

        await type_value(pilot, app.query_one("#data-skip-rows", Input), "auto")
        await reloaded(app, pilot, lambda: app.spec.data.skip_rows == -1 and app.data.prepared is not None)
        assert fold.title == "File format: detected" and not app.query_one("#data-error").display

        encoding = app.query_one("#data-encoding", Input)
        await type_value(pilot, encoding, "nonsense")
        await reloaded(app, pilot, lambda: app.spec.data.encoding == "nonsense")
        assert "Encoding 'nonsense' is not an encoding Python knows" in text_of(app.query_one("#data-error"))
        await type_value(pilot, encoding, "latin-1")
        await reloaded(app, pilot, lambda: app.spec.data.encoding == "latin-1" and app.data.prepared is not None)
        want = prepare(DataSpec(dataset=data, encoding="latin-1"), app.spec.train.seed)
        assert torch.equal(app.data.prepared.x_train, want.x_train)
        assert "Béla" in text_of(app.query_one("#data-notices"))  # read as the typed encoding reads it

        app.query_one("#data-sep", Select).value = ","
        await reloaded(app, pilot, lambda: app.spec.data.sep == ",")
        assert app.data.prepared is None or app.data.prepared.pre.feature_names != want.pre.feature_names
        assert fold.title == "File format: Separator ',', Encoding latin-1"
        app.query_one("#data-sep", Select).value = "auto"
        await reloaded(app, pilot, lambda: app.spec.data.sep == "auto" and app.data.prepared is not None)


async def test_a_built_in_set_has_no_file_format_to_set():
    app = TorchTUI(cpu_spec(**{"data.dataset": "wine"}))
    async with running(app, SIZE) as pilot:
        await data_loaded(app, pilot)
        assert not app.query_one("#data-format").display


# Flags the core's data messages may name that have no field on the screen: said as they are.
NO_FIELD = {"val", "test", "dataset-arg", "workers", "standardize-target", "weights"}


def test_every_flag_the_data_messages_name_is_said_as_a_field_of_the_screen():
    """The guard for messages to come: a flag in a string of the modules that prepare data is a field the screen
    has (and says it in its words, without the flag), or one named above as having none."""
    core = Path(screen_words.__file__).parents[1] / "core"
    flags: set[str] = set()
    for name in ("data.py", "reader.py", "preprocess.py", "suspect_columns.py", "leakage.py", "user_dataset.py"):
        tree = ast.parse((core / name).read_text())
        docs = {id(n.body[0].value) for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef,
                ast.Module)) and n.body and isinstance(n.body[0], ast.Expr)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
                flags |= set(re.findall(r"--([a-z][a-z-]+)", node.value))
    assert flags >= {"drop", "group", "features", "target", "missing", "task", "encoding", "skip-rows", "sep"}
    for flag in sorted(flags - NO_FIELD):
        assert flag in screen_words.LABELS, f"--{flag} is in a data message but has no field on the screen"
        said = screen_words.on_screen(f"x; pass --{flag} y to change it")
        assert "--" not in said, said


async def test_a_validation_file_and_a_test_file_are_data_pane_fields_and_the_run_uses_them():
    """The spec's data.val and data.test (--val, --test) had no field on the screen: a run with a validation file
    of its own, or rows to predict at its end, could not be set up there. A path that names no file is refused
    under the fields, as a number that does not parse is, and the spec never holds it."""
    rows = (ROOT / "datasets" / "iris.csv").read_text().splitlines()
    Path("train.csv").write_text("\n".join(rows[:1] + rows[1::3]) + "\n")
    Path("val.csv").write_text("\n".join(rows[:1] + rows[2::3]) + "\n")
    Path("new.csv").write_text("\n".join(",".join(r.split(",")[:4]) for r in rows[:1] + rows[3:30:3]) + "\n")
    app = TorchTUI(cpu_spec(**{"data.dataset": "train.csv", "train.epochs": 2}))
    async with running(app, SIZE) as pilot:
        await data_loaded(app, pilot)
        split_rows = len(app.data.prepared.x_val)
        val, test = app.query_one("#data-val", Input), app.query_one("#data-test", Input)
        assert (val.value, test.value) == ("", "")
        val.value = "va"
        await wait_for(pilot, lambda: val.has_class("-invalid"), what="a path that names no file refused")
        assert "Validation file: va is not a file" in text_of(app.query_one("#data-error"))
        assert app.spec.data.val == ""
        val.value = "val.csv"
        await wait_for(pilot, lambda: app.data.spec.val == "val.csv" and app.data.prepared is not None,
                       what="the data prepared with its validation file")
        assert not val.has_class("-invalid") and app.query_one("#data-error").display is False
        want = prepare(DataSpec(dataset="train.csv", val="val.csv"), seed=0)
        assert torch.equal(app.data.prepared.x_val, want.x_val) and len(want.x_val) == 50 != split_rows
        test.value = "new.csv"
        await wait_for(pilot, lambda: app.spec.data.test == "new.csv", what="the test file")

        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: app.followed is not None, what="the run to start")
        run_dir = app.followed.run_dir
        await wait_for(pilot, lambda: (run_dir / "events.jsonl").exists() and any(
            e["event"] == "end" for e in run_events(run_dir, "end")), 60, "the run to end")
        [start] = run_events(run_dir, "start")
        [predictions] = run_events(run_dir, "predictions")
        assert start["val_rows"] == 50 and predictions["rows"] == 9, (start, predictions)
        assert (run_dir / "predictions.csv").read_text().count("\n") == 10

        val.value = ""  # none again: the split gives the validation rows
        await wait_for(pilot, lambda: app.data.spec.val == "" and app.data.prepared is not None and len(
            app.data.prepared.x_val) == split_rows, what="the split back")


async def test_the_features_list_says_how_a_column_is_used_and_the_preview_shows_empty_cells_empty():
    """A number column with one stray cell ('abc', counted as empty) was listed as text though it is used as
    numbers; the preview showed empty cells as 'nan'."""
    from textual.widgets import DataTable

    rows = [f"{50 + i * 7},{1 + i % 4},{'' if i == 3 else 'ab'[i % 2]},{100 + i * 3}" for i in range(20)]
    rows[2] = "abc,3,a,106"
    Path("houses.csv").write_text("area,rooms,kind,price\n" + "\n".join(rows) + "\n")  # (in_tmp: a folder of its own)
    app = TorchTUI(cpu_spec(**{"data.dataset": "houses.csv", "data.missing": "impute", "data.target": "price"}))
    async with running(app) as pilot:
        await data_loaded(app, pilot)
        assert app.data.prepared is not None
        box = app.query_one("#data-features", SelectionList)
        labels = {box.get_option_at_index(i).value: str(box.get_option_at_index(i).prompt)
                  for i in range(box.option_count)}
        assert "area  float" in labels["area"] and "text" not in labels["area"]
        assert "kind  text" in labels["kind"]
        table = app.query_one("#data-preview", DataTable)
        assert [str(c) for c in table.get_row_at(3)][2] == ""  # the empty kind cell of the fourth row
        assert "nan" not in " ".join(str(c) for r in range(table.row_count) for c in table.get_row_at(r))
