#!/usr/bin/env bash
# Issue 13 on a GPU machine (CI has none; one GPU is enough), run by hand:
#   bash tests/device/ddp_check.sh 2>&1 | tee ddp_check.log
# DDP on NCCL: --nproc-per-node gpu (every visible GPU) and torchrun with one process per GPU; the weights against
# a plain single-GPU run (no Dropout: its masks are drawn per process; world size 1: the same bits expected; more
# GPUs: allclose, as on the CPU); what DDP costs
# at world size 1 against the plain engine (target <= 5%); a stop through the launcher on CUDA.
# REHEARSE=1: the same script on the CPU (gloo, one process standing in for one GPU), to check it runs before a
# GPU's minutes are spent on it; its numbers are not a GPU's.
set -u
cd "$(dirname "$0")/../.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
R=$(mktemp -d)
status=0
if [ "${REHEARSE:-0}" = 1 ]; then
    echo "== rehearsal on the CPU (gloo): not a GPU's numbers"
    DEVICE=cpu GPUS=1 N=1 REPEATS=1
else
    nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader
    DEVICE=cuda GPUS=gpu REPEATS=3 N=$(python3 -c "import torch; print(torch.cuda.device_count())")
fi
A=(--dataset digits --layers "Linear(256), ReLU(), Linear(128), ReLU()" --epochs 3 --patience 0
   --batch-size 64 --seed 5 --runs-dir "$R" --json)

echo "== 1. --nproc-per-node gpu ($N GPUs, NCCL) and a plain run with the global batch"
python3 -m tui run "${A[@]}" --nproc-per-node $GPUS --name ddp > "$R/ddp.out" || status=1
python3 -m tui run "${A[@]}" --device $DEVICE --batch-size $((64 * N)) --name plain > "$R/plain.out" || status=1
python3 - "$R" "$N" <<'PY' || status=1
import json, sys, torch
R, n = sys.argv[1], int(sys.argv[2])
start = next(json.loads(l) for l in open(f"{R}/ddp.out") if '"event":"start"' in l)
print("start:", start["device"], "world_size", start["world_size"], "launcher", start["launcher_pid"])
a = torch.load(f"{R}/ddp/last.pt", weights_only=True)["model"]
b = torch.load(f"{R}/plain/last.pt", weights_only=True)["model"]
same = all(torch.equal(a[k], b[k]) for k in a)
close = all(torch.allclose(a[k], b[k], rtol=1e-4, atol=1e-5) for k in a)
diff = max(float((a[k] - b[k]).abs().max()) for k in a)
print(f"DDP ({n} GPUs) vs one GPU with the global batch: torch.equal {same}, allclose {close}, max |diff| {diff:.3g}")
print("PASS" if (same if n == 1 else close) else "FAIL", "weights")
sys.exit(0 if (same if n == 1 else close) else 1)
PY

echo "== 2. torchrun itself, NCCL, same weights as --nproc-per-node"
python3 -m torch.distributed.run --standalone --nproc-per-node "$N" -m tui run "${A[@]}" --name torchrun \
    > "$R/torchrun.out" 2> "$R/torchrun.err" || { status=1; tail -5 "$R/torchrun.err"; }
python3 -c "
import torch
a = torch.load('$R/ddp/last.pt', weights_only=True)['model']; b = torch.load('$R/torchrun/last.pt', weights_only=True)['model']
ok = all(torch.equal(a[k], b[k]) for k in a); print('PASS' if ok else 'FAIL', 'torchrun == --nproc-per-node (bit for bit)')" || status=1

echo "== 3. what DDP costs at world size 1 on $DEVICE (best of $REPEATS, samples/s over epochs 2-3)"
python3 - "$R" "$DEVICE" "$REPEATS" <<'PY' || status=1
import json, os, subprocess, sys
R, device, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
def rate(cmd, name):
    out = subprocess.run(cmd + ["run", "--dataset", "digits", "--layers", "Linear(256), ReLU(), Linear(256), ReLU()",
                                "--epochs", "3", "--patience", "0", "--batch-size", "64", "--device", device,
                                "--runs-dir", R, "--name", name, "--json"], capture_output=True, text=True,
                         check=True).stdout
    e = [json.loads(l) for l in out.splitlines() if '"event":"epoch"' in l][1:]
    return sum(x["samples_per_s"] * x["seconds"] for x in e) / sum(x["seconds"] for x in e)
plain, ddp = [], []
for i in range(repeats):
    plain.append(rate([sys.executable, "-m", "tui"], f"p{i}"))
    ddp.append(rate([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "1", "-m",
                     "tui"], f"d{i}"))
print(f"plain {max(plain):,.0f} samples/s, DDP world size 1 {max(ddp):,.0f}: {max(ddp) / max(plain) - 1:+.1%}")
PY

echo "== 4. SIGTERM to the launcher on $DEVICE: 143, last.pt, every process gone"
python3 -m tui run --dataset digits --epochs 500 --patience 0 --batch-size 8 --nproc-per-node $GPUS --runs-dir "$R" \
    --name stop --json > "$R/stop.out" &
L=$!
for i in $(seq 1 200); do grep -q '"event":"epoch"' "$R/stop.out" 2>/dev/null && break; sleep 0.1; done
kill -TERM $L; wait $L; code=$?
echo "exit $code; last event: $(tail -1 "$R/stop.out" | cut -c1-120)"
[ "$code" = 143 ] && [ -f "$R/stop/last.pt" ] && echo "PASS stop" || { echo "FAIL stop"; status=1; }
pgrep -f "name stop" > /dev/null && { echo "FAIL: processes left"; status=1; }
echo "ddp_check: exit $status"
exit $status
