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

// F16C's rounding (to nearest even): the bits of the scalar f32_to_f16.
static inline uint16_t f32_to_f16_x86(float f) {
    return static_cast<uint16_t>(_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT));
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

// ---- i-quant sign bytes (IQ2_XXS, IQ2_XS, IQ3_XXS), a whole block at once ----
// These types store 7 sign bits per group of 8 elements; the 8th bit makes the group's count of
// negatives even (ksigns_iq2xs). In: one 7-bit field per byte (bit 7 clear); out: the full sign
// bytes (bit j set: element j of the group negative), the parity folded into bit 0 first.
static inline __m256i complete_signs_x86(__m256i v) {
    __m256i p = _mm256_xor_si256(v, _mm256_srli_epi16(v, 4));
    p         = _mm256_xor_si256(p, _mm256_srli_epi16(p, 2));
    p         = _mm256_xor_si256(p, _mm256_srli_epi16(p, 1));
    return _mm256_or_si256(v, _mm256_slli_epi16(_mm256_and_si256(p, _mm256_set1_epi8(1)), 7));
}

// IQ2_XXS / IQ3_XXS: each 32-element group's u32 holds four 7-bit sign fields (bits 0, 7, 14,
// 21) and the scale (bits 28..31). Eight such words -> the block's 32 sign bytes.
static inline __m256i signs_from_aux_x86(__m256i aux) {
    const __m256i f0 = _mm256_and_si256(aux, _mm256_set1_epi32(0x7f));
    const __m256i f1 = _mm256_and_si256(_mm256_slli_epi32(aux, 1), _mm256_set1_epi32(0x7f00));
    const __m256i f2 = _mm256_and_si256(_mm256_slli_epi32(aux, 2), _mm256_set1_epi32(0x7f0000));
    const __m256i f3 = _mm256_and_si256(_mm256_slli_epi32(aux, 3), _mm256_set1_epi32(0x7f000000));
    return complete_signs_x86(_mm256_or_si256(_mm256_or_si256(f0, f1), _mm256_or_si256(f2, f3)));
}

// IQ2_XXS's eight aux words: the odd u32s of its 64 bytes of qs.
static inline __m256i aux_iq2_xxs_x86(const void * qs) {
    const auto *  p  = static_cast<const uint8_t *>(qs);
    const __m256i q0 = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(p));
    const __m256i q1 = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(p + 32));
    // per 128-bit lane: q0's words 1, 3 then q1's: groups 0 1 4 5 | 2 3 6 7, then reordered
    const __m256i odd = _mm256_castps_si256(
        _mm256_shuffle_ps(_mm256_castsi256_ps(q0), _mm256_castsi256_ps(q1), _MM_SHUFFLE(3, 1, 3, 1)));
    return _mm256_permute4x64_epi64(odd, _MM_SHUFFLE(3, 1, 2, 0));
}

// IQ2_XS: 7 sign bits on top of each of its 32 u16 (one per group of 8) -> 32 sign bytes.
static inline __m256i signs_iq2_xs_x86(const void * qs) {
    const auto *  p  = static_cast<const uint8_t *>(qs);
    const __m256i v0 = _mm256_srli_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(p)), 9);
    const __m256i v1 = _mm256_srli_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(p + 32)), 9);
    // packus interleaves 8-byte runs per lane: 0..7 16..23 | 8..15 24..31
    return complete_signs_x86(_mm256_permute4x64_epi64(_mm256_packus_epi16(v0, v1), _MM_SHUFFLE(3, 1, 2, 0)));
}

// ---- i-quant grid indices with high bits from qh, a whole block at once (u16 each) ----
// Computing them in vectors and reading them back from a small array costs far fewer
// instructions than assembling each index from its bit fields in scalar code.

// 32 bytes: byte 8i + j = 1 where bit j of byte i of b is set, else 0 (i < 4).
static inline __m256i bits_to_bytes(uint32_t b) {
    const __m256i rep = _mm256_shuffle_epi8(
        _mm256_set1_epi32(static_cast<int>(b)),
        _mm256_setr_epi64x(0x0000000000000000, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303));
    const __m256i bits = _mm256_set1_epi64x(static_cast<long long>(0x8040201008040201ull));
    return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(rep, bits), bits), _mm256_set1_epi8(1));
}

// idx[i] = lo[i] | hi[i] << 8 for 32 bytes each.
static inline void store_indices(uint16_t * idx, __m256i lo, __m256i hi) {
    const __m256i a = _mm256_unpacklo_epi8(lo, hi), b = _mm256_unpackhi_epi8(lo, hi);  // per 128-bit lane
    _mm256_storeu_si256(reinterpret_cast<__m256i *>(idx), _mm256_permute2x128_si256(a, b, 0x20));
    _mm256_storeu_si256(reinterpret_cast<__m256i *>(idx + 16), _mm256_permute2x128_si256(a, b, 0x31));
}

