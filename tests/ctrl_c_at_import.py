"""`torchtui ARGS` as its console script starts it, with a Ctrl+C (SIGINT) sent the moment MODULE starts
importing: `python tests/ctrl_c_at_import.py MODULE ARGS...` (test_signals.py). A signal at a random moment
of a start-up rarely lands inside an import; a meta-path finder lands it there every time."""

from __future__ import annotations

import os
import signal
import sys


class CtrlCAt:
    def __init__(self, module: str) -> None:
        self.module = module

    def find_spec(self, name, path, target=None):
        if name == self.module:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
        return None


if __name__ == "__main__":
    sys.meta_path.insert(0, CtrlCAt(sys.argv[1]))
    sys.argv = ["torchtui", *sys.argv[2:]]
    from tui.entry import main

    main()
