// Checks the values stored in a tensor, for `sluice info --check`: a file can be well formed
// and still carry NaN or Inf weights (a broken conversion); this finds them.
#pragma once

#include "tensor/types.h"

#include <cstdint>

namespace sluice {

// Index of the first element of the first non-finite value among n elements of type t at
// data, or -1 if all are finite. t must be computable; n a multiple of the block size.
int64_t find_non_finite(ggml_type t, const void * data, int64_t n);

}  // namespace sluice
