#include "experts/expert_shard.h"

#include "util/error.h"
#include "util/fnv1a.h"

namespace sluice {

std::optional<expert_shard> read_expert_shard(const gguf_file & file) {
    const gguf_value * owners = file.get_array("sluice.shard.owners");
    if (owners == nullptr) {
        return std::nullopt;
    }
    const auto rank     = file.get_u32("sluice.shard.rank");
    const auto ranks    = file.get_u32("sluice.shard.ranks");
    const auto n_expert = file.get_u32("sluice.shard.n_expert");
    const auto bytes    = file.get_u64("sluice.shard.source_bytes");
    const auto hash     = file.get_u64("sluice.shard.source_hash");
    if (!rank || !ranks || !n_expert || !bytes || !hash || *ranks == 0 || *rank >= *ranks || *n_expert == 0) {
        fail(
            "{}: a shard file needs sluice.shard.rank < sluice.shard.ranks, sluice.shard.n_expert, "
            "sluice.shard.source_bytes and sluice.shard.source_hash",
            file.path());
    }
    if (owners->elem_type != gguf_value_type::INT32 || owners->count == 0 || owners->count % *n_expert != 0) {
        fail("{}: sluice.shard.owners must be whole layers of {} INT32 owners ({} values)", file.path(), *n_expert,
             owners->count);
    }
    std::vector<std::vector<int>> owner;
    for (uint64_t i = 0; i < owners->count; i += *n_expert) {
        std::vector<int> row;
        for (uint64_t e = 0; e < *n_expert; ++e) {
            row.push_back(static_cast<int>(owners->array_i64(i + e)));
        }
        if (row[0] < 0) {
            row.clear();  // a dense block
        }
        owner.push_back(std::move(row));
    }
    const std::string scheme(file.get_string("sluice.shard.scheme").value_or("round-robin"));
    expert_shard      s;
    s.rank         = static_cast<int>(*rank);
    s.partition    = expert_partition::from_owners(std::move(owner), static_cast<int>(*ranks), scheme);
    s.source_bytes = *bytes;
    s.source_hash  = *hash;
    return s;
}

void write_expert_shard_keys(gguf_writer & w, int rank, const expert_partition & partition, int n_expert,
                             uint64_t source_bytes, uint64_t source_hash) {
    std::vector<int32_t> flat;
    for (const std::vector<int> & row : partition.owners()) {
        for (int e = 0; e < n_expert; ++e) {
            flat.push_back(row.empty() ? -1 : row[e]);
        }
    }
    w.set_u32("sluice.shard.rank", static_cast<uint32_t>(rank));
    w.set_u32("sluice.shard.ranks", static_cast<uint32_t>(partition.ranks()));
    w.set_string("sluice.shard.scheme", partition.scheme());
    w.set_u32("sluice.shard.n_expert", static_cast<uint32_t>(n_expert));
    w.set_array_i32("sluice.shard.owners", flat);
    w.set_u64("sluice.shard.source_bytes", source_bytes);
    w.set_u64("sluice.shard.source_hash", source_hash);
}

uint64_t model_header_hash(const gguf_file & file) {
    fnv1a h;
    for (size_t i = 0; i < file.n_parts(); ++i) {
        const gguf_file & part = file.part(i);
        h.add(part.bytes().data(), part.data_offset());
    }
    return h.value();
}

}  // namespace sluice
