#!/usr/bin/env bash
# Lays out a split model from parts of others, then runs a command on it:
#   split_set.sh DIR PART1 PART2 PART3 -- COMMAND [ARGS...]
# links PARTi as DIR/m-0000i-of-00003.gguf ("-": left out, a missing part), so a test can
# mix parts of different sets (another model, another cut, another position).
set -eu
if [ $# -lt 6 ] || [ "$5" != "--" ]; then
    echo "usage: split_set.sh DIR PART1 PART2 PART3 -- COMMAND [ARGS...]" >&2
    exit 2
fi
dir=$1
rm -rf "$dir"
mkdir -p "$dir"
i=1
for p in "$2" "$3" "$4"; do
    if [ "$p" != "-" ]; then
        ln -s "$p" "$dir/m-0000$i-of-00003.gguf"
    fi
    i=$((i + 1))
done
shift 5
exec "$@"
