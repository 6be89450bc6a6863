"""`torchtui export`: a run written out as plain PyTorch that, run where `tui` cannot be imported, ends with the run's
weights bit for bit (and its data tensors, validation losses and best epoch)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from tui.cli import app
from tui.core import export, job
from tui.core.layers import build_sequential

import warm_cli
from conftest import make_spec

SITE = str(Path(torch.__file__).resolve().parents[1])  # torch, numpy and pandas; `tui` only through a .pth file there
RUFF = Path(sys.executable).with_name("ruff")
README = Path(__file__).resolve().parents[1] / "README.md"
SAVE_TENSORS = """
torch.save({"x_train": x_train, "y_train": y_train, "x_val": x_val, "y_val": y_val}, "tensors.pt")
"""


def bare_python(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """Python with torch, numpy and pandas on its path and nothing of torchtui: no site (so no editable-install
    .pth), a clean environment (but for one thread, as every process the tests start: conftest.py), a working
    directory of its own."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": SITE, "HOME": str(cwd),
           "OMP_NUM_THREADS": "1"}
    return warm_cli.run([sys.executable, "-S", "-W", "error", *args], cwd=cwd, env=env, capture_output=True,
                        text=True, timeout=300)


def export_runs_bit_for_bit(run_dir: Path, data: Path, tmp_path: Path) -> None:
    """`torchtui export` of the run, run by a bare Python on `data` in a folder of its own, ends with the
    run's last.pt weights, bit for bit."""
    from typer.testing import CliRunner

    from tui.cli import app

    script = tmp_path / "train.py"
    assert CliRunner().invoke(app, ["export", str(run_dir), "-o", str(script)]).exit_code == 0
    work = tmp_path / "elsewhere"
    work.mkdir()
    done = bare_python([str(script), "--data", str(data)], work)
    assert done.returncode == 0, done.stderr[-3000:]
    last = torch.load(run_dir / "last.pt", weights_only=True)["model"]
    mine = torch.load(work / "model.pt", weights_only=True)
    assert mine.keys() == last.keys() and all(torch.equal(mine[k], v) for k, v in last.items())


def predicted_alike(run_dir: Path, files: dict[str, Path], tmp_path: Path, columns: str = "") -> None:
    """`torchtui predict` of the run on each of `files` (the same rows written two ways) writes the same predictions
    (of the columns whose names hold `columns`, where given)."""
    out = {}
    for name, file in files.items():
        done = CliRunner().invoke(app, ["predict", str(run_dir), str(file), "-o", str(tmp_path / f"{name}_p.csv")])
        assert done.exit_code == 0, done.output
        predicted = pd.read_csv(tmp_path / f"{name}_p.csv")
        out[name] = predicted.filter(like=columns) if columns else predicted
    first, *others = out.values()
    for other in others:
        pd.testing.assert_frame_equal(first, other)


def messy_csv(path: Path, seed: int = 4, plain: bool = False) -> Path:
    """Semicolons, decimal commas, a metadata line above the header, blank cells, a stray '?', an id column,
    a text column with a non-ASCII value, written in cp1252. `plain`: the same columns as a tidy file (commas,
    decimal points, UTF-8, no metadata line, no stray cell, whole-number doses, a city the training rows lack),
    so its columns read with other types than the messy file's."""
    rng = np.random.default_rng(seed)
    lines = ["Laborexport Zürich 2026-11-01 (v2)", "id;site;height;weight;city;dose;grade"]
    for i in range(160):
        height, weight = rng.normal(1.7, 0.1), rng.normal(70, 12)
        city = ["Zürich", "Basel", "Genf"][int(rng.integers(0, 3))]
        dose = f"{rng.uniform(0, 5):.2f}".replace(".", ",")
        grade = "high" if weight / height**2 + rng.normal(0, 2) > 24 else "low"
        number = f"{height:.3f}".replace(".", ","), f"{weight:.1f}".replace(".", ",")
        cells = [str(1000 + i), "ABCDEFGH"[i % 8], *number, city, dose, grade]
        if i % 17 == 3:
            cells[2] = ""  # a blank number
        if i % 23 == 5:
            cells[4] = ""  # a blank text cell
        if i == 40:
            cells[5] = "?"  # a stray cell in a number column
        if plain:
            cells = [c.replace(",", ".") for c in cells]
            cells[4] = "Bern" if i % 11 == 0 else cells[4]
            cells[5] = str(round(float(cells[5]))) if cells[5] not in ("", "?") else "2"
        lines.append(("," if plain else ";").join(cells))
    if plain:
        lines = [line.replace(";", ",") for line in lines[1:]]
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8" if plain else "cp1252"))
    return path


