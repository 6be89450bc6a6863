"""The Textual screen. Imported only by `torchtui` with no command (or `attach`), never by the core."""

from __future__ import annotations

from pathlib import Path

from tui.core.spec import Spec


def run_app(spec: Spec | None = None, attach: Path | None = None, preset: bool = False) -> int:
    from .app import TorchTUI

    app = TorchTUI(spec, attach, preset)
    app.run()
    return app.return_code or 0
