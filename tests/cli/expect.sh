#!/usr/bin/env bash
# Runs a command and checks both its exit status and its output (stdout and stderr together):
#   expect.sh CODE REGEX -- COMMAND [ARGS...]
# passes when COMMAND exits with CODE and its whole output matches REGEX (POSIX extended, as
# bash's =~: '.' matches newlines too, ^ and $ are the start and end of the output). ctest's
# PASS_REGULAR_EXPRESSION alone ignores the exit status, so a crash or a silent success after
# the right text would pass.
#   expect.sh --stdout-first CODE REGEX -- COMMAND [ARGS...]
# matches the command's stdout followed by its stderr instead: for mpirun, which forwards each
# rank's two streams separately, so a line of stderr could land in the middle of a line of
# stdout, differently from run to run.
set -u
stdout_first=0
if [ "${1:-}" = "--stdout-first" ]; then
    stdout_first=1
    shift
fi
if [ $# -lt 4 ] || [ "$3" != "--" ]; then
    echo "usage: expect.sh [--stdout-first] CODE REGEX -- COMMAND [ARGS...]" >&2
    exit 2
fi
want_code=$1
regex=$2
shift 3
tmp=$(mktemp)
err=$(mktemp)
trap 'rm -f "$tmp" "$err"' EXIT
if [ "$stdout_first" -eq 1 ]; then
    "$@" >"$tmp" 2>"$err"
    code=$?
    cat "$err" >>"$tmp"
else
    "$@" >"$tmp" 2>&1
    code=$?
fi
out=$(cat "$tmp"; echo x)  # keep trailing newlines: patterns may end in \n$
out=${out%x}
printf '%s' "$out"
if [ "$code" -ne "$want_code" ]; then
    echo "expect.sh: exit status $code, expected $want_code" >&2
    exit 1
fi
if ! [[ $out =~ $regex ]]; then
    echo "expect.sh: the output does not match: $regex" >&2
    exit 1
fi
echo "expect.sh: exit status $code and output as expected"