CONFIGS = {
    "iris Adam": dict(data__dataset="iris", train__optimizer="Adam", train__lr=0.01),
    "digits Conv2d AdamW": dict(
        data__dataset="digits", model__layers="Unflatten(1, (1, 8, 8)), Conv2d(4, 3), ReLU(), MaxPool2d(2), Flatten()",
        train__optimizer="AdamW", train__lr=0.005, train__weight_decay=0.05, train__batch_size=64, train__epochs=2),
    "diabetes two targets SGD nesterov step BatchNorm clip": dict(
        data__dataset="diabetes", data__target="progression,bmi",
        model__layers="Linear(32), BatchNorm1d(), ReLU(), Linear(16), ReLU()",
        train__optimizer="SGD", train__lr=0.02, train__momentum=0.9, train__nesterov=True, train__scheduler="step",
        train__step_size=1, train__gamma=0.5, train__grad_clip=0.5, train__batch_size=20),
    # BatchNorm2d after a convolution: its running statistics per channel, in the script as in the run
    "digits Conv2d BatchNorm2d SGD": dict(
        data__dataset="digits", model__layers="Unflatten(1, (1, 8, 8)), Conv2d(4, 3, padding='same'), "
                                              "BatchNorm2d(momentum=0.2), "
                                              "ReLU(), MaxPool2d(2), LayerNorm((4, 4, 4))",
        train__optimizer="SGD", train__lr=0.05, train__momentum=0.9, train__batch_size=64, train__epochs=2),
    # the run's weight decay 0 written out: AdamW's own default is 0.01, and the script trained another model
    "wine AdamW, its default weight decay": dict(data__dataset="wine", train__optimizer="AdamW", train__lr=0.01),
    "diabetes, no target scaling": dict(data__dataset="diabetes", data__standardize_target=False, train__lr=0.001),
    "sine (synthetic) regression": dict(data__dataset="sine", train__optimizer="RMSprop", train__lr=0.003,
                                        train__batch_size=64),
    "messy CSV RMSprop plateau": dict(
        data__dataset="messy.csv", data__missing="impute", train__optimizer="RMSprop", train__lr=0.003,
        train__momentum=0.5, train__scheduler="plateau", train__plateau_patience=0, train__gamma=0.5),
    "messy CSV drop BCEWithLogits": dict(
        data__dataset="messy.csv", data__missing="drop", train__loss="BCEWithLogits", train__optimizer="Adam"),
    "messy CSV with a --val file": dict(data__dataset="messy.csv", data__val="messy_val.csv", data__missing="impute"),
    "messy CSV with a tidy --val file (other types)": dict(data__dataset="messy.csv", data__val="tidy_val.csv",
                                                           data__missing="impute"),
    # R's write.table: a header a field short over row names, a missing number written NA, a region NA
    "R table with NA words": dict(data__dataset="survey.csv", data__target="severity", data__missing="impute"),
    "messy CSV group split": dict(data__dataset="messy.csv", data__missing="impute", data__group="site"),
    "wine SGD cosine Dropout": dict(
        data__dataset="wine", model__layers="Linear(32), ReLU(), Dropout(0.3), Linear(16), Tanh()",
        train__optimizer="SGD", train__lr=0.05, train__momentum=0.9, train__scheduler="cosine"),
    "spiral onecycle stratified": dict(
        data__dataset="spiral", data__stratify=True, train__scheduler="onecycle", train__lr=0.05,
        train__batch_size=64),
    "breast_cancer early stopping": dict(
        data__dataset="breast_cancer", train__optimizer="SGD", train__lr=0.9, train__momentum=0.9,
        train__epochs=12, train__patience=2, train__batch_size=64),
}


