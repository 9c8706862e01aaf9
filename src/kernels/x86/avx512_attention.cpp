// Flash attention's block step on AVX-512: a lane vector is one zmm.
#if defined(__x86_64__) || defined(__i386__)
#include "kernels/x86/attention_lanes.h"

namespace sluice::kern {
namespace {

struct zmm_lanes {
    using vec                       = __m512;
    static constexpr int score_rows = 4;  // 4 queries x 4 key groups = 16 accumulators
    static constexpr int value_rows = 4;  // 4 queries x 4 x 16 dims = 16 accumulators

    static vec zero() { return _mm512_setzero_ps(); }
    static vec set1(float f) { return _mm512_set1_ps(f); }
    static vec load(const float * p) { return _mm512_loadu_ps(p); }
    static vec load(const uint16_t * p) {
        return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(p)));
    }
    static void  store(float * p, vec x) { _mm512_storeu_ps(p, x); }
    static vec   add(vec a, vec b) { return _mm512_add_ps(a, b); }
    static vec   mul(vec a, vec b) { return _mm512_mul_ps(a, b); }
    static vec   fma(vec a, vec b, vec c) { return _mm512_fmadd_ps(a, b, c); }
    static vec   fnma(vec a, vec b, vec c) { return _mm512_fnmadd_ps(a, b, c); }
    static vec   max(vec a, vec b) { return _mm512_max_ps(a, b); }
    static vec   round(vec x) { return _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
    static vec   scale2(vec x, vec n) { return _mm512_scalef_ps(x, n); }
    static float reduce_add(vec x) { return _mm512_reduce_add_ps(x); }
    static float reduce_max(vec x) { return _mm512_reduce_max_ps(x); }
    static vec   keep(vec x, uint32_t bits, vec other) {
          return _mm512_mask_blend_ps(static_cast<__mmask16>(bits), other, x);
    }
};

}  // namespace

void attend_block_avx512(ggml_type t, const attention_block_args & a) {
    x86::attend_block_for<zmm_lanes>(t, a);
}

}  // namespace sluice::kern
#endif
