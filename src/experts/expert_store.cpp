#include "experts/expert_store.h"

#include "util/error.h"

namespace sluice {
namespace {

void check_stacked(const gguf_file & file, const gguf_tensor * t, int64_t cols, int64_t rows, int64_t n_expert) {
    if (t->n_dims != 3 || t->ne[0] != cols || t->ne[1] != rows || t->ne[2] != n_expert) {
        fail("{}: tensor '{}' has shape [{}, {}, {}], expected [{}, {}, {}] (offset {})", file.path_of(*t), t->name,
             t->ne[0], t->ne[1], t->ne[2], cols, rows, n_expert, t->info_offset);
    }
    if (!traits(t->type).computable) {
        fail("{}: tensor '{}' has type {}, which sluice cannot compute with", file.path_of(*t), t->name,
             type_name(t->type));
    }
}

weight_matrix matrix_of(const expert_slab & s, const gguf_file & file) {
    return weight_matrix{s.type, s.rows, s.cols, row_bytes(s.type, s.cols),
                         file.part(s.part).bytes().data() + s.file_offset};
}

}  // namespace

expert_store::expert_store(const gguf_file & file, std::vector<expert_layer_tensors> layers, int64_t n_embd,
                           int64_t n_ff, int n_expert)
    : file_(file),
      layers_(std::move(layers)),
      n_expert_(n_expert),
      n_embd_(n_embd),
      n_ff_(n_ff),
      shard_(read_expert_shard(file)) {
    if (shard_ && shard_->partition.n_layer() != static_cast<int>(layers_.size())) {
        fail("{}: the shard's partition has {} layers, the model {}", file.path(), shard_->partition.n_layer(),
             layers_.size());
    }
    local_.resize(layers_.size());
    for (size_t i = 0; i < layers_.size(); ++i) {
        const expert_layer_tensors & l = layers_[i];
        if (l.gate == nullptr && l.up == nullptr && l.down == nullptr) {
            continue;  // a dense block
        }
        if (l.gate == nullptr || l.up == nullptr || l.down == nullptr) {
            fail("{}: a MoE layer lacks one of its gate/up/down expert tensors", file.path());
        }
        int64_t stacked = n_expert_;  // a shard stacks only its rank's experts, in id order
        if (shard_) {
            const int layer = static_cast<int>(i);
            if (shard_->partition.owners()[i].size() != static_cast<size_t>(n_expert_)) {
                fail("{}: the shard's partition gives layer {} {} experts, the model {}", file.path(), i,
                     shard_->partition.owners()[i].size(), n_expert_);
            }
            local_[i].assign(static_cast<size_t>(n_expert_), -1);
            const std::vector<int32_t> own = shard_->partition.owned(layer, shard_->rank);
            for (size_t j = 0; j < own.size(); ++j) {
                local_[i][own[j]] = static_cast<int>(j);
            }
            stacked = static_cast<int64_t>(own.size());
        }
        check_stacked(file, l.gate, n_embd_, n_ff_, stacked);
        check_stacked(file, l.up, n_embd_, n_ff_, stacked);
        check_stacked(file, l.down, n_ff_, n_embd_, stacked);
    }
}

expert_store expert_store::in_other_file(const gguf_file & other) const {
    std::vector<expert_layer_tensors> layers(layers_.size());
    const auto                        same = [&](const gguf_tensor * t) -> const gguf_tensor * {
        if (t == nullptr) {
            return nullptr;
        }
        const gguf_tensor * found = other.find_tensor(t->name);
        if (found == nullptr) {
            fail("{}: no tensor '{}' (the experts of {})", other.path(), t->name, file_.path());
        }
        return found;
    };
    for (size_t l = 0; l < layers_.size(); ++l) {
        layers[l] = {same(layers_[l].gate), same(layers_[l].up), same(layers_[l].down)};
    }
    expert_store out(other, std::move(layers), n_embd_, n_ff_, n_expert_);
    if (out.shard_.has_value() != shard_.has_value() || (shard_ && out.shard_->rank != shard_->rank)) {
        fail(
            "{}: it holds other experts than {} (one is a shard of an expert-parallel job, the other not, or of "
            "another rank)",
            other.path(), file_.path());
    }
    return out;
}

expert_slab expert_store::slab(int layer, const gguf_tensor * t, int expert) const {
    int index = expert;
    if (shard_) {
        index = local_[layer][expert];
        if (index < 0) {
            fail("{}: expert {} of layer {} is not in this shard (rank {}'s)", file_.path(), expert, layer,
                 shard_->rank);
        }
    }
    const uint64_t per_expert = t->nbytes / static_cast<uint64_t>(t->ne[2]);
    const uint64_t offset     = file_.file_offset(*t) + per_expert * static_cast<uint64_t>(index);
    return expert_slab{t->type, t->ne[1], t->ne[0], offset, per_expert, t->part};
}

expert_matrices expert_store::view(int layer, int expert) const {
    const expert_layer_tensors & l = layers_[layer];
    return expert_matrices{matrix_of(slab(layer, l.gate, expert), file_), matrix_of(slab(layer, l.up, expert), file_),
                           matrix_of(slab(layer, l.down, expert), file_)};
}

uint64_t expert_store::expert_bytes(int layer) const {
    const expert_layer_tensors & l = layers_[layer];
    if (l.gate == nullptr) {
        return 0;
    }
    const auto e = static_cast<uint64_t>(l.gate->ne[2]);  // n_expert, or a shard's share
    return l.gate->nbytes / e + l.up->nbytes / e + l.down->nbytes / e;
}

std::vector<uint64_t> expert_store::expert_bytes_per_layer() const {
    std::vector<uint64_t> out(layers_.size());
    for (size_t l = 0; l < layers_.size(); ++l) {
        out[l] = expert_bytes(static_cast<int>(l));
    }
    return out;
}

uint64_t expert_store::total_bytes() const {
    uint64_t total = 0;
    for (const expert_layer_tensors & l : layers_) {
        if (l.gate == nullptr) {
            continue;
        }
        total += l.gate->nbytes + l.up->nbytes + l.down->nbytes;
    }
    return total;
}

}  // namespace sluice