def run_and_export(tmp_path: Path, **overrides):
    settings = {"train__epochs": 3, "train__patience": 0, "train__threads": 1, "train__seed": 3, **overrides}
    if settings["data__dataset"] == "messy.csv":
        settings["data__dataset"] = str(messy_csv(tmp_path / "messy.csv"))
    if settings["data__dataset"] == "survey.csv":
        from test_na_words import survey, written

        settings["data__dataset"] = str(written(survey(), tmp_path / "survey.csv", row_names=True))
    if settings.get("data__val") == "messy_val.csv":
        settings["data__val"] = str(messy_csv(tmp_path / "messy_val.csv", seed=5))
    if settings.get("data__val") == "tidy_val.csv":
        settings["data__val"] = str(messy_csv(tmp_path / "tidy_val.csv", seed=5, plain=True))
    spec = make_spec(tmp_path, **settings)
    outcome, folder = job.run(spec, lambda e: None)
    script = tmp_path / "train.py"
    result = CliRunner().invoke(app, ["export", str(folder.path), "-o", str(script)])
    assert result.exit_code == 0, result.output
    assert f"wrote {script}" in result.output
    return spec, outcome, folder, script


@pytest.mark.parametrize("config", list(CONFIGS))
def test_exported_script_reproduces_the_run_bit_for_bit(tmp_path, config):
    spec, outcome, folder, script = run_and_export(tmp_path, **CONFIGS[config])
    text = script.read_text()
    assert "import tui" not in text and "from tui" not in text and "NOT EXACT" not in text
    assert "DataLoader(TableDataset(x_train, y_train), BATCH_SIZE, shuffle=True, generator=g)" in text

    work = tmp_path / "elsewhere"
    work.mkdir()
    assert bare_python(["-c", "import tui"], work).returncode != 0, "tui must not be importable where the script runs"
    probe = work / "probe.py"
    probe.write_text(text + SAVE_TENSORS)  # the script as exported, then its data tensors saved for the comparison
    done = bare_python([str(probe)], work)
    assert done.returncode == 0, done.stderr[-3000:]

    # the data first: the very tensors the engine trained and validated on
    plan = job.plan(spec)
    engine = {"x_train": plan.data.x_train, "y_train": plan.objective.loss_targets(plan.data.y_train),
              "x_val": plan.data.x_val, "y_val": plan.objective.loss_targets(plan.data.y_val)}  # as the loss takes them
    tensors = torch.load(work / "tensors.pt", weights_only=True)
    for name, value in engine.items():
        assert tensors[name].dtype == value.dtype, name
        assert torch.equal(tensors[name], value), name

    # then the weights, the validation losses and the best epoch
    last = torch.load(folder.checkpoint_path("last"), weights_only=True)
    mine = torch.load(work / "model.pt", weights_only=True)
    assert mine.keys() == last["model"].keys()
    for key, value in last["model"].items():
        assert torch.equal(mine[key], value), key
    best = torch.load(folder.checkpoint_path("best"), weights_only=True)["model"]
    mine_best = torch.load(work / "best_model.pt", weights_only=True)
    assert all(torch.equal(mine_best[k], v) for k, v in best.items())
    epochs = [e for e in folder.events() if e["event"] == "epoch"]
    printed = [line for line in done.stdout.splitlines() if line.startswith("epoch ")]
    assert len(printed) == len(epochs) == outcome.progress.epoch
    for line, event in zip(printed, epochs):
        assert line.endswith(f"validation loss {event['val_loss']!r}"), (line, event)
    assert f"best epoch {outcome.progress.best_epoch} " in done.stdout
    if config == "iris Adam":  # README's excerpt is this script's text
        excerpt = README.read_text().split("## Leave with your code")[1].split("```python")[1].split("```")[0]
        lines = text.splitlines()
        assert [line for line in excerpt.splitlines() if line.strip() and line != "..." and line not in lines] == []
    if config == "breast_cancer early stopping":
        assert outcome.status == "early_stopped" and outcome.progress.epoch < spec.train.epochs
        assert "stopping" in done.stdout


