"""Training without a screen: spec, data, layers, the loop, checkpoints and run folders.

Nothing here imports textual, typer or the app; the console and the screen are readers of
what this package writes.
"""
