"""A web page saved under the data's name (GitHub's page for a CSV, fetched with curl or 'Save as') is named so:
read as a table, its tags were refused as "line 5 has 2 fields where the lines above it have 1" and the user was
told to quote fields (tui/core/reader.py, `_refuse_web_page`)."""

from __future__ import annotations

import gzip

import pytest
from typer.testing import CliRunner

from tui.cli import app
from tui.core.errors import UserError
from tui.core.reader import read_table

PAGE = """\ufeff
<!DOCTYPE html>
<html lang="en" data-color-mode="auto">
<head><meta charset="utf-8"><title>datasets/iris.csv at main</title></head>
<body>
<div class="repo">iris dataset, 150 rows, 5 columns</div>
<table><tr><td>5.1</td><td>3.5</td></tr></table>
<script>window.data = {a: 1, b: 2};</script>
</body>
</html>
"""


@pytest.mark.parametrize("name", ["iris.csv", "iris.json", "iris.csv.gz", "iris.txt"])
def test_a_web_page_is_named_a_web_page(tmp_path, name):
    path = tmp_path / name
    body = PAGE.encode("utf-8")
    path.write_bytes(gzip.compress(body) if name.endswith(".gz") else body)
    done = CliRunner().invoke(app, ["run", "--dataset", str(path), "--runs-dir", str(tmp_path / "runs")])
    assert done.exit_code == 2 and done.stderr == (
        f"error: {path} is a web page (HTML), not a table: the page that shows the file was downloaded, not the "
        "file; download the file itself (GitHub: the Raw button's address; Kaggle: Download)\n"), done.output
    assert not (tmp_path / "runs").exists()


def test_a_table_whose_cells_hold_tags_is_a_table(tmp_path):
    path = tmp_path / "tags.csv"
    path.write_text("<b>name</b>,size,html\n" + "".join(f"<i>n{i}</i>,{i},<html>\n" for i in range(6)))
    frame, _ = read_table(path)
    assert frame.shape == (6, 3) and frame["html"][0] == "<html>"
    (tmp_path / "x.csv").write_text("<!-- a comment -->\n<html>\n")
    with pytest.raises(UserError, match="is a web page"):
        read_table(tmp_path / "x.csv")
