"""torchtui's CLI under torchrun, with rank 0's pause flag flipped at the two worst moments a SIGUSR2 can come.

A signal reaches a rank at any moment, so a random one in a test almost never lands where it hurts. This
entry point lands it there every time, as the handler itself would (it sets `Requests.pause`):
  1. just after an agreement that said "no pause": the flag is set before the boundary's serving (a --save-every
     save, a few steps later) reads whether to pause;
  2. inside the pause, just after an agreement that said "stay paused": the flag is cleared before the pause's
     loop reads it.
A rank that read its own flag there would pause alone, or go on alone, and its collectives would pair with the
wrong ones of the other rank. Run as `torchrun ... tests/ddp_pause_race.py run ...` (test_distributed.py).
"""

from __future__ import annotations

from tui.cli import main
from tui.core.train import Trainer

PAUSE_AGREEMENTS_BEFORE_CLEARING = 2  # the pause lasts a few agreements, as a person's would


def install() -> None:
    """Wrap `Trainer._agree` so rank 0's flag flips just after the agreements named above."""
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


if __name__ == "__main__":
    install()
    main()
