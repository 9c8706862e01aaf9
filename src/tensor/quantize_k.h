// Scale-searching quantizers of the K-quants (internal to the tensor room; quantize_row is the
// public entry). nb super-blocks of QK_K floats at x are written as nb blocks at y.
#pragma once

#include <cstdint>

namespace sluice {

void quantize_q2_k(const float * x, uint8_t * y, int64_t nb);
void quantize_q3_k(const float * x, uint8_t * y, int64_t nb);
void quantize_q4_k(const float * x, uint8_t * y, int64_t nb);
void quantize_q5_k(const float * x, uint8_t * y, int64_t nb);
void quantize_q6_k(const float * x, uint8_t * y, int64_t nb);

}  // namespace sluice
