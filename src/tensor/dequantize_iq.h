// Internal to the tensor room: dequantization of the i-quants and ternary types (IQ1..IQ4,
// TQ1_0, TQ2_0), called by dequantize_row for nb blocks at x.
#pragma once

#include "tensor/types.h"

#include <cstdint>

namespace sluice::detail {

// Returns false if t is not one of these types.
bool dequantize_iq(ggml_type t, const uint8_t * x, float * y, int64_t nb);

}  // namespace sluice::detail
