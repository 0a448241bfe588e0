#pragma once
// Defines AMQTT_TEST_NO_ALLOC_COUNT where a test must not replace the global operator new to
// count allocations: under a sanitizer, whose runtime owns operator new/delete (TSan's cannot
// be replaced at all: the link fails with duplicate symbols). Tests then skip their
// allocation checks and keep their functional ones.

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define AMQTT_TEST_NO_ALLOC_COUNT 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
#define AMQTT_TEST_NO_ALLOC_COUNT 1
#endif
#endif
