// Quantizers of the non-grid i-quants and the ternary types (internal to the tensor room;
// quantize_row is the public entry). nb blocks of the type's block size at x -> nb blocks at y.
#pragma once

#include <cstdint>

namespace sluice {

void quantize_iq4_nl(const float * x, uint8_t * y, int64_t nb);
void quantize_iq4_xs(const float * x, uint8_t * y, int64_t nb);
void quantize_tq1_0(const float * x, uint8_t * y, int64_t nb);
void quantize_tq2_0(const float * x, uint8_t * y, int64_t nb);

}  // namespace sluice
