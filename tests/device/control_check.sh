#!/usr/bin/env bash
# CUDA checks for the worker's control channel and reports, run by hand on a GPU machine (CI has none):
#   bash tests/device/control_check.sh
# Device choices, GPU telemetry in step events, SIGUSR1 / SIGUSR2 on a CUDA run (weights still exact),
# evaluation events equal to their epochs, --on-nan skip on CUDA.
set -u
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
R=$(mktemp -d)
py() { python3 "$@"; }
nvidia-smi --query-gpu=index,name,memory.used,memory.total --format=csv,noheader,nounits

echo "== 1. device choices, without a CUDA context in this process"
py -c "
import torch
from tui.core import devices
for value, label in devices.available(): print(f'{value:8} {label}')
print('cuda initialised by available():', torch.cuda.is_initialized())"

echo "== 2. save now, pause and resume by signal on cuda; telemetry; weights equal an uninterrupted run"
py - "$R" <<'PY'
import json, signal, subprocess, sys, time, torch
R = sys.argv[1]
args = ["--dataset", "digits", "--epochs", "3", "--batch-size", "8", "--device", "cuda", "--seed", "3",
        "--layers", "Linear(128), ReLU(), Dropout(0.2)", "--json", "--runs-dir", R]
open(f"{R}/often.toml", "w").write("[train]\nlog_interval = 0.01\n")
subprocess.run([sys.executable, "-m", "tui", "run", f"{R}/often.toml", *args, "--name", "straight"], check=True,
               stdout=subprocess.DEVNULL)
p = subprocess.Popen([sys.executable, "-m", "tui", "run", f"{R}/often.toml", *args, "--name", "ctl"],
                     stdout=subprocess.PIPE, text=True)
sent, steps = [], []
for line in p.stdout:
    e = json.loads(line)
    if e["event"] == "step":
        steps.append(e)
        if e["epoch"] == 2 and not sent:
            p.send_signal(signal.SIGUSR1); p.send_signal(signal.SIGUSR2); sent.append(1)
    elif e["event"] == "paused":
        print("paused", e); time.sleep(1.0); p.send_signal(signal.SIGUSR2)
    elif e["event"] in ("resumed", "evaluation") or (e["event"] == "checkpoint" and e.get("requested")):
        print(e["event"], {k: v for k, v in e.items() if k not in ("confusion", "precision", "recall", "support", "classes")})
    elif e["event"] == "epoch":
        print("epoch", e["epoch"], "val_loss", e["val_loss"], "seconds", round(e["seconds"], 3))
print("exit", p.wait())
print("a step event:", steps[-1])
keys = ("gpu_mem_mb", "gpu_reserved_mb", "gpu_total_mb", "gpu_util", "cpu_percent", "rss_mb")
print("telemetry keys present in every step event:", {k: all(k in s for s in steps) for k in keys})
a = torch.load(f"{R}/straight/last.pt", weights_only=True)["model"]
b = torch.load(f"{R}/ctl/last.pt", weights_only=True)["model"]
print("weights identical to the uninterrupted cuda run:", all(torch.equal(a[k], b[k]) for k in a))
PY

echo "== 3. --on-nan skip on cuda (one target overflows float32 in MSE)"
py -c "
import random
r = random.Random(0)
with open('$R/bad.csv', 'w') as f:
    f.write('a,b,y\n')
    for i in range(400):
        a, b = r.random(), r.random()
        f.write(f'{a},{b},{1e20 if i == 17 else 3 * a - 2 * b}\n')"
printf '[data]\nstandardize_target = false\n' > $R/nostd.toml
py -m tui run $R/nostd.toml --dataset $R/bad.csv --val-split 0 --epochs 3 --device cuda --on-nan skip --runs-dir $R | grep -E "^epoch|^done"
py -m tui run $R/nostd.toml --dataset $R/bad.csv --val-split 0 --epochs 3 --device cuda --runs-dir $R > /dev/null; echo "stop mode exit $?"
rm -rf "$R"
