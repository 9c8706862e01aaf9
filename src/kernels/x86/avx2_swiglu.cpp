// SwiGLU's activation on AVX2: a lane vector is one ymm (x86/swiglu_lanes.h).
#if defined(__x86_64__) || defined(__i386__)
#include "kernels/x86/swiglu_lanes.h"
#include "kernels/x86/x86_common.h"

namespace sluice::kern {
namespace {

struct ymm_floats {
    using vec                  = __m256;
    using ivec                 = __m256i;
    static constexpr int width = 8;

    static vec  load(const float * p) { return _mm256_loadu_ps(p); }
    static void store(float * p, vec x) { _mm256_storeu_ps(p, x); }
    static vec  set1(float f) { return _mm256_set1_ps(f); }
    static vec  add(vec a, vec b) { return _mm256_add_ps(a, b); }
    static vec  sub(vec a, vec b) { return _mm256_sub_ps(a, b); }
    static vec  mul(vec a, vec b) { return _mm256_mul_ps(a, b); }
    static vec  div(vec a, vec b) { return _mm256_div_ps(a, b); }
    static vec  min(vec a, vec b) { return _mm256_min_ps(a, b); }
    static vec  max(vec a, vec b) { return _mm256_max_ps(a, b); }
    static vec  neg(vec a) { return _mm256_xor_ps(a, _mm256_castsi256_ps(_mm256_set1_epi32(INT32_MIN))); }
    static ivec bits(vec a) { return _mm256_castps_si256(a); }
    static vec  from_bits(ivec a) { return _mm256_castsi256_ps(a); }
    static ivec sub_i(ivec a, ivec b) { return _mm256_sub_epi32(a, b); }
    static ivec add_i(ivec a, int b) { return _mm256_add_epi32(a, _mm256_set1_epi32(b)); }
    static ivec shl23(ivec a) { return _mm256_slli_epi32(a, 23); }
};

}  // namespace

void swiglu_avx2(float * g, const float * u, int64_t n) {
    x86::swiglu_lanes<ymm_floats>(g, u, n);
}

}  // namespace sluice::kern
#endif
