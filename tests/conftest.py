"""Shared helpers: small real runs in temporary folders."""

from __future__ import annotations

import pytest

from tui.core import job
from tui.core.spec import Spec


def make_spec(tmp_path, **overrides) -> Spec:
    """A CPU spec writing into tmp_path; keys are dotted paths with '__' for '.'."""
    base = {"train.device": "cpu", "run.runs_dir": str(tmp_path / "runs")}
    base.update({k.replace("__", "."): v for k, v in overrides.items()})
    return Spec().with_overrides(base)


def train(tmp_path, **overrides):
    """Run a real training; returns (outcome, run folder, events)."""
    events: list[dict] = []
    outcome, folder = job.run(make_spec(tmp_path, **overrides), events.append)
    return outcome, folder, events


@pytest.fixture
def run_training(tmp_path):
    return lambda **kw: train(tmp_path, **kw)
