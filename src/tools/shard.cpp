#include "tools/shard.h"

#include "experts/expert_shard.h"
#include "gguf/split.h"
#include "model/tensor_table.h"
#include "util/error.h"

#include <fmt/format.h>

#include <filesystem>

namespace sluice {

std::string shard_path(const std::string & dir, const std::string & stem, int rank, int ranks) {
    const std::string r = rank < 0 ? std::string("{rank}") : std::to_string(rank);
    return (std::filesystem::path(dir) / fmt::format("{}.rank{}-of-{}.gguf", stem, r, ranks)).string();
}

std::vector<std::string> write_shards(const gguf_file & in, const expert_partition & partition, int n_expert,
                                      const std::string & dir, const std::function<void(int)> & on_rank) {
    if (read_expert_shard(in)) {
        fail("shard: {} is a shard already; cut the whole model", in.path());
    }
    const std::vector<std::optional<tensor_role>> roles = tensor_roles(in);
    // The stacked expert tensors: [cols, rows, n_expert], one slab per expert.
    std::vector<bool> stacked(in.tensors().size(), false);
    int               found = 0;
    for (size_t i = 0; i < in.tensors().size(); ++i) {
        const gguf_tensor & t = in.tensors()[i];
        const int           l = tensor_block(t.name);
        if (roles[i] == tensor_role::EXPERTS && t.n_dims == 3 && l >= 0 && l < partition.n_layer()) {
            if (t.ne[2] != n_expert || partition.owners()[l].size() != static_cast<size_t>(n_expert)) {
                fail("shard: tensor '{}' stacks {} experts, the partition of layer {} {}", t.name, t.ne[2], l,
                     partition.owners()[l].size());
            }
            stacked[i] = true;
            ++found;
        }
    }
    if (found == 0) {
        fail("shard: {} has no routed experts to split", in.path());
    }
    std::filesystem::create_directories(dir);
    const std::string        stem        = std::filesystem::path(in.path()).stem().string();
    const uint64_t           source_hash = model_header_hash(in);
    std::vector<std::string> written;
    for (int r = 0; r < partition.ranks(); ++r) {
        if (on_rank) {
            on_rank(r);
        }
        gguf_writer w;
        for (const gguf_kv & kv : in.metadata()) {
            if (!is_split_key(kv.key)) {
                w.set_value(std::string(kv.key), kv.value);
            }
        }
        write_expert_shard_keys(w, r, partition, n_expert, in.total_size(), source_hash);
        for (size_t i = 0; i < in.tensors().size(); ++i) {
            const gguf_tensor & t = in.tensors()[i];
            if (!stacked[i]) {
                w.add_tensor(std::string(t.name), t.type, {t.ne, t.ne + t.n_dims}, t.data, t.nbytes);
                continue;
            }
            const auto owned = static_cast<int64_t>(partition.owned(tensor_block(t.name), r).size());
            w.add_tensor_info(std::string(t.name), t.type, {t.ne[0], t.ne[1], owned});
        }
        std::vector<uint8_t> buf;  // one stacked tensor of this rank's experts
        const std::string    path = shard_path(dir, stem, r, partition.ranks());
        w.write(path, [&](size_t i) -> std::span<const uint8_t> {
            const gguf_tensor & t    = in.tensors()[i];
            const uint64_t      slab = t.nbytes / static_cast<uint64_t>(n_expert);
            buf.clear();
            for (int32_t e : partition.owned(tensor_block(t.name), r)) {
                const auto * src = static_cast<const uint8_t *>(t.data) + slab * static_cast<uint64_t>(e);
                buf.insert(buf.end(), src, src + slab);
            }
            return buf;
        });
        written.push_back(path);
    }
    return written;
}

}  // namespace sluice
