"""80x24 is fully usable; below it the screen says so in one line, never with cut controls.

At 80x24: the footer shows, on every pane, that pane's own keys and F1 Help, every key whole and within
the width; every layer in the Model pane's help can be scrolled to from the keyboard; a broken layer's
reason is on screen; while a run trains, stop, pause and save are in the footer."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Input, Static
from textual.widgets._footer import FooterKey

from tui.app.app import MIN_SIZE, PANES, TorchTUI
from tui.app.key_bar import KeyBar, key_width
from tui.core.layer_catalog import LAYERS

from test_app import cpu_spec, data_loaded, running, text_of, wait_for

SMALL = (80, 24)


def footer_keys(app: TorchTUI) -> list[FooterKey]:
    return list(app.query_one(KeyBar).query(FooterKey))


def footer_actions(app: TorchTUI) -> set[str]:
    return {k.action.split("(")[0].removeprefix("app.") for k in footer_keys(app)}


def fits(app: TorchTUI) -> bool:
    keys = footer_keys(app)
    return bool(keys) and sum(key_width(k) for k in keys) <= app.size.width and all(
        k.region.right <= app.size.width and k.region.width == key_width(k) - 1 for k in keys)  # less the gap


async def test_every_pane_shows_its_own_keys_and_help_whole_at_80x24():
    app = TorchTUI(cpu_spec(**{"data.dataset": "iris"}))
    async with running(app, SMALL) as pilot:
        await data_loaded(app, pilot)
        for n, (pane, _) in enumerate(PANES, 2):
            await pilot.press(f"f{n}")
            await pilot.pause(0.2)
            assert app.query_one("#panes").active == pane
            await wait_for(pilot, lambda: fits(app), 5, f"the footer of {pane} to fit 80 columns")
            actions = footer_actions(app)
            assert "help" in actions, (pane, actions)
            focused_keys = {b.action.split("(")[0] for node in (app.focused.ancestors_with_self if app.focused else [])
                            for b in getattr(node, "BINDINGS", []) if getattr(b, "show", True)
                            and node is not app and not isinstance(node, (Input, DataTable))}
            assert focused_keys <= actions, (pane, focused_keys - actions)
        await pilot.press("f3")
        await wait_for(pilot, lambda: {"add", "edit", "remove", "move"} <= footer_actions(app), 10,
                       "the Model table's keys in the footer")


async def test_the_model_help_reaches_every_layer_and_a_broken_layer_says_why_at_80x24():
    app = TorchTUI(cpu_spec(**{"data.dataset": "iris"}))
    async with running(app, SMALL) as pilot:
        await data_loaded(app, pilot)
        await pilot.press("f3")
        box = app.query_one("#model-help-box")
        await wait_for(pilot, lambda: box.region.height > 0 and box.max_scroll_y > 0, 10,
                       "the layer help laid out, taller than its box (so it must scroll)")
        box.focus()
        await pilot.press("end")
        await wait_for(pilot, lambda: box.scroll_y == box.max_scroll_y, 10, "the help to scroll to its end")
        last = list(LAYERS.values())[-1].help
        assert last in text_of(app.query_one("#model-help", Static))
        # a stack an edit breaks (Conv2d on a flat row) is kept and marked: its reason on screen
        app.edit_layers(["Linear(8)", "Conv2d(4, 3)"])
        app.refresh_stack()
        status = app.query_one("#model-status", Static)
        await wait_for(pilot, lambda: "layer 2" in text_of(status) and status.region.height >= 1, 10,
                       "the broken layer's reason on screen")
        assert status.region.bottom <= SMALL[1] - 1  # above the footer, not cut off


async def test_every_hyperparameter_and_what_ctrl_r_will_do_fit_80x24_without_scrolling():
    app = TorchTUI(cpu_spec(**{"data.dataset": "iris"}))
    async with running(app, SMALL) as pilot:
        await data_loaded(app, pilot)
        await pilot.press("f4")
        pane, line = app.query_one("#hyper-pane"), app.query_one("#hp-next", Static)
        await wait_for(pilot, lambda: "ctrl+r trains a new run" in text_of(line) and line.region.height > 0, 10,
                       "the Hyperparameters pane laid out")
        assert pane.max_scroll_y == 0 and line.region.bottom <= SMALL[1] - 1  # all of it, above the footer
        device = app.query_one("#hp-device")
        assert device.region.width >= 30  # a row of its own: a GPU's name fits


@pytest.mark.parametrize("size", [(79, 24), (80, 23), (60, 20)])
async def test_below_80x24_one_line_says_so(size):
    app = TorchTUI(cpu_spec())
    async with running(app, size) as pilot:
        await pilot.pause()
        message = text_of(app.query_one("#too-small", Static))
        assert f"at least {MIN_SIZE[0]}x{MIN_SIZE[1]}" in message and f"{size[0]}x{size[1]}" in message
        assert app.screen.has_class("-too-small") and not app.query_one("#panes").display
        await pilot.resize_terminal(*SMALL)
        await pilot.pause()
        assert not app.screen.has_class("-too-small") and app.query_one("#panes").display


async def test_a_resize_while_help_is_open_leaves_the_panes_right_when_it_closes():
    # too small, then help opened, then the terminal made big enough: closing help must show the panes again,
    # not the screen of the panes still marked too small, with the "too small" line emptied (a blank screen)
    app = TorchTUI(cpu_spec())
    async with running(app, (60, 20)) as pilot:
        await pilot.pause()
        await pilot.press("f1")
        await pilot.pause()
        assert app.screen is not app.screen_stack[0]
        await pilot.resize_terminal(*SMALL)
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.screen_stack[0]
        assert not app.screen.has_class("-too-small") and app.query_one("#panes").display
        await pilot.press("f1")  # and the other way round: made too small under help, big again after it
        await pilot.resize_terminal(60, 20)
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen.has_class("-too-small") and not app.query_one("#panes").display
        assert "too small" in text_of(app.query_one("#too-small", Static))


async def test_a_pane_switched_to_while_too_small_stays_when_the_terminal_grows():
    """The focus the panes had before the terminal went too small was given back as it grew: in the pane left
    meanwhile (F5 pressed at 60x20), which switched the screen back to it."""
    app = TorchTUI(cpu_spec())
    async with running(app, SMALL) as pilot:
        await data_loaded(app, pilot)
        panes = app.query_one("#panes")
        assert panes.active == "data"
        await pilot.resize_terminal(60, 20)
        await wait_for(pilot, lambda: app.screen.has_class("-too-small"), what="too small")
        await pilot.press("f5")
        await wait_for(pilot, lambda: panes.active == "training", what="the Training pane")
        await pilot.resize_terminal(*SMALL)
        await wait_for(pilot, lambda: not app.screen.has_class("-too-small"), what="big enough")
        await pilot.pause(0.3)
        assert panes.active == "training"
        await wait_for(pilot, lambda: app.focused is not None and app.focused.id == "train-log",
                       what="the focus in the pane shown")


async def test_while_training_the_footer_keeps_stop_pause_and_save():
    app = TorchTUI(cpu_spec(**{"data.dataset": "digits", "train.epochs": 100_000}))
    async with running(app, SMALL) as pilot:
        await data_loaded(app, pilot)
        assert "train" in footer_actions(app)
        await pilot.press("f3")  # the Model pane: its own keys take room too
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: app.followed is not None and app.followed.running, 120, "the run to start")
        await pilot.press("f3")
        await wait_for(pilot, lambda: {"stop", "pause", "save", "help"} <= footer_actions(app), 10,
                       "stop, pause and save in the footer")
        assert fits(app)
        await pilot.press("ctrl+x")
        await wait_for(pilot, lambda: not app.followed.running, 60, "the run to stop")
