// The AVX-512 half of peak_probe.h (compiled with the AVX-512 flags: the file name).
#include "peak_probe.h"

#include <chrono>

namespace sluice::bench {

double int8_peak_avx512() {
    // 16 independent vpdpbusd per iteration, written in assembly: with the accumulators in a
    // C++ array the compiler kept them on the stack and the loop measured store-to-load
    // latency (2.5-5x below the peak on a Zen 5 core, which retires two per cycle).
    constexpr long k_reps = 20'000'000;
    const auto     t0     = std::chrono::steady_clock::now();
    __asm__ volatile(
        "vpternlogd $0xff, %%zmm30, %%zmm30, %%zmm30\n\t"
        "vpternlogd $0xff, %%zmm31, %%zmm31, %%zmm31\n\t"
        "mov %0, %%rcx\n\t"
        "1:\n\t"
        "vpdpbusd %%zmm30, %%zmm31, %%zmm0\n\t"
        "vpdpbusd %%zmm30, %%zmm31, %%zmm1\n\t"
        "vpdpbusd %%zmm30, %%zmm31, %%zmm2\n\t"
        "vpdpbusd %%zmm30, %%zmm31, %%zmm3\n\t"
        "vpdpbusd %%zmm30, %%zmm31, %%zmm4\n\t"
        "vpdpbusd %%zmm30, %%zmm31, %%zmm5\n\t"
        "vpdpbusd %%zmm30, %%zmm31, %%zmm6\n\t"
        "vpdpbusd %%zmm30, %%zmm31, %%zmm7\n\t"
        "vpdpbusd %%zmm30, %%zmm31, %%zmm8\n\t"
        "vpdpbusd %%zmm30, %%zmm31, %%zmm9\n\t"
        "vpdpbusd %%zmm30, %%zmm31, %%zmm10\n\t"
        "vpdpbusd %%zmm30, %%zmm31, %%zmm11\n\t"
        "vpdpbusd %%zmm30, %%zmm31, %%zmm12\n\t"
        "vpdpbusd %%zmm30, %%zmm31, %%zmm13\n\t"
        "vpdpbusd %%zmm30, %%zmm31, %%zmm14\n\t"
        "vpdpbusd %%zmm30, %%zmm31, %%zmm15\n\t"
        "dec %%rcx\n\t"
        "jnz 1b\n\t"
        "vzeroupper\n\t"
        :
        : "r"(k_reps)
        : "rcx", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11",
          "xmm12", "xmm13", "xmm14", "xmm15", "xmm30", "xmm31");
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return 64.0 * 16 * static_cast<double>(k_reps) / s;
}

}  // namespace sluice::bench
