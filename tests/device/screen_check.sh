#!/usr/bin/env bash
# GPU checks for the screen and for out-of-memory, run by hand on a GPU machine (CI has none):
#   bash tests/device/screen_check.sh
# 1. A run that does not fit the GPU ends with one line (exit 1) and an out_of_memory event, no traceback.
# 2. The screen on a GPU box: the device picker lists the GPUs with free memory, a run started with
#    ctrl+r trains on cuda, and the Training pane shows GPU memory and utilisation of the worker.
set -u
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
R=$(mktemp -d)
cd "$R"
echo "== 1. out of memory on the GPU"
python3 -m tui run --dataset digits --layers "Linear(16000000), ReLU()" --batch-size 1437 --epochs 1 --device cuda \
    --name oom > out.txt 2> err.txt
echo "exit code: $?"
echo "stderr: $(cat err.txt)"
grep -c Traceback err.txt || true
python3 - <<'PY'
import json
events = [json.loads(l) for l in open("checkpoints/oom/events.jsonl")]
print("last event:", {k: v for k, v in events[-1].items() if k != "time"})
PY
echo "== 2. the screen on a GPU box"
python3 - <<'PY'
import asyncio, time
from tui.app.app import TorchTUI
from tui.core.spec import Spec

async def main():
    app = TorchTUI(Spec().with_overrides({"data.dataset": "digits", "train.epochs": 30, "train.device": "cuda"}))
    async with app.run_test(size=(120, 36)) as pilot:
        for _ in range(100):
            if app.data is not None:
                break
            await pilot.pause(0.1)
        await pilot.pause(0.3)
        print("device choices:", app.query_one("#hp-device")._options)
        await pilot.press("ctrl+r")
        for _ in range(600):
            await pilot.pause(0.1)
            if app.followed and len(app.followed.epochs) >= 3:
                break
        s = app.followed
        print("status:", app.query_one("#train-status").content)
        print("telemetry:", app.query_one("#train-telemetry").content)
        print("epochs seen:", len(s.epochs), "steps logged:", len(s.steps), "device:", s.start.get("device"))
        await pilot.press("ctrl+x")
        for _ in range(300):
            await pilot.pause(0.1)
            if app.process is None:
                break
        print("after stop:", s.status, s.end.get("status"), "epoch_step", s.end.get("epoch_step"))

asyncio.run(main())
PY
