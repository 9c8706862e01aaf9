// Weights packed at load (kernels.h): the form is the ISA's (type_kernels::packed); this file
// only checks the calls and splits a matrix into its groups.
#include "kernels/kernels_impl.h"
#include "util/error.h"

#include <cstring>

namespace sluice {

bool can_pack(ggml_type t, isa i) {
    const type_kernels * k = find_kernels(t, i);
    return k != nullptr && k->packed != nullptr;
}

uint64_t packed_bytes(const weight_matrix & w) {
    const auto groups = static_cast<uint64_t>((w.rows + k_packed_group_rows - 1) / k_packed_group_rows);
    return groups * k_packed_group_rows * row_bytes(w.type, w.cols);
}

void pack_matrix_rows(const weight_matrix & w, isa i, int64_t r0, int64_t r1, uint8_t * dst) {
    const type_kernels * k = find_kernels(w.type, i);
    if (k == nullptr || k->packed == nullptr || w.packed) {
        fail("pack: {} matrices have no packed form on {}", type_name(w.type), isa_name(i));
    }
    if (r0 < 0 || r1 > w.rows || r0 > r1 || r0 % k_packed_group_rows != 0 ||
        (r1 != w.rows && r1 % k_packed_group_rows != 0)) {
        fail("pack: rows [{}, {}) of {} are not whole groups of {}", r0, r1, w.rows, k_packed_group_rows);
    }
    const uint64_t rb = row_bytes(w.type, w.cols);
    k->packed->pack(w.cols, w.data + static_cast<uint64_t>(r0) * w.row_stride, w.row_stride, r1 - r0,
                    dst + static_cast<uint64_t>(r0) * rb);
}

void pack_group_in_place(ggml_type t, isa i, int64_t cols, uint8_t * rows, uint8_t * scratch) {
    const type_kernels * k = find_kernels(t, i);
    if (k == nullptr || k->packed == nullptr) {
        fail("pack: {} matrices have no packed form on {}", type_name(t), isa_name(i));
    }
    const uint64_t rb = row_bytes(t, cols);
    k->packed->pack(cols, rows, rb, k_packed_group_rows, scratch);
    std::memcpy(rows, scratch, static_cast<size_t>(rb * k_packed_group_rows));
}

weight_matrix packed_view(const weight_matrix & w, const uint8_t * dst) {
    return {w.type, w.rows, w.cols, row_bytes(w.type, w.cols), dst, true};
}

}  // namespace sluice
