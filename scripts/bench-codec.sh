#!/usr/bin/env bash
# Builds and runs the codec micro-benchmarks (benchmarks/codec, Google Benchmark).
#
# Usage: scripts/bench-codec.sh [google-benchmark flags...]
#   e.g. scripts/bench-codec.sh --benchmark_filter='publish/decode'
#
# Build: g++, Release with -O2 -DNDEBUG, -Werror, in ${AMQTT_BUILD_ROOT:-build}/bench-codec.
# Run: 5 repetitions per benchmark, aggregates only (mean/median/stddev/cv; read the median),
# console output on stdout and the full JSON in ${AMQTT_BENCH_OUT:-<build>/codec-results.json}.
# Flags given on the command line come after the defaults, so they override them
# (e.g. --benchmark_repetitions=1).
#
# Environment:
#   AMQTT_BUILD_ROOT=dir   build trees go to dir/bench-codec (default: build)
#   AMQTT_BENCH_OUT=file   JSON output file
#   AMQTT_JOBS=N           build parallelism (default: nproc)
#   AMQTT_SKIP_DEPS=1      don't run scripts/install-deps.sh
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${repo_root}"

jobs="${AMQTT_JOBS:-$(nproc 2>/dev/null || echo 2)}"
build_dir="${AMQTT_BUILD_ROOT:-build}/bench-codec"
mkdir -p "${build_dir}"
build_dir="$(cd "${build_dir}" && pwd)"
out="${AMQTT_BENCH_OUT:-${build_dir}/codec-results.json}"

if [[ "${AMQTT_SKIP_DEPS:-0}" != "1" && -x scripts/install-deps.sh ]]; then
  scripts/install-deps.sh
fi

gen=()
if [[ ! -f "${build_dir}/CMakeCache.txt" ]] && command -v ninja >/dev/null 2>&1; then
  gen=(-G Ninja)
fi
cmake -S . -B "${build_dir}" "${gen[@]}" \
  -DCMAKE_CXX_COMPILER=g++ \
  -DCMAKE_BUILD_TYPE=Release \
  "-DCMAKE_CXX_FLAGS_RELEASE=-O2 -DNDEBUG" \
  -DAMQTT_BUILD_BENCHMARKS=ON \
  -DAMQTT_BUILD_TESTS=OFF \
  -DAMQTT_BUILD_EXAMPLES=OFF \
  -DAMQTT_BUILD_FUZZERS=OFF \
  -DAMQTT_INSTALL=OFF \
  -DAMQTT_WARNINGS_AS_ERRORS=ON \
  -DAMQTT_SANITIZE= >/dev/null
cmake --build "${build_dir}" -j "${jobs}" --target amqtt-bench-codec

bin="${build_dir}/benchmarks/codec/amqtt-bench-codec"
cmd=("${bin}"
  --benchmark_repetitions=5
  --benchmark_report_aggregates_only=true
  --benchmark_format=console
  --benchmark_out_format=json
  "--benchmark_out=${out}"
  "$@")

echo "machine: $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1)," \
     "$(nproc) CPUs, load average: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"
"${cmd[@]}"
echo
echo "JSON results: ${out}"
echo "reproduce:    scripts/bench-codec.sh${*:+ $*}"
printf 'or directly:  '
printf '%q ' "${cmd[@]}"
echo
