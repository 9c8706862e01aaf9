#include "tools/pad_model.h"

#include "gguf/gguf.h"
#include "model/tensor_table.h"
#include "tensor/quantize.h"
#include "tools/quantize.h"
#include "util/error.h"
#include "util/progress.h"
#include "util/thread_pool.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <functional>
#include <span>
#include <vector>

namespace sluice {
namespace {

// One output tensor: its source, its padded dims and how its rows are made.
struct padded_tensor {
    const gguf_tensor *    src = nullptr;
    std::array<int64_t, 4> ne  = {1, 1, 1, 1};  // padded dims, GGUF order
    ggml_type              type;
    float                  scale = 1.0f;  // RMSNorm weights over d: sqrt(d/D)

    int64_t  n_rows() const { return ne[1] * ne[2] * ne[3]; }
    uint64_t nbytes() const { return static_cast<uint64_t>(n_rows()) * row_bytes(type, ne[0]); }
};

// The bytes of a row of n zeros in type t. Types quantize_row cannot write (MXFP4 kept as it
// is) are all-zero bytes: every ggml block with zero quants decodes to zeros.
std::vector<uint8_t> zero_row(ggml_type t, int64_t n) {
    std::vector<uint8_t> bytes(row_bytes(t, n), 0);
    if (can_quantize(t)) {
        const std::vector<float> zeros(static_cast<size_t>(n), 0.0f);
        quantize_row(t, zeros.data(), bytes.data(), n);
    }
    return bytes;
}

// Fills `out` with the padded tensor: a source row where every index is inside the source
// dims (its values first, zeros after), else a zero row. Rows are kept byte for byte when the
// type and values do not change (zero blocks appended); otherwise dequantized, scaled, padded
// and quantized (only the blocks that hold source values; the rest are zero blocks).
void make_tensor(const padded_tensor & p, std::vector<uint8_t> & out, thread_pool & pool) {
    const gguf_tensor &        s      = *p.src;
    const int64_t              cols   = p.ne[0];
    const uint64_t             rb     = row_bytes(p.type, cols);
    const uint64_t             rb_src = s.row_bytes();
    const std::vector<uint8_t> zeros  = zero_row(p.type, cols);
    const bool                 raw    = p.type == s.type && p.scale == 1.0f;
    const int64_t              block  = traits(p.type).block_size;
    const int64_t  prefix = std::min(cols, (s.ne[0] + block - 1) / block * block);  // columns holding source values
    const uint64_t prefix_bytes = raw ? rb_src : row_bytes(p.type, prefix);
    out.resize(p.nbytes());
    const int64_t rows = p.n_rows(), chunk = 256;
    pool.parallel_for((rows + chunk - 1) / chunk, [&](int64_t task, int) {
        std::vector<float> values;
        for (int64_t r = task * chunk; r < std::min(rows, (task + 1) * chunk); ++r) {
            uint8_t *     dst = out.data() + static_cast<uint64_t>(r) * rb;
            const int64_t i1 = r % p.ne[1], i2 = r / p.ne[1] % p.ne[2], i3 = r / (p.ne[1] * p.ne[2]);
            if (i1 >= s.ne[1] || i2 >= s.ne[2] || i3 >= s.ne[3]) {
                std::memcpy(dst, zeros.data(), rb);
                continue;
            }
            const uint8_t * src = s.data + static_cast<uint64_t>(i1 + s.ne[1] * (i2 + s.ne[2] * i3)) * rb_src;
            if (raw) {
                std::memcpy(dst, src, rb_src);
            } else {
                values.assign(static_cast<size_t>(prefix), 0.0f);
                dequantize_row(s.type, src, values.data(), s.ne[0]);
                for (int64_t c = 0; c < s.ne[0]; ++c) {
                    values[c] *= p.scale;
                }
                quantize_row(p.type, values.data(), dst, prefix);
            }
            std::memcpy(dst + prefix_bytes, zeros.data() + prefix_bytes, rb - prefix_bytes);
        }
    });
}

// The key that gives the routed experts' width: expert_feed_forward_length, or (Mixtral's
// llama and olmoe files) the FFN width, which is the experts'.
std::string ff_key(const gguf_file & in, const std::string & arch) {
    const std::string expert = arch + ".expert_feed_forward_length";
    return in.find(expert) ? expert : arch + ".feed_forward_length";
}

}  // namespace

pad_report write_padded_model(const std::string & input, const pad_options & opt, const std::string & output,
                              thread_pool & pool) {
    const gguf_file   in   = gguf_file::open(input);
    const std::string arch = std::string(in.architecture());
    if (tensor_table(arch).empty()) {
        fail("synth --from: {}: architecture '{}' has no tensor table", input, arch);
    }
    pad_report rep;
    rep.d_from           = in.require_u32(arch + ".embedding_length");
    const std::string ff = ff_key(in, arch);
    rep.ff_from          = in.require_u32(ff);
    rep.d_to             = opt.n_embd > 0 ? opt.n_embd : rep.d_from;
    rep.ff_to            = opt.n_ff_expert > 0 ? opt.n_ff_expert : rep.ff_from;
    if (rep.d_to < rep.d_from || rep.ff_to < rep.ff_from) {
        fail("synth --from: --d {} --ff {} would shrink {} (d {}, ff {}): it only pads", rep.d_to, rep.ff_to, input,
             rep.d_from, rep.ff_from);
    }
    if (opt.type && !can_quantize(*opt.type)) {
        fail("synth --from: cannot write weights of type {}", type_name(*opt.type));
    }
    const float eps =
        in.get_f32(arch + ".attention.layer_norm_rms_epsilon").value_or(1e-6f);  // absent keys read as hparams' default
    const double ratio = static_cast<double>(rep.d_from) / static_cast<double>(rep.d_to);

    gguf_writer                    w;
    const std::vector<std::string> replaced = {"general.alignment",
                                               "general.file_type",
                                               "general.name",
                                               arch + ".embedding_length",
                                               ff,
                                               arch + ".attention.layer_norm_rms_epsilon"};
    for (const gguf_kv & kv : in.metadata()) {
        if (is_split_key(kv.key)) {
            continue;
        }
        if (std::find(replaced.begin(), replaced.end(), kv.key) == replaced.end() ||
            (kv.key == "general.file_type" && !opt.type)) {
            w.set_value(std::string(kv.key), kv.value);
        }
    }
    if (in.alignment() != 32) {
        w.set_alignment(static_cast<uint32_t>(in.alignment()));
    }
    // Sizes derived from d or ff when their keys are absent stay as they were: the head size
    // (d / n_head; rotated dims default to it) is written out, and DeepSeek's shared experts
    // (n_shared x ff wide) are padded with the routed ones.
    if (!in.find(arch + ".attention.key_length")) {
        const uint32_t head = static_cast<uint32_t>(rep.d_from / in.require_u32(arch + ".attention.head_count"));
        w.set_u32(arch + ".attention.key_length", head);
        w.set_u32(arch + ".attention.value_length", head);
        if (!in.find(arch + ".rope.dimension_count")) {
            w.set_u32(arch + ".rope.dimension_count", head);
        }
    }
    const bool shared_follows_ff = !in.find(arch + ".expert_shared_feed_forward_length");
    w.set_u32(arch + ".embedding_length", static_cast<uint32_t>(rep.d_to));
    w.set_u32(ff, static_cast<uint32_t>(rep.ff_to));
    w.set_f32(arch + ".attention.layer_norm_rms_epsilon", static_cast<float>(eps * ratio));
    if (opt.type) {
        w.set_u32("general.file_type", llama_file_type(*opt.type));
        if (!in.find("general.quantization_version")) {
            w.set_u32("general.quantization_version", k_ggml_quantization_version);
        }
    }
    const std::string name = in.find("general.name") ? std::string(in.require_string("general.name")) : arch;
    w.set_string("general.name", fmt::format("{} padded to d {}, ff {}", name, rep.d_to, rep.ff_to));
    w.set_u32("sluice.padded_from.embedding_length", static_cast<uint32_t>(rep.d_from));
    w.set_u32("sluice.padded_from.expert_feed_forward_length", static_cast<uint32_t>(rep.ff_from));

    // Every tensor's padded dims from its spec: an EMBD axis becomes D, an FF_EXPERT axis FF.
    const std::vector<const tensor_spec *> specs = tensor_specs(in);
    std::vector<padded_tensor>             plan;
    for (size_t i = 0; i < in.tensors().size(); ++i) {
        const gguf_tensor & t = in.tensors()[i];
        const tensor_spec * s = specs[i];
        if (!s) {
            fail("synth --from: {}: tensor '{}' is not in the {} tensor table, so its padding is unknown", input,
                 t.name, arch);
        }
        padded_tensor p{.src = &t, .type = t.type};
        bool          over_d = false;
        for (int a = 0; a < t.n_dims; ++a) {
            const dim     axis   = s->shape[a];
            const int64_t expect = axis == dim::EMBD ? rep.d_from : axis == dim::FF_EXPERT ? rep.ff_from : t.ne[a];
            if (t.ne[a] != expect || (axis == dim::FF_SHARED && shared_follows_ff && t.ne[a] % rep.ff_from != 0)) {
                fail("synth --from: {}: tensor '{}' has {} in dim {}, which the metadata does not give", input, t.name,
                     t.ne[a], a);
            }
            p.ne[a] = axis == dim::EMBD                             ? rep.d_to
                      : axis == dim::FF_EXPERT                      ? rep.ff_to
                      : axis == dim::FF_SHARED && shared_follows_ff ? t.ne[a] / rep.ff_from * rep.ff_to
                                                                    : t.ne[a];
            over_d |= axis == dim::EMBD;
        }
        if (t.n_dims == 1 && s->role == tensor_role::NORM && over_d) {
            p.scale = static_cast<float>(std::sqrt(ratio));
            p.type  = ggml_type::F32;  // scaled values are written exactly
        } else if (opt.type && t.n_dims >= 2 && !s->f32 && s->role != tensor_role::ROUTER) {
            p.type = storable_type(*opt.type, p.ne[0]);
        } else {
            p.type = storable_type(t.type, p.ne[0]);
        }
        if (p.type != t.type && !can_quantize(p.type)) {
            fail("synth --from: tensor '{}': cannot write type {}", t.name, type_name(p.type));
        }
        std::vector<int64_t> dims(p.ne.begin(), p.ne.begin() + t.n_dims);
        w.add_tensor_info(std::string(t.name), p.type, dims);
        rep.bytes += p.nbytes();
        plan.push_back(p);
    }

    std::vector<uint8_t> buf;
    uint64_t             done = 0;
    progress_bar         bar("synth --from", rep.bytes);
    w.write(output, [&](size_t i) -> std::span<const uint8_t> {
        make_tensor(plan[i], buf, pool);
        done += buf.size();
        bar.update(done);
        return buf;
    });
    return rep;
}

}  // namespace sluice
