"""torchtui: train PyTorch models from the terminal - a Textual screen and a headless `torchtui run`."""

__version__ = "0.1.0"
