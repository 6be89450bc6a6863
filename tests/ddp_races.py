"""torchtui's CLI under torchrun, with a rank's request flag set at the worst moment a signal can come.

A signal reaches a rank at any moment, so a random one in a test almost never lands where it hurts. This
entry point lands it there every time, as the handler itself would (it sets a field of `Requests`). The race,
chosen by DDP_RACE:
- "pause": rank 0's pause flag (SIGUSR2), flipped twice:
  1. just after an agreement that said "no pause": the flag is set before the boundary's serving (a --save-every
     save, a few steps later) reads whether to pause;
  2. inside the pause, just after an agreement that said "stay paused": the flag is cleared before the pause's
     loop reads it.
  A rank that read its own flag there would pause alone, or go on alone, and its collectives would pair with the
  wrong ones of the other rank.
- "stop": rank 1 alone is asked to stop by a Ctrl+C (SIGINT) just after the first agreement, as when a terminal's
  Ctrl+C reaches rank 1 before rank 0. Every rank must stop at the next agreement for that one reason.
Run as `DDP_RACE=... torchrun ... tests/ddp_races.py run ...` (test_distributed.py).
"""

from __future__ import annotations

import os

from tui.cli import main
from tui.core.train import Trainer

PAUSE_AGREEMENTS_BEFORE_CLEARING = 2  # the pause lasts a few agreements, as a person's would


def pause_race() -> None:
    """Wrap `Trainer._agree` so rank 0's pause flag flips just after the agreements named above."""
    agree = Trainer._agree
    seen = {"agreements": 0, "paused": 0}

    def agree_then_flip(self: Trainer) -> bool:
        answer = agree(self)
        if self.world.rank != 0:
            return answer
        seen["agreements"] += 1
        if seen["agreements"] == 1:
            self.requests.pause = True  # 1: after the first agreement, which said "no pause"
        elif self.agreed_pause:
            seen["paused"] += 1
            if seen["paused"] == PAUSE_AGREEMENTS_BEFORE_CLEARING:
                self.requests.pause = False  # 2: after an agreement that said "stay paused"
        return answer

    Trainer._agree = agree_then_flip  # type: ignore[method-assign]


def stop_race() -> None:
    """Wrap `Trainer._agree` so rank 1 alone is asked to stop (SIGINT) just after the first agreement."""
    agree = Trainer._agree
    seen = {"agreements": 0}

    def agree_then_stop(self: Trainer) -> bool:
        answer = agree(self)
        seen["agreements"] += 1
        if self.world.rank == 1 and seen["agreements"] == 1:
            self.requests.stop = "SIGINT"
        return answer

    Trainer._agree = agree_then_stop  # type: ignore[method-assign]


if __name__ == "__main__":
    {"pause": pause_race, "stop": stop_race}[os.environ["DDP_RACE"]]()
    main()
