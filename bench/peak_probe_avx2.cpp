// The AVX2 half of peak_probe.h (compiled with the AVX2 flags: the file name).
#include "peak_probe.h"

#include <immintrin.h>

#include <chrono>

namespace sluice::bench {

double int8_peak_avx2() {
    constexpr int  k_acc  = 6;
    constexpr long k_reps = 4'000'000;
    __m256i        acc[k_acc];
    // Operands go through the asm barrier too, so the products are not hoisted out of the loop.
    __m256i a = _mm256_set1_epi8(3), b = _mm256_set1_epi8(5), one = _mm256_set1_epi16(1);
    for (__m256i & x : acc) x = _mm256_setzero_si256();
    const auto t0 = std::chrono::steady_clock::now();
    for (long i = 0; i < k_reps; ++i) {
        for (__m256i & x : acc) x = _mm256_add_epi32(x, _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), one));
        __asm__ volatile(""
                         : "+x"(acc[0]), "+x"(acc[1]), "+x"(acc[2]), "+x"(acc[3]), "+x"(acc[4]), "+x"(acc[5]), "+x"(a),
                           "+x"(b), "+x"(one));
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return 32.0 * k_acc * static_cast<double>(k_reps) / s;
}

}  // namespace sluice::bench