def test_exported_script_passes_ruff(tmp_path):
    _, _, _, script = run_and_export(tmp_path, data__dataset="messy.csv", data__missing="impute",
                                     train__scheduler="onecycle", train__grad_clip=1.0, train__patience=3)
    result = subprocess.run([str(RUFF), "check", "--no-cache", "--isolated", "--select", "E,F,W,I", "--line-length",
                             "120", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    text = script.read_text()
    for block in ("sep=';'", "skiprows=1", "decimal=','", "encoding='cp1252'", "# column id left out: looks like an "
                  "identifier", "'(missing)'", "np.median(known)", "torch.set_num_threads(1)", "model.eval()",
                  "with torch.no_grad():", 'torch.save(model.state_dict(), args.out)', "clip_grad_norm_"):
        assert block in text, block


def test_a_setting_the_script_cannot_reproduce_is_said_at_its_top(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = Path("exp.toml")
    spec.write_text(make_spec(tmp_path, data__dataset="iris", train__device="cuda", train__precision="bf16",
                              train__threads=1).to_toml())
    result = CliRunner().invoke(app, ["export", "--from-spec", str(spec)])
    assert result.exit_code == 0, result.output
    text = Path("train.py").read_text()
    head = text.split("import argparse")[0]
    assert "# NOT EXACT: this script cannot reproduce the run bit for bit, because" in head
    assert "# - the run is set to train on cuda in bf16; this script trains on the CPU in fp32, which rounds" in head
    assert "not exact: the run is set to train on cuda in bf16" in result.output


def test_export_refuses_to_overwrite_and_wants_one_source(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = Path("exp.toml")
    spec.write_text(make_spec(tmp_path, data__dataset="iris", train__threads=1).to_toml())
    Path("train.py").write_text("mine\n")
    result = CliRunner().invoke(app, ["export", "--from-spec", str(spec)])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == ["error: train.py exists; pass --force to overwrite it, or name "
                                                  "another file with -o"]
    assert Path("train.py").read_text() == "mine\n"
    assert CliRunner().invoke(app, ["export"]).exit_code == 2
    forced = CliRunner().invoke(app, ["export", "--from-spec", str(spec), "--force"])
    assert forced.exit_code == 0, forced.output
    assert "nn.Sequential(" in Path("train.py").read_text()
    assert not list(tmp_path.glob(".tmp-*"))
    assert export.SCRIPT_NAME == "train.py"
    to_stdout = CliRunner().invoke(app, ["export", "--from-spec", str(spec), "-o", "-"])  # `-o -`: stdout
    assert to_stdout.exit_code == 0 and to_stdout.stdout == Path("train.py").read_text() and not Path("-").exists()


ROWS_MODULE = '''
import torch
from torch.utils.data import Dataset


class Rows(Dataset):
    """The tutorial's MyDataset(file): one row per item."""

    def __init__(self, file):
        t = torch.load(file, weights_only=True)
        self.x, self.y = t["x"], t["y"]

    def __getitem__(self, i):
        return self.x[i], self.y[i]

    def __len__(self):
        return len(self.x)
'''


CLASS_CONFIGS = {  # a Dataset class over a built-in's rows: classes as integer indices, or values as floats
    "iris classes, Adam BatchNorm Dropout cosine clip": dict(
        rows="iris", train__optimizer="Adam", train__lr=0.01, train__scheduler="cosine", train__grad_clip=1.0,
        model__layers="Linear(16), BatchNorm1d(), ReLU(), Dropout(0.2)"),
    "diabetes values, RMSprop plateau": dict(rows="diabetes", train__optimizer="RMSprop", train__lr=0.003,
                                             train__scheduler="plateau", train__plateau_patience=0),
}


@pytest.mark.parametrize("config", list(CLASS_CONFIGS))
def test_a_dataset_class_run_exports_and_reproduces_bit_for_bit(tmp_path, monkeypatch, config):
    """The script imports the user's class as the run did, splits its items with the seed, and ends equal."""
    import json

    from safetensors.torch import load_file

    monkeypatch.chdir(tmp_path)
    settings = dict(CLASS_CONFIGS[config])
    (tmp_path / "my_rows.py").write_text(ROWS_MODULE)
    data = job.plan(make_spec(tmp_path, data__dataset=settings.pop("rows"), train__threads=1)).data
    y = torch.cat([data.y_train, data.y_val])
    torch.save({"x": torch.cat([data.x_train, data.x_val]), "y": y.squeeze(1) if y.dim() == 2 else y}, "rows.pt")
    try:
        spec = make_spec(tmp_path, data__dataset="my_rows:Rows", data__dataset_args=[str(tmp_path / "rows.pt")],
                         train__epochs=4, train__patience=0, train__threads=1, train__seed=3, **settings)
        outcome, folder = job.run(spec, lambda e: None)
    finally:
        sys.modules.pop("my_rows", None)
    assert outcome.status == "done"
    result = CliRunner().invoke(app, ["export", str(folder.path)])
    assert result.exit_code == 0, result.output
    assert "not exact" not in result.output
    text = Path("train.py").read_text()
    assert "NOT EXACT" not in text and "import tui" not in text and "from tui" not in text
    assert "from my_rows import Rows" in text and f"dataset = Rows({str(tmp_path / 'rows.pt')!r})" in text
    assert "DataLoader(train_set, BATCH_SIZE, shuffle=True, generator=g)" in text
    assert bare_python(["-c", "import tui"], tmp_path).returncode != 0
    done = bare_python(["train.py"], tmp_path)  # from the folder that holds my_rows.py, as the run was
    assert done.returncode == 0, done.stderr[-3000:]

    for name, mine in (("last", "model.pt"), ("best", "best_model.pt")):
        run = torch.load(folder.checkpoint_path(name), weights_only=True)["model"]
        ours = torch.load(tmp_path / mine, weights_only=True)
        assert ours.keys() == run.keys()
        for key, value in run.items():
            assert torch.equal(ours[key], value), (name, key)
    epochs = [e for e in folder.events() if e["event"] == "epoch"]
    printed = [line for line in done.stdout.splitlines() if line.startswith("epoch ")]
    assert len(printed) == len(epochs) == 4
    for line, event in zip(printed, epochs):
        assert line.endswith(f"validation loss {event['val_loss']!r}"), (line, event)
    assert f"best epoch {outcome.progress.best_epoch} " in done.stdout

    # its weights travel too: the card's model on the class's own x gives the checkpoint model's outputs
    weights = tmp_path / "w.safetensors"
    both = CliRunner().invoke(app, ["export", str(folder.path), "--weights", str(weights), "-o", "-"])
    assert both.exit_code == 0 and both.stdout.startswith('"""') and "wrote " in both.stderr  # stdout: the script
    compile(both.stdout, "train.py", "exec")
    card = json.loads((tmp_path / "w.json").read_text())
    assert card["n_inputs"] == data.x_train.shape[1] and card["input_shape"] == [data.x_train.shape[1]]
    assert card["features"] == [] and "your Dataset class" in card["prepare"]
    model = torch.nn.Sequential(*[build_sequential([call])[0] for call in card["layers"]])
    model.load_state_dict(load_file(weights))
    best = torch.load(folder.checkpoint_path("best"), weights_only=True)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in best["model"].items())
    again = bare_python(["train.py", "--weights", str(weights)], tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    val_loss = next(e["val_loss"] for e in epochs if e["epoch"] == outcome.progress.best_epoch)
    assert f"weights from {weights}: validation loss {val_loss!r}\n" in again.stdout


# ---- models that travel: safetensors plus a JSON card --------------------------------------------
def prepare(frame, card: dict) -> torch.Tensor:
    """New rows made into the model's inputs from the JSON card alone (its `prepare` rule), as a user would."""
    import pandas as pd

    inputs = []
    for feature in card["features"]:
        col = frame[feature["name"]]
        if feature["kind"] == "numeric":
            if not pd.api.types.is_numeric_dtype(col):  # a number column with a stray '?', its decimal commas as text
                col = pd.to_numeric(col.astype(str).str.replace(",", ".", regex=False), errors="coerce")
            values = col.to_numpy(dtype=np.float64)
            if card["missing"] == "impute":
                values = np.where(np.isfinite(values), values, feature["fill"])
            inputs.append(((values - feature["mean"]) / feature["std"]).astype(np.float32))
        else:
            labels = col.astype(str).where(col.notna(), "(missing)")
            inputs += [(labels == c).to_numpy(dtype=np.float32) for c in feature["categories"]]
    return torch.from_numpy(np.column_stack(inputs))


WEIGHTS_CONFIGS = {
    "iris": dict(data__dataset="iris", train__optimizer="Adam", train__lr=0.01),
    "diabetes two targets BatchNorm": dict(data__dataset="diabetes", data__target="progression,bmi",
                                           model__layers="Linear(32), BatchNorm1d(), ReLU(), Linear(16), ReLU()"),
    "messy CSV impute one-hot": dict(data__dataset="messy.csv", data__missing="impute", train__optimizer="Adam"),
    "digits Conv2d BatchNorm2d": dict(data__dataset="digits", train__batch_size=64, train__epochs=2,
                                      model__layers="Unflatten(1, (1, 8, 8)), Conv2d(4, 3), BatchNorm2d(), ReLU()"),
}


def test_a_weights_pair_a_kill_split_between_its_renames_is_told_from_a_true_one(tmp_path, monkeypatch):
    """The two files are renamed into place one after the other: killed between the renames, the new weights
    stood beside the old card without a sign. The card names its weights' bytes."""
    import json

    from tui.core import files, weights_export

    runs = [job.run(make_spec(tmp_path, data__dataset="iris", train__epochs=1, train__seed=seed, run__name=name),
                    lambda e: None)[1] for seed, name in ((1, "first"), (2, "second"))]
    weights = tmp_path / "model.safetensors"
    weights_export.from_run(runs[0].path, weights)
    renamed: list[str] = []
    rename = os.replace

    def killed_after_the_first(source, dest):
        renamed.append(str(dest))
        if len(renamed) == 2:
            raise SystemExit(137)  # the process gone between the two renames
        rename(source, dest)

    monkeypatch.setattr(files.os, "replace", killed_after_the_first)
    with pytest.raises(SystemExit):
        weights_export.from_run(runs[1].path, weights, force=True)
    monkeypatch.undo()
    card = json.loads((tmp_path / "model.json").read_text())
    assert renamed == [str(weights), str(tmp_path / "model.json")] and card["run"] == "first"  # the split pair
    assert hashlib.sha256(weights.read_bytes()).hexdigest() != card["weights_sha256"]  # told apart
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no temporary file left"


@pytest.mark.parametrize("config", list(WEIGHTS_CONFIGS))
def test_safetensors_weights_load_into_torch_alone_and_predict_as_torchtui_predict(tmp_path, monkeypatch, config):
    import json

    import pandas as pd
    from safetensors.torch import load_file

    from tui.core.data import read_csv
    from tui.core.datasets import BUILTINS, data_dir

    spec, outcome, folder, script = run_and_export(tmp_path, **WEIGHTS_CONFIGS[config])
    weights = tmp_path / "model.safetensors"
    result = CliRunner().invoke(app, ["export", str(folder.path), "--weights", str(weights)])
    assert result.exit_code == 0, result.output
    best_epoch = outcome.progress.best_epoch
    assert result.output.startswith(f"wrote {weights} (the model of best.pt, epoch {best_epoch}) and "
                                    f"{tmp_path / 'model.json'}")
    card = json.loads((tmp_path / "model.json").read_text())
    assert card["weights_sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()  # the pair is one

    # the model from the card's PyTorch calls, `nn` in scope and nothing of torchtui
    model = torch.nn.Sequential(*[build_sequential([call])[0] for call in card["layers"]])
    model.load_state_dict(load_file(weights))
    best = torch.load(folder.checkpoint_path("best"), weights_only=True)["model"]
    assert all(torch.equal(model.state_dict()[k], v) for k, v in best.items())
    model.eval()

    # its predictions on rows prepared with the card's statistics are `torchtui predict`'s, exactly
    builtin = BUILTINS.get(spec.data.dataset)
    data = data_dir() / builtin.file if builtin else Path(spec.data.dataset)
    out_csv = tmp_path / "predicted.csv"
    predicted = CliRunner().invoke(app, ["predict", str(folder.path), str(data), "-o", str(out_csv)])
    assert predicted.exit_code == 0, predicted.output
    mine = pd.read_csv(out_csv, dtype=str)  # parsed below by Python's float(), which rounds correctly
    frame = read_csv(data)
    with torch.no_grad():
        out = model(prepare(frame, card))
    if card["task"] == "classification":
        probabilities = torch.softmax(out, dim=1)
        assert [str(c) for c in mine[card["targets"][0]]] == [str(card["classes"][i]) for i in out.argmax(1)]
        for j, c in enumerate(card["classes"]):
            assert torch.equal(torch.tensor([float(p) for p in mine[f"p_{c}"]]), probabilities[:, j]), c
    else:
        values = out.double().numpy() * np.asarray(card["target_std"]) + np.asarray(card["target_mean"])
        for i, t in enumerate(card["targets"]):
            assert np.array_equal(np.array([float(v) for v in mine[t]]), values[:, i]), t

    # the exported script loads the file (safetensors imported only then) and measures it: the best epoch's loss
    work = tmp_path / "elsewhere"
    work.mkdir()
    done = bare_python([str(script), "--weights", str(weights)], work)
    assert done.returncode == 0, done.stderr[-3000:]
    val_loss = next(e["val_loss"] for e in folder.events() if e["event"] == "epoch" and e["epoch"] == best_epoch)
    assert f"weights from {weights}: validation loss {val_loss!r}\n" in done.stdout
    assert "from safetensors" not in script.read_text().split("if args.weights:")[0]
    if config == "iris":  # README's two torch-only snippets do what they say
        section = README.read_text().split("**Models that travel.**")[1].split("## The run folder")[0]
        snippets = [block.split("```")[0] for block in section.split("```python")[1:]]
        assert len(snippets) == 2 and all("tui" not in code for code in snippets)
        monkeypatch.chdir(tmp_path)  # where model.safetensors and model.json are
        scope: dict = {}  # one scope: the second goes on from the first (its imports and `layer`)
        for code in snippets:
            exec(code.replace("checkpoints/RUN/best.pt", str(folder.checkpoint_path("best"))), scope)
            assert all(torch.equal(scope["model"].state_dict()[k], v) for k, v in best.items())


def test_weights_without_safetensors_is_one_line(tmp_path, monkeypatch):
    _, _, folder, _ = run_and_export(tmp_path, data__dataset="iris", train__epochs=1)
    monkeypatch.setitem(sys.modules, "safetensors", None)  # as if not installed: importing it fails
    monkeypatch.setitem(sys.modules, "safetensors.torch", None)
    result = CliRunner().invoke(app, ["export", str(folder.path), "--weights", str(tmp_path / "m.safetensors")])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == ["error: --weights needs the safetensors package: "
                                                  "pip install safetensors"]
    assert not list(tmp_path.glob("m.*"))
    wrong = CliRunner().invoke(app, ["export", str(folder.path), "--weights", str(tmp_path / "m.pt")])
    assert wrong.exit_code == 2 and "name a .safetensors file" in wrong.output
    alone = CliRunner().invoke(app, ["export", str(folder.path), "--which", "last"])
    assert alone.exit_code == 2 and "add --weights model.safetensors" in alone.output


def test_the_script_says_stopping_only_where_epochs_are_left(tmp_path):
    """A last epoch without a better validation loss, patience 1: the run is done, and its script printed 'no
    better validation loss for 1 epochs: stopping' after it. With an epoch left it stops there, as the run does."""
    from typer.testing import CliRunner

    from tui.cli import app

    said = {}
    for epochs in (2, 3):  # SGD at lr 10 on iris: epoch 2 is far worse than epoch 1
        spec = make_spec(tmp_path, data__dataset="iris", train__epochs=epochs, train__patience=1, train__lr=10.0,
                         train__optimizer="SGD", run__name=f"e{epochs}")
        outcome, folder = job.run(spec, lambda e: None)
        script = tmp_path / f"e{epochs}.py"
        assert CliRunner().invoke(app, ["export", str(folder.path), "-o", str(script)]).exit_code == 0
        work = tmp_path / f"w{epochs}"
        work.mkdir()
        done = bare_python([str(script)], work)
        assert done.returncode == 0, done.stderr[-2000:]
        trained = sum(line.startswith("epoch ") for line in done.stdout.splitlines())
        said[epochs] = (outcome.status, trained, "stopping" in done.stdout)
    assert said == {2: ("done", 2, False), 3: ("early_stopped", 2, True)}, said
