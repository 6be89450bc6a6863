#!/usr/bin/env bash
# The open GPU issues' checks as the one prepared command a lent GPU machine gets (issue 12: gpu_check.sh, about
# 4 minutes on an H200; issue 13: ddp_check.sh, about 2), each log kept whole under $OUT where the device tool
# sets it (else ./device-logs). With the device tool: run(command="bash tests/device/all_checks.sh",
# timeout_s=540), which leaves a lease of 15 minutes room for the machine's start; then give_back.
# Rehearse it first on the CPU, at no device time: REHEARSE=1 bash tests/device/all_checks.sh
set -u
cd "$(dirname "$0")/../.."
LOGS=${OUT:-device-logs}
mkdir -p "$LOGS"
status=0
timeout 330 bash tests/device/gpu_check.sh > "$LOGS/gpu_check.log" 2>&1 || status=1
tail -40 "$LOGS/gpu_check.log"
timeout 180 bash tests/device/ddp_check.sh > "$LOGS/ddp_check.log" 2>&1 || status=1
cat "$LOGS/ddp_check.log"
echo "all_checks: exit $status (logs in $LOGS)"
exit $status
