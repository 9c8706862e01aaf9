// libFuzzer target for the GGUF reader. Any input must either parse or throw sluice::error;
// anything else (a sanitizer report, another exception, a trap) is a bug. After a successful
// parse every view is read so ASan sees an out-of-range one, every accessor runs, and the
// file is re-written and re-parsed, which must give the same metadata and tensors.
#include "gguf/gguf.h"
#include "util/error.h"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace {

using namespace sluice;

volatile uint64_t g_sink = 0;  // keeps the reads below from being optimised away

void touch(const void * p, uint64_t n) {
    if (n == 0) {
        return;
    }
    const auto * b = static_cast<const uint8_t *>(p);
    g_sink         = g_sink + b[0] + b[n - 1];
}

void touch_value(const gguf_value & v) {
    switch (v.type) {
        case gguf_value_type::STRING:
            touch(v.str.data(), v.str.size());
            return;
        case gguf_value_type::ARRAY:
            break;
        default:
            g_sink = g_sink + v.u + static_cast<uint64_t>(v.i);
            return;
    }
    if (v.elem_type == gguf_value_type::STRING) {
        for (std::string_view s : v.strings) {
            touch(s.data(), s.size());
        }
    } else if (v.elem_type == gguf_value_type::ARRAY) {
        for (const gguf_value & item : v.items) {
            touch_value(item);
        }
    } else {
        touch(v.raw, v.count * gguf_scalar_size(v.elem_type));
        for (uint64_t k = 0; k < v.count; ++k) {
            try {
                g_sink = g_sink + static_cast<uint64_t>(v.array_i64(k));
            } catch (const sluice::error &) {
                // floats out of i64 range and u64 values past INT64_MAX are refused
            }
            g_sink = g_sink + static_cast<uint64_t>(v.array_f64(k) != 0.0);
        }
    }
}

// Every typed accessor on every key: each may refuse, none may crash.
void try_accessors(const gguf_file & f, std::string_view key) {
    auto guard = [](auto fn) {
        try {
            fn();
        } catch (const sluice::error &) {
        }
    };
    guard([&] { g_sink = g_sink + f.get_string(key).value_or("").size(); });
    guard([&] { g_sink = g_sink + f.get_u64(key).value_or(0); });
    guard([&] { g_sink = g_sink + f.get_u32(key).value_or(0); });
    guard([&] { g_sink = g_sink + static_cast<uint64_t>(f.get_i64(key).value_or(0)); });
    guard([&] { g_sink = g_sink + static_cast<uint64_t>(f.get_f64(key).value_or(0.0) > 0.0); });
    guard([&] { g_sink = g_sink + static_cast<uint64_t>(f.get_f32(key).value_or(0.0f) > 0.0f); });
    guard([&] { g_sink = g_sink + f.get_bool(key).value_or(false); });
    guard([&] { g_sink = g_sink + (f.get_array(key) != nullptr); });
    guard([&] { g_sink = g_sink + f.require_u32(key); });
    guard([&] { g_sink = g_sink + f.require_string(key).size(); });
}

// Writing what was read and reading it back must reproduce it. Skipped where the copy would
// be huge: a large alignment pads the header, and tensors may share the same data bytes.
void check_round_trip(const gguf_file & f) {
    uint64_t total = 0;
    for (const gguf_tensor & t : f.tensors()) {
        total += t.nbytes + f.alignment();
    }
    if (f.alignment() > 4096 || total > 4 * f.file_size() + (1u << 20)) {
        return;
    }
    gguf_writer w;
    for (const gguf_kv & kv : f.metadata()) {
        w.set_value(std::string(kv.key), kv.value);
    }
    for (const gguf_tensor & t : f.tensors()) {
        w.add_tensor(std::string(t.name), t.type, std::vector<int64_t>(t.ne, t.ne + t.n_dims), t.data, t.nbytes);
    }
    const std::vector<uint8_t> bytes = w.to_bytes();
    const gguf_file            g     = gguf_file::parse(bytes, "copy.gguf");
    if (g.metadata().size() != f.metadata().size() || g.tensors().size() != f.tensors().size() ||
        g.alignment() != f.alignment()) {
        __builtin_trap();
    }
    for (size_t k = 0; k < f.tensors().size(); ++k) {
        const gguf_tensor & a = f.tensors()[k];
        const gguf_tensor & b = g.tensors()[k];
        if (a.name != b.name || a.type != b.type || a.nbytes != b.nbytes ||
            (a.nbytes > 0 && std::memcmp(a.data, b.data, a.nbytes) != 0)) {
            __builtin_trap();
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    try {
        const gguf_file f = gguf_file::parse({data, size}, "fuzz.gguf");
        for (const gguf_kv & kv : f.metadata()) {
            touch(kv.key.data(), kv.key.size());
            touch_value(kv.value);
            if (f.find(kv.key) != &kv.value) {
                __builtin_trap();
            }
            try_accessors(f, kv.key);
        }
        try_accessors(f, "absent.key");
        g_sink = g_sink + f.architecture().size();
        for (const gguf_tensor & t : f.tensors()) {
            touch(t.name.data(), t.name.size());
            touch(t.data, t.nbytes);
            if (f.find_tensor(t.name) != &t || t.nbytes != t.row_bytes() * static_cast<uint64_t>(t.n_rows())) {
                __builtin_trap();
            }
            g_sink = g_sink + static_cast<uint64_t>(t.n_elements());
        }
        try {
            check_round_trip(f);
        } catch (const sluice::error &) {
            __builtin_trap();  // the writer refused, or the reader refused the writer's output
        }
    } catch (const sluice::error &) {
        // the one expected outcome for bad input
    }
    return 0;
}
