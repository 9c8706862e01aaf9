// The AVX2 half of peak_probe.h (compiled with the AVX2 flags: the file name).
#include "peak_probe.h"

#include <chrono>

namespace sluice::bench {

double int8_peak_avx2() {
    // 6 independent vpmaddubsw -> vpmaddwd -> vpaddd chains per iteration (32 multiply-adds
    // each), written in assembly so that nothing is hoisted or spilled (the C++ version's
    // products were loop-invariant).
    constexpr long k_reps = 20'000'000;
    const auto     t0     = std::chrono::steady_clock::now();
    __asm__ volatile(
        "vpcmpeqb %%ymm13, %%ymm13, %%ymm13\n\t"
        "vpabsb %%ymm13, %%ymm14\n\t"
        "vpabsw %%ymm13, %%ymm15\n\t"
        "mov %0, %%rcx\n\t"
        "1:\n\t"
        "vpmaddubsw %%ymm13, %%ymm14, %%ymm0\n\t"
        "vpmaddwd %%ymm15, %%ymm0, %%ymm0\n\t"
        "vpaddd %%ymm0, %%ymm6, %%ymm6\n\t"
        "vpmaddubsw %%ymm13, %%ymm14, %%ymm1\n\t"
        "vpmaddwd %%ymm15, %%ymm1, %%ymm1\n\t"
        "vpaddd %%ymm1, %%ymm7, %%ymm7\n\t"
        "vpmaddubsw %%ymm13, %%ymm14, %%ymm2\n\t"
        "vpmaddwd %%ymm15, %%ymm2, %%ymm2\n\t"
        "vpaddd %%ymm2, %%ymm8, %%ymm8\n\t"
        "vpmaddubsw %%ymm13, %%ymm14, %%ymm3\n\t"
        "vpmaddwd %%ymm15, %%ymm3, %%ymm3\n\t"
        "vpaddd %%ymm3, %%ymm9, %%ymm9\n\t"
        "vpmaddubsw %%ymm13, %%ymm14, %%ymm4\n\t"
        "vpmaddwd %%ymm15, %%ymm4, %%ymm4\n\t"
        "vpaddd %%ymm4, %%ymm10, %%ymm10\n\t"
        "vpmaddubsw %%ymm13, %%ymm14, %%ymm5\n\t"
        "vpmaddwd %%ymm15, %%ymm5, %%ymm5\n\t"
        "vpaddd %%ymm5, %%ymm11, %%ymm11\n\t"
        "dec %%rcx\n\t"
        "jnz 1b\n\t"
        "vzeroupper\n\t"
        :
        : "r"(k_reps)
        : "rcx", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11",
          "xmm13", "xmm14", "xmm15");
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return 32.0 * 6 * static_cast<double>(k_reps) / s;
}

}  // namespace sluice::bench
