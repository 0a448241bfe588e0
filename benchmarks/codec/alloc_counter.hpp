#pragma once
// Counts the heap allocations of the whole benchmark binary: alloc_counter.cpp replaces every
// global operator new (plain, array, nothrow, aligned) with one that counts, then mallocs.

#include <cstdint>

namespace amqtt_bench {

// Number of operator new calls so far (all threads).
std::uint64_t allocations() noexcept;

}  // namespace amqtt_bench
