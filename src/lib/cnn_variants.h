/*
 * cnn_variants.h: PRIVATE to the engine (cnn.c, tinydet.c), not an
 * interface. Includes the kernel header named by IR_KERN once per CPU
 * variant, with KV(name) giving the variant's symbol suffix (_generic,
 * _avx2, _avx512) and VW its vector width in floats (4 SSE2, 8 AVX2,
 * 16 AVX-512): the same source compiled for each ISA, GCC through
 * target/optimize pragmas (O3, and FMA contraction, which -std=c11 turns
 * off by default), clang through an attribute pragma. The includer picks
 * a variant at run time by ir_cnn_cpu().
 */
#ifndef IR_KERN
#error "define IR_KERN before including cnn_variants.h"
#endif

#define KV(name) name##_generic
#define VW 4
#ifdef __clang__
#include IR_KERN
#else
#pragma GCC push_options
#pragma GCC optimize("O3", "fp-contract=fast")
#include IR_KERN
#pragma GCC pop_options
#endif
#undef KV
#undef VW

#define KV(name) name##_avx2
#define VW 8
#ifdef __clang__
#pragma clang attribute push (__attribute__((target("avx2,fma"))), \
	apply_to = function)
#include IR_KERN
#pragma clang attribute pop
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#pragma GCC optimize("O3", "fp-contract=fast")
#include IR_KERN
#pragma GCC pop_options
#endif
#undef KV
#undef VW

#define KV(name) name##_avx512
#define VW 16
#ifdef __clang__
#pragma clang attribute push (__attribute__((target( \
	"avx512f,avx512vl,avx512dq,avx512bw,avx2,fma"))), apply_to = function)
#include IR_KERN
#pragma clang attribute pop
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")
#pragma GCC optimize("O3", "fp-contract=fast")
#include IR_KERN
#pragma GCC pop_options
#endif
#undef KV
#undef VW
#undef IR_KERN
