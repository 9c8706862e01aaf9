#!/usr/bin/env bash
# Fails (and lists the files) when any tracked C++ file differs from what clang-format-14
# makes of it with the root .clang-format. ctest runs it as `format`; fix with
#   git ls-files '*.cpp' '*.h' | xargs clang-format-14 -i
set -euo pipefail
cd "$(dirname "$0")/.."
formatter="${CLANG_FORMAT:-clang-format-14}"
bad=()
while IFS= read -r f; do
    "$formatter" --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done < <(git ls-files '*.cpp' '*.h' 2>/dev/null || find src apps tests bench fuzz -name '*.cpp' -o -name '*.h')
if [ ${#bad[@]} -ne 0 ]; then
    echo "not formatted with $formatter (.clang-format): ${bad[*]}" >&2
    exit 1
fi
echo "all C++ files formatted"
