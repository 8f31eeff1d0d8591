// Dot products for the vector index, picked once at start-up for the CPU at hand.
//
// The build targets baseline x86-64 (it must run on any 64-bit PC), so the AVX2 kernels are
// compiled with function-level target attributes and chosen at run time with cpuid; elsewhere a
// portable loop is used. Results of the kernels differ only by float rounding.
#pragma once

#include <cstddef>
#include <cstdint>

namespace cn::memory::simd {

// Sum of a[i] * b[i] over n floats.
float dot_f32(const float* a, const float* b, size_t n);
// Sum of a[i] * b[i] over n signed bytes; n is a multiple of 32.
int32_t dot_i8(const int8_t* a, const int8_t* b, size_t n);
// The instruction set the kernels use: "avx2" or "portable".
const char* isa();

// A quantized vector is a float scale followed by `padded` signed bytes (a multiple of 32);
// component i is approximately scale * byte[i].
//
// 1 - (the inner product of two quantized vectors), as an hnswlib distance function: `param`
// points to the size_t byte count. Returned once per process, so the hot loop calls it directly.
using Distance = float (*)(const void* a, const void* b, const void* param);
Distance quantized_distance();

}  // namespace cn::memory::simd
