// SwiGLU's activation on AVX-512: a lane vector is one zmm (x86/swiglu_lanes.h).
#if defined(__x86_64__) || defined(__i386__)
#include "kernels/x86/swiglu_lanes.h"
#include "kernels/x86/x86_common.h"

namespace sluice::kern {
namespace {

struct zmm_floats {
    using vec                  = __m512;
    using ivec                 = __m512i;
    static constexpr int width = 16;

    static vec  load(const float * p) { return _mm512_loadu_ps(p); }
    static void store(float * p, vec x) { _mm512_storeu_ps(p, x); }
    static vec  set1(float f) { return _mm512_set1_ps(f); }
    static vec  add(vec a, vec b) { return _mm512_add_ps(a, b); }
    static vec  sub(vec a, vec b) { return _mm512_sub_ps(a, b); }
    static vec  mul(vec a, vec b) { return _mm512_mul_ps(a, b); }
    static vec  div(vec a, vec b) { return _mm512_div_ps(a, b); }
    static vec  min(vec a, vec b) { return _mm512_min_ps(a, b); }
    static vec  max(vec a, vec b) { return _mm512_max_ps(a, b); }
    static vec  neg(vec a) {
         return _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(a), _mm512_set1_epi32(INT32_MIN)));
    }
    static ivec bits(vec a) { return _mm512_castps_si512(a); }
    static vec  from_bits(ivec a) { return _mm512_castsi512_ps(a); }
    static ivec sub_i(ivec a, ivec b) { return _mm512_sub_epi32(a, b); }
    static ivec add_i(ivec a, int b) { return _mm512_add_epi32(a, _mm512_set1_epi32(b)); }
    static ivec shl23(ivec a) { return _mm512_slli_epi32(a, 23); }
};

}  // namespace

void swiglu_avx512(float * g, const float * u, int64_t n) {
    x86::swiglu_lanes<zmm_floats>(g, u, n);
}

}  // namespace sluice::kern
#endif
