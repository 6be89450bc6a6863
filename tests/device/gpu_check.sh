#!/usr/bin/env bash
# Issue 12 on a GPU, run by hand (CI has none), one script under 6 minutes on one H100/H200:
#   bash tests/device/gpu_check.sh 2>&1 | tee gpu_check.log
# CUDA graphs: the exactness matrix (graphs on vs eager vs textbook, on CUDA), resume after kill -9 with graphs,
# each precision mode converging, the fallbacks announcing themselves, memory with and without graphs and a
# capture that cannot fit; then the throughput table (small MLP at 64 / 512, wide MLP at 4096, with the
# last epoch's steady pace and a graphed step's parts timed), and what an epoch's checkpoint saves cost there.
# Uses the machine's python3 with torch; the repo is put on PYTHONPATH (no install needed).
# REHEARSE=1: the same script on a CPU standing in for the GPU, at small sizes (tests/device/rehearse.py): it
# checks the script runs and its checks can pass, before a GPU's minutes are spent on it.
set -u
cd "$(dirname "$0")/../.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
status=0
if [ "${REHEARSE:-0}" = 1 ]; then
    PY=(python3 tests/device/rehearse.py) DEVICE=cpu SMALL=(--rows 4000 --repeats 1)
    # a capture needs 4 full batches (3 to warm up, then it); the wide model narrowed to 128, as a CPU without bf16
    # matmuls takes minutes over its bf16 steps at 1024 (the rehearsal checks that the lines print, not their pace)
    WIDE=(--rows 4000 --repeats 1 --batches 512 --width 128) SAVES=(--repeats 2)
    echo "== rehearsal on the CPU: not a GPU's numbers"
else
    PY=(python3) DEVICE=cuda SMALL=(--rows 100000 --repeats 2) WIDE=(--rows 1000000 --repeats 2 --batches 4096)
    SAVES=(--repeats 5)
    echo "== environment"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
fi
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.is_available())"

timeout 230 "${PY[@]}" tests/device/graph_check.py ${SECTIONS:-exactness resume precision fallbacks memory} || status=1

echo "== throughput, small MLP (targets: engine graphs >= 5x the hand loop at 64, >= 3x at 512)"
timeout 150 "${PY[@]}" tests/bench/throughput.py --device $DEVICE "${SMALL[@]}" --epochs 2 || status=1
echo "== throughput, wide MLP (target: graphs bf16 >= 3x the fp32 hand loop at 4096), and where a graphed step's time goes"
timeout 120 "${PY[@]}" tests/bench/throughput.py --device $DEVICE --model wide "${WIDE[@]}" --epochs 4 --breakdown \
    || status=1
echo "== an improving epoch's saves on this machine's disk (the wide model's checkpoint; part of the engine's whole run)"
timeout 20 python3 tests/bench/saves.py --model wide "${SAVES[@]}" || status=1
echo "gpu_check: exit $status"
exit $status
