"""Out of memory ends a run with one line and the last good checkpoint kept.

A real GPU out-of-memory is checked by tests/device/screen_check.sh; here the error is raised
on the CPU at the second epoch's save, to check what is kept and said."""

from __future__ import annotations

import pytest
import torch

from tui.core import checkpoint, job
from tui.core.errors import TrainingFailed
from tui.core.runs import read_events
from tui.core.train import Trainer

from conftest import make_spec


def test_out_of_memory_keeps_the_last_checkpoint_and_says_what_to_do(tmp_path, monkeypatch):
    real_save, calls = Trainer.save, []

    def save_then_run_out(self, best, **kwargs):
        calls.append(best)
        if len(calls) == 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        real_save(self, best, **kwargs)

    monkeypatch.setattr(Trainer, "save", save_then_run_out)
    with pytest.raises(TrainingFailed) as failed:
        job.run(make_spec(tmp_path, data__dataset="iris", train__epochs=3), lambda e: None)
    message = str(failed.value)
    assert message.startswith("out of memory on cpu") and "at batch size 16" in message
    assert "smaller --batch-size" in message and message.endswith("(last.pt is kept)")
    run = next((tmp_path / "runs").iterdir())
    assert checkpoint.load(run / "last.pt")["progress"]["epoch"] == 1
    last = list(read_events(run / "events.jsonl"))[-1]
    assert last["event"] == "error" and last["kind"] == "out_of_memory" and last["message"] == message


def test_an_out_of_memory_on_a_card_others_fill_names_them_not_only_the_batch(monkeypatch):
    """On a shared GPU box the memory is often other processes': the advice was a smaller batch whatever held
    the card. The driver's counters are set as an H200 would give them (this process: 3 GiB reserved)."""
    from tui.core import devices

    gib, cuda = 2**30, torch.device("cuda", 0)
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda device=None: 3 * gib)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (2 * gib, 140 * gib))  # 138 GiB used
    advice = devices.out_of_memory_advice(cuda, 512)
    assert advice == ("other processes hold 134.0 GiB of its 140 GiB (`nvidia-smi` lists them): pick a GPU they "
                      "leave free (--device cuda:N) or wait for them, or try a smaller --batch-size than 512 or a "
                      "smaller model")
    assert devices.out_of_memory_advice(cuda, None).endswith("wait for them, or use a smaller model, or --device cpu")
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (135 * gib, 140 * gib))  # 5: 3 ours, 1 ctx
    assert devices.held_by_others(cuda) == gib
    assert devices.out_of_memory_advice(cuda, 512) == "try a smaller --batch-size than 512 or a smaller model"
    on_cpu = devices.out_of_memory_advice(torch.device("cpu"), 16)
    assert on_cpu == "try a smaller --batch-size than 16 or a smaller model"