// IQ3_S: 64 9-bit indices, the 9th bit of entry j of group ib being bit j of qh[ib].
static inline void iq3_s_indices(const block_iq3_s & x, uint16_t * idx) {
    for (int h = 0; h < 2; ++h) {
        const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(x.qs + 32 * h));
        store_indices(idx + 32 * h, q, bits_to_bytes(load_u32(x.qh + 4 * h)));
    }
}

// IQ2_S: 32 10-bit indices, the high 2 bits of index l of group ib being bits 2l, 2l+1 of qh[ib].
static inline void iq2_s_indices(const block_iq2_s & x, uint16_t * idx) {
    // one u32 lane per group; byte l of it gets (qh >> 2l) & 3
    const __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i *>(x.qh)));
    const __m256i hb =
        _mm256_or_si256(_mm256_or_si256(_mm256_and_si256(v, _mm256_set1_epi32(0x3)),
                                        _mm256_and_si256(_mm256_slli_epi32(v, 6), _mm256_set1_epi32(0x300))),
                        _mm256_or_si256(_mm256_and_si256(_mm256_slli_epi32(v, 12), _mm256_set1_epi32(0x30000)),
                                        _mm256_and_si256(_mm256_slli_epi32(v, 18), _mm256_set1_epi32(0x3000000))));
    store_indices(idx, _mm256_loadu_si256(reinterpret_cast<const __m256i *>(x.qs)), hb);
}

// IQ1_S: 32 11-bit indices, the high 3 bits of index l of group ib being bits 3l..3l+2 of qh[ib].
static inline void iq1_s_indices(const block_iq1_s & x, uint16_t * idx) {
    // one u32 lane per group; byte l of it gets (qh >> 3l) & 7
    const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i *>(x.qh)));
    const __m256i hb =
        _mm256_or_si256(_mm256_or_si256(_mm256_and_si256(v, _mm256_set1_epi32(0x7)),
                                        _mm256_and_si256(_mm256_slli_epi32(v, 5), _mm256_set1_epi32(0x700))),
                        _mm256_or_si256(_mm256_and_si256(_mm256_slli_epi32(v, 10), _mm256_set1_epi32(0x70000)),
                                        _mm256_and_si256(_mm256_slli_epi32(v, 15), _mm256_set1_epi32(0x7000000))));
    store_indices(idx, _mm256_loadu_si256(reinterpret_cast<const __m256i *>(x.qs)), hb);
}

// IQ1_M: 32 11-bit indices, the high 3 bits of index j being nibble j of qh (bits 0..2); bit 3
// of the nibble is the group's delta sign, returned as bytes -1 / +1 in delta[j].
static inline void iq1_m_indices(const block_iq1_m & x, uint16_t * idx, uint8_t * delta) {
    const __m128i q  = _mm_loadu_si128(reinterpret_cast<const __m128i *>(x.qh));
    const __m128i m4 = _mm_set1_epi8(0x0f);
    const __m128i lo = _mm_and_si128(q, m4), hi = _mm_and_si128(_mm_srli_epi16(q, 4), m4);
    const __m256i nib = _mm256_setr_m128i(_mm_unpacklo_epi8(lo, hi), _mm_unpackhi_epi8(lo, hi));
    const __m256i neg = _mm256_cmpeq_epi8(_mm256_and_si256(nib, _mm256_set1_epi8(8)), _mm256_set1_epi8(8));
    _mm256_storeu_si256(reinterpret_cast<__m256i *>(delta), _mm256_or_si256(neg, _mm256_set1_epi8(1)));
    store_indices(idx, _mm256_loadu_si256(reinterpret_cast<const __m256i *>(x.qs)),
                  _mm256_and_si256(nib, _mm256_set1_epi8(7)));
}

// IQ4_XS: the eight 6-bit scales (4 low bits in scales_l, 2 high in scales_h) minus 32, as int32.
static inline __m256i iq4_xs_scales_x86(const block_iq4_xs & x) {
    const __m256i lo = _mm256_srlv_epi32(_mm256_set1_epi32(static_cast<int>(load_u32(x.scales_l))),
                                         _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28));
    const __m256i hi = _mm256_srlv_epi32(_mm256_set1_epi32(x.scales_h), _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14));
    const __m256i ls = _mm256_or_si256(_mm256_and_si256(lo, _mm256_set1_epi32(0xf)),
                                       _mm256_slli_epi32(_mm256_and_si256(hi, _mm256_set1_epi32(3)), 4));
    return _mm256_sub_epi32(ls, _mm256_set1_epi32(32));
}

static inline __m256i load256(const void * p) {
    return _mm256_loadu_si256(static_cast<const __m256i *>(p));
}

// Bytes of h where (h & bit) != 0 become `val`, others 0.
static inline __m256i bit_to(__m256i h, int bit, int val) {
    const __m256i b = _mm256_set1_epi8(static_cast<char>(bit));
    return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(h, b), b), _mm256_set1_epi8(static_cast<char>(val)));
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
