#!/usr/bin/env bash
# The open GPU issue's checks as the one prepared command a lent GPU machine gets (issue 12: gpu_check.sh, about
# 4 minutes on an H200 (247 s on 2026-12-04), its sections' own time limits 520 s in all), each log kept whole under $OUT where the device tool sets it (else ./device-logs).
# Issue 13's ddp_check.sh (about 2 minutes; resolved, measured on an H200) runs too with
# CHECKS="gpu_check ddp_check". With the device tool: run(command="bash tests/device/all_checks.sh",
# timeout_s=540), which leaves a lease of 15 minutes room for the machine's start; then give_back.
# Rehearse it first on the CPU, at no device time: REHEARSE=1 bash tests/device/all_checks.sh
set -u
cd "$(dirname "$0")/../.."
LOGS=${OUT:-device-logs}
mkdir -p "$LOGS"
status=0
for check in ${CHECKS:-gpu_check}; do
    case $check in
        gpu_check) limit=520 show=(tail -40) ;;
        ddp_check) limit=180 show=(cat) ;;
        *) echo "all_checks: no check named $check (gpu_check, ddp_check)"; exit 2 ;;
    esac
    timeout $limit bash "tests/device/$check.sh" > "$LOGS/$check.log" 2>&1 || status=1
    "${show[@]}" "$LOGS/$check.log"
done
echo "all_checks: exit $status (logs in $LOGS)"
exit $status
