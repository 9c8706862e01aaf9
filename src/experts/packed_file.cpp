#include "experts/packed_file.h"

#include "experts/expert_shard.h"
#include "util/error.h"

namespace sluice {
namespace {

constexpr const char * k_isa_key     = "sluice.packed_experts.isa";
constexpr const char * k_version_key = "sluice.packed_experts.version";
constexpr const char * k_source_key  = "sluice.packed_experts.source_hash";

void check_types(const expert_store & store, const expert_store & packed, const std::string & path) {
    for (int l = 0; l < store.n_layer(); ++l) {
        if (!store.has_experts(l)) {
            continue;
        }
        const expert_slab want[3] = {store.slab_gate(l, 0), store.slab_up(l, 0), store.slab_down(l, 0)};
        const expert_slab got[3]  = {packed.slab_gate(l, 0), packed.slab_up(l, 0), packed.slab_down(l, 0)};
        for (int i = 0; i < 3; ++i) {
            if (got[i].type != want[i].type) {  // the shapes in_other_file checked: so the same bytes
                fail("{}: layer {}'s experts are {} there but {} in the model; pack the model you run", path, l,
                     type_name(got[i].type), type_name(want[i].type));
            }
        }
    }
}

}  // namespace

void write_packed_file_keys(gguf_writer & w, isa target, uint64_t source_hash) {
    w.set_string(k_isa_key, isa_name(target));
    w.set_u32(k_version_key, k_packed_format_version);
    w.set_u64(k_source_key, source_hash);
}

bool is_packed_file(const gguf_file & file) {
    return file.find(k_isa_key) != nullptr;
}

expert_store packed_store_of(const expert_store & store, const gguf_file & packed, isa target) {
    const std::string                     path    = packed.path();
    const std::optional<std::string_view> isa_of  = packed.get_string(k_isa_key);
    const std::optional<uint32_t>         version = packed.get_u32(k_version_key);
    const std::optional<uint64_t>         source  = packed.get_u64(k_source_key);
    if (!isa_of || !version || !source) {
        fail("{}: not a file of packed experts (no {}, {} or {}); write one with `sluice pack-experts`", path,
             k_isa_key, k_version_key, k_source_key);
    }
    if (*isa_of != isa_name(target)) {
        fail(
            "{}: its experts are packed for {}, but this run computes on {}; pack them on this machine, or leave "
            "out --packed-experts",
            path, *isa_of, isa_name(target));
    }
    if (*version != k_packed_format_version) {
        fail("{}: packed in format {}, this build reads format {}; pack the experts again with this build", path,
             *version, k_packed_format_version);
    }
    if (*source != model_header_hash(store.file())) {
        fail("{}: packed from another model than {} (its header differs); pack the model you run", path,
             store.file().path());
    }
    expert_store out = store.in_other_file(packed);
    check_types(store, out, path);
    return out;
}

}  // namespace sluice
