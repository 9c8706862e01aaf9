#!/usr/bin/env bash
# Runs a command only on a CPU with AVX-512, whose kernels have the packed forms that
# `sluice pack-experts` writes; elsewhere exits 77, which ctest counts as skipped:
#   needs_avx512.sh COMMAND [ARGS...]
set -eu
if ! grep -qw avx512f /proc/cpuinfo; then
    echo "skipped: this CPU has no AVX-512"
    exit 77
fi
exec "$@"
