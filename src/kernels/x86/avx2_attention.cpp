// Flash attention's block step on AVX2 + FMA + F16C: a lane vector is a pair of ymm.
#if defined(__x86_64__) || defined(__i386__)
#include "kernels/x86/attention_lanes.h"

namespace sluice::kern {
namespace {

struct ymm_pair_lanes {
    struct vec {
        __m256 lo, hi;
    };
    static constexpr int score_rows = 2;  // 2 queries x 4 key groups x 2 halves = 16 registers
    static constexpr int value_rows = 2;

    static vec zero() { return {_mm256_setzero_ps(), _mm256_setzero_ps()}; }
    static vec set1(float f) { return {_mm256_set1_ps(f), _mm256_set1_ps(f)}; }
    static vec load(const float * p) { return {_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)}; }
    static vec load(const uint16_t * p) {
        return {_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(p))),
                _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(p + 8)))};
    }
    static void store(float * p, vec x) {
        _mm256_storeu_ps(p, x.lo);
        _mm256_storeu_ps(p + 8, x.hi);
    }
    static vec add(vec a, vec b) { return {_mm256_add_ps(a.lo, b.lo), _mm256_add_ps(a.hi, b.hi)}; }
    static vec mul(vec a, vec b) { return {_mm256_mul_ps(a.lo, b.lo), _mm256_mul_ps(a.hi, b.hi)}; }
    static vec fma(vec a, vec b, vec c) {
        return {_mm256_fmadd_ps(a.lo, b.lo, c.lo), _mm256_fmadd_ps(a.hi, b.hi, c.hi)};
    }
    static vec fnma(vec a, vec b, vec c) {
        return {_mm256_fnmadd_ps(a.lo, b.lo, c.lo), _mm256_fnmadd_ps(a.hi, b.hi, c.hi)};
    }
    static vec max(vec a, vec b) { return {_mm256_max_ps(a.lo, b.lo), _mm256_max_ps(a.hi, b.hi)}; }
    static vec round(vec x) {
        constexpr int nearest = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
        return {_mm256_round_ps(x.lo, nearest), _mm256_round_ps(x.hi, nearest)};
    }
    static __m256 pow2(__m256 n) {  // 2^n for integral n in [-126, 127], built in the exponent field
        return _mm256_castsi256_ps(
            _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23));
    }
    static vec scale2(vec x, vec n) { return {_mm256_mul_ps(x.lo, pow2(n.lo)), _mm256_mul_ps(x.hi, pow2(n.hi))}; }
    // The 16 lanes folded with op (the same tree for every call): 8, 4, 2, 1.
    template <class Op8, class Op4, class Op1>
    static float reduce(vec x, Op8 op8, Op4 op4, Op1 op1) {
        const __m256 s = op8(x.lo, x.hi);
        __m128       h = op4(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
        h              = op4(h, _mm_movehl_ps(h, h));
        return _mm_cvtss_f32(op1(h, _mm_movehdup_ps(h)));
    }
    static float reduce_add(vec x) {
        return reduce(
            x, [](__m256 a, __m256 b) { return _mm256_add_ps(a, b); },
            [](__m128 a, __m128 b) { return _mm_add_ps(a, b); }, [](__m128 a, __m128 b) { return _mm_add_ss(a, b); });
    }
    static float reduce_max(vec x) {
        return reduce(
            x, [](__m256 a, __m256 b) { return _mm256_max_ps(a, b); },
            [](__m128 a, __m128 b) { return _mm_max_ps(a, b); }, [](__m128 a, __m128 b) { return _mm_max_ss(a, b); });
    }
    static __m256 lane_mask(uint32_t bits) {  // bit k of bits -> all ones in lane k
        const __m256i lane = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
        const __m256i b    = _mm256_and_si256(_mm256_set1_epi32(static_cast<int>(bits)), lane);
        return _mm256_castsi256_ps(_mm256_cmpeq_epi32(b, lane));
    }
    static vec keep(vec x, uint32_t bits, vec other) {
        return {_mm256_blendv_ps(other.lo, x.lo, lane_mask(bits & 0xffu)),
                _mm256_blendv_ps(other.hi, x.hi, lane_mask(bits >> 8))};
    }
};

}  // namespace

void attend_block_avx2(ggml_type t, const attention_block_args & a) {
    x86::attend_block_for<ymm_pair_lanes>(t, a);
}

}  // namespace sluice::kern
#endif
