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
