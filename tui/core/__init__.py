"""Training without a screen: spec, data, layers, the loop, checkpoints and run folders.

Nothing here imports textual, typer, rich or the app (tests/test_boundaries.py checks it).
The recorder (record.py) is the one writer of a run's events and checkpoints; `follow.RunState`
is the one fold of those events into state. The console is handed each event as it is
written and folds it with `RunState`; the screen and `torchtui runs` read the run folder's
event log and fold it the same way.
"""
