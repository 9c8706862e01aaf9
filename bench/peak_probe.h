// The int8 multiply-add peak of one core, measured: a loop of independent instructions that
// the kernels' inner loops are made of, so the GEMM section of the matvec bench can say what
// fraction of the machine's arithmetic a kernel reaches. AVX-512: vpdpbusd (64 multiply-adds
// into int32 per instruction); AVX2: vpmaddubsw + vpmaddwd (32 per pair), as the AVX2 K-quant
// kernels use them. Returns multiply-adds per second on the calling thread.
#pragma once

namespace sluice::bench {

double int8_peak_avx512();
double int8_peak_avx2();

}  // namespace sluice::bench
