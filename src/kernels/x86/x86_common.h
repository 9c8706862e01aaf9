// Helpers shared by the x86 kernel files. Everything is `static inline` on purpose: each ISA
// file gets its own copy compiled with its own flags, so the linker can never pick an AVX-512
// build of a helper for an AVX2 caller (the hazard of inline functions shared across
// differently-flagged translation units). Include only from files under kernels/x86/.
#pragma once

#if defined(__x86_64__) || defined(__i386__)
#include "kernels/kernels_impl.h"

#include <immintrin.h>

// GCC 12 reports its own _mm512_undefined_* idiom (`__m512 __Y = __Y;`) inside the AVX-512
// intrinsics as uninitialized once they are inlined at -O3; the values are never read.
#pragma GCC diagnostic ignored "-Wuninitialized"
#if !defined(__clang__)  // clang has no such group and -Werror refuses unknown ones
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <cstdint>
#include <cstring>

namespace sluice::kern::x86 {

// Rows per group in the multi-row kernels: activations are loaded once per group.
constexpr int k_row_group = 4;

static inline float f16_to_f32_x86(uint16_t h) {
    return _cvtsh_ss(h);
}

static inline float e8m0_half_x86(uint8_t e) {
    const uint32_t bits = e < 2 ? (0x00200000u << e) : (static_cast<uint32_t>(e - 1) << 23);
    float          f;
    std::memcpy(&f, &bits, 4);
    return f;
}

static inline uint32_t load_u32(const uint8_t * p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

// Q4_K / Q5_K scales: the eight 6-bit scales (sc) and mins (m) packed into 12 bytes, unpacked
// to one byte each (llama.cpp's get_scale_min_k4 on 32-bit words).
static inline void unpack_scales_k4_x86(const uint8_t * s, uint64_t & sc, uint64_t & m) {
    const uint32_t u0 = load_u32(s), u1 = load_u32(s + 4), u2 = load_u32(s + 8);
    const uint32_t sc_hi = (u2 & 0x0f0f0f0fu) | ((u0 >> 2) & 0x30303030u);
    const uint32_t m_hi  = ((u2 >> 4) & 0x0f0f0f0fu) | ((u1 >> 2) & 0x30303030u);
    sc                   = (u0 & 0x3f3f3f3fu) | (static_cast<uint64_t>(sc_hi) << 32);
    m                    = (u1 & 0x3f3f3f3fu) | (static_cast<uint64_t>(m_hi) << 32);
}

// Q3_K scales: sixteen 6-bit values in 12 bytes -> 16 bytes, still offset by +32.
static inline __m128i unpack_scales_q3_k_x86(const uint8_t * s) {
    const uint32_t u0 = load_u32(s), u1 = load_u32(s + 4), u2 = load_u32(s + 8);
    const uint32_t k4 = 0x0f0f0f0fu, k2 = 0x03030303u;
    const uint32_t a0 = (u0 & k4) | (((u2 >> 0) & k2) << 4);
    const uint32_t a1 = (u1 & k4) | (((u2 >> 2) & k2) << 4);
    const uint32_t a2 = ((u0 >> 4) & k4) | (((u2 >> 4) & k2) << 4);
    const uint32_t a3 = ((u1 >> 4) & k4) | (((u2 >> 6) & k2) << 4);
    return _mm_setr_epi32(static_cast<int>(a0), static_cast<int>(a1), static_cast<int>(a2), static_cast<int>(a3));
}

static inline float hsum_ps256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s        = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s        = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// Prefetches the `bytes` bytes at p + ahead, one cache line at a time. The multi-row kernels
// call it with ahead = R rows: while a group of rows streams, the next group's bytes at the
// same offset are requested, which the hardware prefetchers do not anticipate (each row is a
// short stream of its own and they stop at 4 KiB pages). Prefetches never fault, so reading
// ahead past the matrix is harmless.
template <int bytes>
static inline void prefetch_ahead(const void * p, uint64_t ahead) {
    const char * q = static_cast<const char *>(p) + ahead;
    for (int off = 0; off < bytes; off += 64) {
        _mm_prefetch(q + off, _MM_HINT_T0);
    }
}

static inline const uint8_t * row_ptr(const void * w, uint64_t stride, int64_t r) {
    return static_cast<const uint8_t *>(w) + static_cast<uint64_t>(r) * stride;
}

// Runs kernel<R> over n_rows rows in groups of k_row_group, then one row at a time. The
// kernels apply the same arithmetic to a row whatever R is, so the split never shows.
template <void (*k4)(int64_t, const void *, uint64_t, const void *, float *),
          void (*k1)(int64_t, const void *, uint64_t, const void *, float *)>
static inline void for_row_groups(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act,
                                  float * out) {
    int64_t r = 0;
    for (; r + k_row_group <= n_rows; r += k_row_group) {
        k4(n, row_ptr(w, stride, r), stride, act, out + r);
    }
    for (; r < n_rows; ++r) {
        k1(n, row_ptr(w, stride, r), stride, act, out + r);
    }
}

}  // namespace sluice::kern::x86
#endif
