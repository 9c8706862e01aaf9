#include "experts/cache/slot_layout.h"

namespace sluice {
namespace {

uint64_t round_up(uint64_t v, uint64_t a) {
    return (v + a - 1) / a * a;
}

// Room for one matrix read with O_DIRECT: the slab rounded to whole blocks, plus one block
// because the slab need not start on a block boundary.
uint64_t span_for(uint64_t nbytes) {
    return round_up(nbytes, direct_io_alignment) + direct_io_alignment;
}

}  // namespace

slot_layout layout_of(const expert_store & store, int layer) {
    slot_layout out;
    if (store.has_experts(layer)) {
        out.gate_span = span_for(store.slab_gate(layer, 0).nbytes);
        out.up_span   = span_for(store.slab_up(layer, 0).nbytes);
        out.down_span = span_for(store.slab_down(layer, 0).nbytes);
    }
    return out;
}

std::array<read_request, 3> slot_reads(const expert_store & store, int layer, int32_t expert, std::byte * dest) {
    const slot_layout           m         = layout_of(store, layer);
    const expert_slab           slabs[3]  = {store.slab_gate(layer, expert), store.slab_up(layer, expert),
                                             store.slab_down(layer, expert)};
    const uint64_t              starts[3] = {0, m.gate_span, m.gate_span + m.up_span};
    std::array<read_request, 3> out;
    for (int i = 0; i < 3; ++i) {
        const uint64_t first = slabs[i].file_offset / direct_io_alignment * direct_io_alignment;
        const uint64_t last  = round_up(slabs[i].file_offset + slabs[i].nbytes, direct_io_alignment);
        out[i].file          = slabs[i].part;
        out[i].offset        = first;
        out[i].length        = last - first;
        out[i].required      = slabs[i].file_offset + slabs[i].nbytes - first;
        out[i].dest          = dest + starts[i];
    }
    return out;
}

expert_matrices slot_view(const expert_store & store, int layer, int32_t expert, const std::byte * base, bool packed) {
    const slot_layout m   = layout_of(store, layer);
    const auto        mat = [&](const expert_slab & s, uint64_t start) {
        const uint64_t skew = s.file_offset % direct_io_alignment;
        return weight_matrix{
            s.type, s.rows, s.cols, row_bytes(s.type, s.cols), reinterpret_cast<const uint8_t *>(base + start + skew),
            packed};
    };
    return expert_matrices{mat(store.slab_gate(layer, expert), 0), mat(store.slab_up(layer, expert), m.gate_span),
                           mat(store.slab_down(layer, expert), m.gate_span + m.up_span)};
}

}  // namespace sluice
