#include "tools/pack_experts.h"

#include "experts/expert_shard.h"
#include "experts/packed_file.h"
#include "gguf/gguf.h"
#include "model/tensor_table.h"
#include "util/error.h"
#include "util/progress.h"
#include "util/thread_pool.h"

#include <optional>
#include <vector>

namespace sluice {

pack_report pack_experts_file(const std::string & input, const std::string & output, isa target, thread_pool & pool) {
    const gguf_file in = gguf_file::open(input);
    if (read_expert_shard(in)) {
        fail("{}: a shard of an expert-parallel job (`sluice shard`); pack-experts packs a whole model", input);
    }
    gguf_writer out;
    write_packed_file_keys(out, target, model_header_hash(in));
    // Every expert's matrices start on a 4 KiB block (each expert's slab of these tensors is a
    // whole number of blocks in the usual geometries), so the cache's O_DIRECT reads of them
    // begin where the matrix does.
    out.set_alignment(4096);

    // The routed experts by the architecture's tensor table, as the streaming cache finds them.
    const std::vector<std::optional<tensor_role>> roles = tensor_roles(in);
    pack_report                                   rep;
    std::vector<size_t>                           source;  // [output tensor] -> its input tensor
    std::vector<uint64_t>                         written_after;
    for (size_t i = 0; i < in.tensors().size(); ++i) {
        const gguf_tensor & t = in.tensors()[i];
        if (roles[i] != tensor_role::EXPERTS || t.n_dims != 3) {
            continue;
        }
        if (!can_pack(t.type, target)) {
            fail("{}: tensor '{}' is {}, which has no packed form on {} (packed: Q8_0, Q4_K, Q5_K, Q6_K on avx512)",
                 input, t.name, type_name(t.type), isa_name(target));
        }
        if (t.ne[1] % k_packed_group_rows != 0) {
            fail("{}: tensor '{}' has {} rows per expert, not whole groups of {}, so its packed form would be larger",
                 input, t.name, t.ne[1], k_packed_group_rows);
        }
        out.add_tensor_info(std::string(t.name), t.type, {t.ne, t.ne + t.n_dims});
        rep.bytes += t.nbytes;
        ++rep.tensors;
        source.push_back(i);
        written_after.push_back(rep.bytes);
    }
    if (rep.tensors == 0) {
        fail("{}: the model has no routed experts (*_exps tensors) to pack", input);
    }

    std::vector<uint8_t> packed;
    progress_bar         bar("packing experts", rep.bytes);
    const auto           produce = [&](size_t i) -> std::span<const uint8_t> {
        const gguf_tensor & t          = in.tensors()[source[i]];
        const uint64_t      per_expert = t.nbytes / static_cast<uint64_t>(t.ne[2]);
        packed.resize(t.nbytes);
        pool.parallel_for(t.ne[2], [&](int64_t e, int) {
            const uint64_t      at = per_expert * static_cast<uint64_t>(e);
            const weight_matrix w{t.type, t.ne[1], t.ne[0], t.row_bytes(), t.data + at};
            pack_matrix_rows(w, target, 0, w.rows, packed.data() + at);
        });
        bar.update(written_after[i]);
        return packed;
    };
    out.write(output, produce);
    return rep;
}

}  // namespace sluice
