"""A bracket is text: what a user types, or a file's name holds, is never read as Textual markup.

A Static or a DataTable given a str reads it as markup, and text that is not valid markup raises a MarkupError
that ends the screen: typing `[/x]` into the learning-rate box did (the error under the fields quotes the value
typed), as did the same in the change dialog, and a layer typed so in a stack that was then drawn. Here every
text field on every pane, the change and export dialogs, the layer stack and the learning-rate finder are given
such text, and the screen must live on and show it as typed."""

from __future__ import annotations

from textual.widgets import Input, Static

from tui.app.app import TorchTUI
from tui.app.change_screen import ChangeScreen
from tui.app.lr_find_screen import LRFindScreen
from tui.app.screens import ExportScreen

from test_app import FOREVER, cpu_spec, data_loaded, in_tmp, running, text_of, wait_for  # noqa: F401
from test_screen_escapes import screen_text

BAD = "[/x] [link=a://b]c"  # a closing tag with no opening one, and a link with no end: both raise MarkupError
NAMED = "[link=a:b c]d"  # one that can be a file's name (no '/'): a link with a space raises MarkupError too
PANES = ["f2", "f3", "f4", "f5", "f6", "f7"]


def alive(app) -> bool:
    return app.return_code is None and app._exception is None


async def shows(pilot, app, condition, what: str) -> None:
    """Waits until `condition` holds (never a fixed pause: a busy machine draws late), or the screen ends."""
    await wait_for(pilot, lambda: not alive(app) or condition(), what=what)
    assert alive(app), f"the screen ended before {what}"


async def test_every_text_field_on_every_pane_takes_a_bracket_as_text():
    app = TorchTUI(cpu_spec())
    async with running(app, size=(160, 40), notifications=True) as pilot:
        await data_loaded(app, pilot)
        typed = []
        for key in PANES:
            await pilot.press(key)
            await pilot.pause(0.1)
            for box in [w for w in app.screen.query(Input) if w.display and w.region.width]:
                box.focus()
                await pilot.pause()
                was, box.value = box.value, BAD
                await pilot.pause(0.1)
                await pilot.press("enter")
                await pilot.pause(0.2)
                assert alive(app), f"the screen ended after {BAD!r} was typed into #{box.id}"
                typed.append(box.id)
                while len(app.screen_stack) > 1:  # (a dialog a field's enter opened)
                    await pilot.press("escape")
                box.value = was  # each field alone (the data path's load is not retried with the others)
                await pilot.pause()
        assert {"data-path", "model-input", "hp-lr", "hp-name", "results-file"} <= set(typed), typed
        await pilot.press("f4")
        app.query_one("#hp-lr", Input).value = BAD
        said = f"Learning rate must be a number, got '{BAD}'"  # quoted as typed
        await shows(pilot, app, lambda: said in text_of(app.query_one("#hp-error", Static)), "the field's error")
        await shows(pilot, app, lambda: f"got '{BAD}'" in screen_text(app), "the error drawn")


async def test_a_stack_holding_a_bracket_is_drawn_as_it_is():
    # a stack that breaks at its first layer: the layers after it are drawn as given, not built
    app = TorchTUI(cpu_spec(**{"model.layers": f"Linear(8), Nope(), Linear({BAD})"}))
    async with running(app, size=(160, 40)) as pilot:
        await data_loaded(app, pilot)
        await pilot.press("f3")
        await shows(pilot, app, lambda: f"Linear({BAD})" in screen_text(app), "the stack drawn")


async def test_the_change_and_export_dialogs_and_the_finder_quote_brackets_as_they_are(tmp_path):
    (tmp_path / NAMED).write_text("taken")  # (the working folder: in_tmp)
    data = tmp_path / f"iris{NAMED}.csv"
    data.write_text("a,b,label\n" + "".join(f"{i % 5},{i % 3},{i % 2}\n" for i in range(60)))
    app = TorchTUI(cpu_spec(**{"data.dataset": data.name, "train.epochs": FOREVER, "train.batch_size": 4}))
    async with running(app, size=(160, 40)) as pilot:
        await data_loaded(app, pilot)
        assert app.data.error == "", app.data.error

        await pilot.press("ctrl+e")  # the export dialog: a file of that name is there
        await wait_for(pilot, lambda: isinstance(app.screen, ExportScreen), what="the export dialog")
        box = app.screen.query_one("#export-path", Input)
        box.value = NAMED
        await pilot.press("enter")
        note = app.screen.query_one("#export-note", Static)
        await shows(pilot, app, lambda: text_of(note) == f"{NAMED} exists: enter again to replace it", "the note")
        assert isinstance(app.screen, ExportScreen)
        await pilot.press("escape")

        await pilot.press("f4", "ctrl+l")  # the finder's words name the data file
        await wait_for(pilot, lambda: isinstance(app.screen, LRFindScreen), what="the finder")
        status = app.screen.query_one("#lrf-status")
        await shows(pilot, app, lambda: f"running the range test on {data.name}" in text_of(status), "its words")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, LRFindScreen), what="the finder closed")

        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: app.followed is not None and app.followed.running and app.followed.last_step,
                       what="training steps")
        await pilot.press("f5", "c")
        await wait_for(pilot, lambda: isinstance(app.screen, ChangeScreen), what="the change dialog")
        app.screen.query_one("#change-lr", Input).value = BAD
        note = app.screen.query_one("#change-note", Static)
        await shows(pilot, app, lambda: text_of(note) == f"Learning rate must be a number, got '{BAD}'", "the note")
        await pilot.press("escape")
        await pilot.press("ctrl+x")
        await wait_for(pilot, lambda: app.process is None, what="the run stopped")
