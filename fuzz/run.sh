#!/usr/bin/env bash
# Builds the fuzzers (clang-14, libFuzzer + ASan + UBSan) into build-fuzz and runs them for
# SLUICE_FUZZ_SECONDS in all (default 60): the GGUF reader and chat templates a quarter each,
# the model loader, the tokenizer loader and the HTTP request parser a sixth each. Exits
# non-zero on any crash, leak, timeout or sanitizer report; the reproducer is left in
# fuzz-out/ (prefixed with the target's name, except the GGUF reader's).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build-fuzz"
out="$root/fuzz-out"
seconds="${SLUICE_FUZZ_SECONDS:-60}"
chat_seconds=$((seconds / 4))
model_seconds=$((seconds / 6))
tokenizer_seconds=$((seconds / 6))
request_seconds=$((seconds / 6))
gguf_seconds=$((seconds - chat_seconds - model_seconds - tokenizer_seconds - request_seconds))

# fuzz TARGET CORPUS SECONDS ARTIFACT_PREFIX [libFuzzer flags...]: one target, with the limits
# every target shares.
fuzz() {
    local target=$1 corpus_dir=$2 time=$3 prefix=$4
    shift 4
    "$build/fuzz/sluice_${target}_fuzz" "$corpus_dir" "$@" \
        -max_total_time="$time" \
        -rss_limit_mb=2048 \
        -timeout=10 \
        -print_final_stats=1 \
        -artifact_prefix="$out/$prefix"
}

CC=clang-14 CXX=clang++-14 cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DSLUICE_TESTS=OFF -DSLUICE_BENCH=OFF -DSLUICE_FUZZ=ON >/dev/null
cmake --build "$build" --target sluice_gguf_fuzz sluice_chat_fuzz sluice_model_fuzz sluice_tokenizer_fuzz \
    sluice_request_fuzz sluice_fuzz_seeds -j"${SLUICE_FUZZ_JOBS:-2}"

# Seeds: one complete small model, heads of a larger one (header and metadata, cut inside
# the tensor infos), and a minimal hand-written file with one tensor.
corpus="$build/corpus"
mkdir -p "$corpus" "$out"
cp -f "$root/tests/data/quant-blocks.gguf" "$corpus/seed-quant-blocks.gguf"
head -c 65536 "$root/tests/data/tiny-qwen3moe-f16.gguf" >"$corpus/seed-tiny-head-64k.gguf"
head -c 4096 "$root/tests/data/tiny-qwen3moe-f16.gguf" >"$corpus/seed-tiny-head-4k.gguf"

le32() { printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 & 255)) $((($1 >> 8) & 255)) $((($1 >> 16) & 255)) $((($1 >> 24) & 255)); }
le64() { le32 $(($1 & 0xffffffff)); le32 $((($1 >> 32) & 0xffffffff)); }
str() { le64 ${#1}; printf '%s' "$1"; }
{
    printf 'GGUF%b' "$(le32 3)$(le64 1)$(le64 2)"
    printf '%b' "$(str general.architecture)$(le32 8)$(str tiny)"
    printf '%b' "$(str general.alignment)$(le32 4)$(le32 32)"
    printf '%b' "$(str w)$(le32 2)$(le64 4)$(le64 2)$(le32 0)$(le64 0)"
} >"$corpus/seed-minimal.gguf"
size=$(wc -c <"$corpus/seed-minimal.gguf")
head -c $(((32 - size % 32) % 32 + 32)) /dev/zero >>"$corpus/seed-minimal.gguf"

fuzz gguf "$corpus" "$gguf_seconds" "" -dict="$root/fuzz/gguf.dict"

# Chat templates: seeded with the real templates the goldens cover.
chat_corpus="$build/chat-corpus"
mkdir -p "$chat_corpus"
cp -f "$root"/tests/data/templates/*.jinja "$chat_corpus/"
# Containers that would hold themselves (refused: a shared_ptr cycle would leak, which LSan
# reports; issue 16 item 9).
printf '%s' '{% set a = [] %}{% set _ = a.append(a) %}{{ a }}' >"$chat_corpus/seed-cycle-list"
printf '%s' '{% set ns = namespace(l=[]) %}{% set _ = ns.l.append(ns) %}{% set ns.me = [ns] %}' >"$chat_corpus/seed-cycle-namespace"
fuzz chat "$chat_corpus" "$chat_seconds" chat- -dict="$root/fuzz/chat.dict" -max_len=20000

# The model loader: tiny models of five architectures (written by sluice_fuzz_seeds).
"$build/fuzz/sluice_fuzz_seeds" "$build/seeds" "$root/tests/data/tiny-qwen3moe-f16.gguf" \
    "$root/tests/data/tokenizer/ggml-vocab-deepseek-coder.gguf"
fuzz model "$build/seeds/model" "$model_seconds" model- -dict="$root/fuzz/gguf.dict"

# The tokenizer loader: the vocabularies of the tiny model (spm) and of deepseek-coder (BPE).
fuzz tokenizer "$build/seeds/tokenizer" "$tokenizer_seconds" tokenizer- -dict="$root/fuzz/gguf.dict"

# The HTTP request parser: seeded with request bodies of both endpoints.
request_corpus="$build/request-corpus"
mkdir -p "$request_corpus"
printf '%s' '{"model":"m","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"hi"}]}],"max_tokens":8,"temperature":0.5,"top_p":0.9,"stop":["x"],"stream":true,"stream_options":{"include_usage":true},"logprobs":true,"top_logprobs":2,"seed":3}' \
    >"$request_corpus/chat.json"
printf '%s' '{"model":"m","prompt":[1,2,3],"echo":true,"logprobs":1,"max_tokens":4,"min_p":0.1,"top_k":5}' \
    >"$request_corpus/completion-ids.json"
printf '%s' '{"prompt":"The GNU","max_completion_tokens":null,"n":1,"stop":"\\n"}' >"$request_corpus/completion.json"
fuzz request "$request_corpus" "$request_seconds" request- -max_len=4096
