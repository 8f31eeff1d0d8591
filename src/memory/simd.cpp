// Dot-product kernels (AVX2 picked at run time, portable fallback).
#include "memory/simd.hpp"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace cn::memory::simd {

namespace {

// Eight independent partial sums: the compiler vectorizes this without -ffast-math, and the
// adds pipeline instead of waiting on one accumulator.
float dot_f32_portable(const float* a, const float* b, size_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (size_t j = 0; j < 8; ++j) acc[j] += a[i + j] * b[i + j];
  float s = 0;
  for (; i < n; ++i) s += a[i] * b[i];
  for (float x : acc) s += x;
  return s;
}

int32_t dot_i8_portable(const int8_t* a, const int8_t* b, size_t n) {
  int32_t acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (size_t i = 0; i < n; i += 8)
    for (size_t j = 0; j < 8; ++j) acc[j] += int32_t{a[i + j]} * int32_t{b[i + j]};
  int32_t s = 0;
  for (int32_t x : acc) s += x;
  return s;
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) float dot_f32_avx2(const float* a, const float* b, size_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
  }
  s0 = _mm256_add_ps(s0, s1);
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(s0), _mm256_extractf128_ps(s0, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
  float s = _mm_cvtss_f32(h);
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

// Bytes widened to 16 bits, multiplied and pairwise added into 32-bit lanes (vpmaddwd).
__attribute__((target("avx2"))) int32_t dot_i8_avx2(const int8_t* a, const int8_t* b, size_t n) {
  __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
  for (size_t i = 0; i < n; i += 32) {
    __m256i a0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + i)));
    __m256i b0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + i)));
    __m256i a1 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + i + 16)));
    __m256i b1 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + i + 16)));
    s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(a0, b0));
    s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(a1, b1));
  }
  s0 = _mm256_add_epi32(s0, s1);
  __m128i h = _mm_add_epi32(_mm256_castsi256_si128(s0), _mm256_extracti128_si256(s0, 1));
  h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
  h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
  return _mm_cvtsi128_si32(h);
}
#endif

template <int32_t (*Dot)(const int8_t*, const int8_t*, size_t)>
float quantized(const void* a, const void* b, const void* param) {
  float sa, sb;
  __builtin_memcpy(&sa, a, sizeof sa);
  __builtin_memcpy(&sb, b, sizeof sb);
  auto n = *static_cast<const size_t*>(param);
  int32_t d = Dot(static_cast<const int8_t*>(a) + sizeof(float), static_cast<const int8_t*>(b) + sizeof(float), n);
  return 1.f - sa * sb * static_cast<float>(d);
}

struct Kernels {
  float (*f32)(const float*, const float*, size_t) = dot_f32_portable;
  int32_t (*i8)(const int8_t*, const int8_t*, size_t) = dot_i8_portable;
  Distance quantized = simd::quantized<dot_i8_portable>;
  const char* isa = "portable";
  Kernels() {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
      f32 = dot_f32_avx2;
      i8 = dot_i8_avx2;
      quantized = simd::quantized<dot_i8_avx2>;
      isa = "avx2";
    }
#endif
  }
};

const Kernels& kernels() {
  static const Kernels k;
  return k;
}

}  // namespace

float dot_f32(const float* a, const float* b, size_t n) { return kernels().f32(a, b, n); }
int32_t dot_i8(const int8_t* a, const int8_t* b, size_t n) { return kernels().i8(a, b, n); }
const char* isa() { return kernels().isa; }
Distance quantized_distance() { return kernels().quantized; }

}  // namespace cn::memory::simd
