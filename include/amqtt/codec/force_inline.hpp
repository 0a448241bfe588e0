#pragma once
// AMQTT_FORCE_INLINE: for the few small functions on the decode hot path (fixed header, body
// reader, PUBLISH, topic check). GCC at -O2 keeps them out of line otherwise, and the calls were
// a measurable share of decoding a small PUBLISH (docs/benchmarks.md).

#if defined(__GNUC__) || defined(__clang__)
#define AMQTT_FORCE_INLINE inline __attribute__((always_inline))
#elif defined(_MSC_VER)
#define AMQTT_FORCE_INLINE __forceinline
#else
#define AMQTT_FORCE_INLINE inline
#endif

// AMQTT_NOINLINE: for the general decode path, so the fast path that falls back to it stays
// free of register saves.
#if defined(__GNUC__) || defined(__clang__)
#define AMQTT_NOINLINE __attribute__((noinline))
#elif defined(_MSC_VER)
#define AMQTT_NOINLINE __declspec(noinline)
#else
#define AMQTT_NOINLINE
#endif
