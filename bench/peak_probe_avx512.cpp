// The AVX-512 half of peak_probe.h (compiled with the AVX-512 flags: the file name).
#include "peak_probe.h"

#include <immintrin.h>

#include <chrono>

namespace sluice::bench {

double int8_peak_avx512() {
    // 12 independent accumulators: enough to cover vpdpbusd's latency on two ports.
    constexpr int  k_acc  = 12;
    constexpr long k_reps = 4'000'000;
    __m512i        acc[k_acc];
    const __m512i  a = _mm512_set1_epi8(3), b = _mm512_set1_epi8(5);
    for (__m512i & x : acc) x = _mm512_setzero_si512();
    const auto t0 = std::chrono::steady_clock::now();
    for (long i = 0; i < k_reps; ++i) {
        for (__m512i & x : acc) x = _mm512_dpbusd_epi32(x, a, b);
        __asm__ volatile(""
                         : "+v"(acc[0]), "+v"(acc[1]), "+v"(acc[2]), "+v"(acc[3]), "+v"(acc[4]), "+v"(acc[5]),
                           "+v"(acc[6]), "+v"(acc[7]), "+v"(acc[8]), "+v"(acc[9]), "+v"(acc[10]), "+v"(acc[11]));
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return 64.0 * k_acc * static_cast<double>(k_reps) / s;
}

}  // namespace sluice::bench
