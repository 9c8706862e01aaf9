#!/usr/bin/env bash
# Installs what sluice needs to build and test on Debian 12 (bookworm). Idempotent.
#   build:  compiler, CMake, Ninja, CLI11, fmt, nlohmann-json, PCRE2 (tokenizer regexes),
#           liburing (expert streaming), cpp-httplib (the server), OpenMPI (expert parallelism:
#           mpirun and the MPI library)
#   tests:  GoogleTest, Google Benchmark, clang-14 + compiler-rt (libFuzzer, sanitizers),
#           clang-format-14 (the `format` test),
#           node + npm (the server's end-to-end tests with the openai npm client; ctest runs
#           `npm ci` in tests/server itself)
set -euo pipefail
packages=(
    g++ cmake ninja-build pkg-config
    libcli11-dev libfmt-dev nlohmann-json3-dev libpcre2-dev liburing-dev libcpp-httplib-dev
    openmpi-bin libopenmpi-dev
    libgtest-dev libgmock-dev libbenchmark-dev
    clang-14 libclang-rt-14-dev clang-format-14
)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node and npm may come from elsewhere (a nodesource nodejs ships npm, and conflicts with
# Debian's npm package): only install Debian's when the commands are missing.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
echo "installing: ${missing[*]}" >&2
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
