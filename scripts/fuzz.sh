#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/fuzz_*.cpp) with clang and fuzzes EVERY target for
# the given number of seconds each.
#
# Usage: scripts/fuzz.sh [seconds-per-target]      (default 60)
#
# Each target starts from a copy of its committed seed corpus (tests/fuzz/corpus/<target>/,
# never modified) in a temporary directory. Any crash, sanitizer report, leak, timeout (-timeout)
# or out-of-memory (-rss_limit_mb) fails the script; the reproducer is saved under
# <build>/artifacts/ and the command to replay it is printed. Targets run in parallel, as many
# at a time as AMQTT_JOBS (default: nproc).
#
# Environment:
#   AMQTT_BUILD_ROOT=dir       build trees go to dir/fuzz (default: build)
#   AMQTT_JOBS=N               targets fuzzed at the same time (default: nproc)
#   AMQTT_SKIP_DEPS=1          don't run scripts/install-deps.sh
#   AMQTT_FUZZ_TARGETS="a b"   only these targets (default: all)
#   AMQTT_FUZZ_KEEP_CORPUS=dir keep each target's grown corpus in dir/<target> (for merging)
#   AMQTT_FUZZ_ARGS="..."      extra libFuzzer flags for every target
set -euo pipefail

seconds="${1:-60}"
if ! [[ "${seconds}" =~ ^[0-9]+$ ]] || [[ "${seconds}" -lt 1 ]]; then
  echo "usage: scripts/fuzz.sh [seconds-per-target]" >&2
  exit 2
fi

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${repo_root}"

jobs="${AMQTT_JOBS:-$(nproc 2>/dev/null || echo 2)}"
build_dir="${AMQTT_BUILD_ROOT:-build}/fuzz"
mkdir -p "${build_dir}"
build_dir="$(cd "${build_dir}" && pwd)"
read -r -a extra_args <<<"${AMQTT_FUZZ_ARGS:-}"

if [[ "${AMQTT_SKIP_DEPS:-0}" != "1" && -x scripts/install-deps.sh ]]; then
  scripts/install-deps.sh --minimal
fi

# ---------------------------------------------------------------------------------------------
# Build.
# ---------------------------------------------------------------------------------------------
gen=()
if [[ ! -f "${build_dir}/CMakeCache.txt" ]] && command -v ninja >/dev/null 2>&1; then
  gen=(-G Ninja)
fi
cmake -S . -B "${build_dir}" "${gen[@]}" \
  -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DAMQTT_BUILD_FUZZERS=ON \
  -DAMQTT_BUILD_TESTS=OFF \
  -DAMQTT_BUILD_EXAMPLES=OFF \
  -DAMQTT_BUILD_BENCHMARKS=OFF \
  -DAMQTT_INSTALL=OFF \
  -DAMQTT_WITH_TLS=OFF \
  -DAMQTT_WARNINGS_AS_ERRORS=ON \
  -DAMQTT_SANITIZE= >/dev/null
cmake --build "${build_dir}" -j "${jobs}" --target amqtt-fuzzers
bin_dir="${build_dir}/tests/fuzz"

if [[ -n "${AMQTT_FUZZ_TARGETS:-}" ]]; then
  read -r -a targets <<<"${AMQTT_FUZZ_TARGETS}"
else
  targets=()
  for src in tests/fuzz/fuzz_*.cpp; do
    targets+=("$(basename "${src}" .cpp)")
  done
fi
if [[ "${#targets[@]}" -eq 0 ]]; then
  echo "fuzz.sh: no fuzz targets in tests/fuzz" >&2
  exit 1
fi

# ---------------------------------------------------------------------------------------------
# Fuzz.
# ---------------------------------------------------------------------------------------------
work_root="$(mktemp -d "${TMPDIR:-/tmp}/amqtt-fuzz.XXXXXX")"
cleanup() { rm -rf "${work_root}"; }
trap cleanup EXIT
artifacts="${build_dir}/artifacts"
mkdir -p "${artifacts}"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"

run_target() {
  local t="$1"
  local dir="${work_root}/${t}"
  mkdir -p "${dir}/corpus"
  if [[ -d "tests/fuzz/corpus/${t}" ]]; then
    cp -R "tests/fuzz/corpus/${t}/." "${dir}/corpus/"
  fi
  local dict=()
  if [[ -f "tests/fuzz/${t}.dict" ]]; then
    dict=(-dict="${repo_root}/tests/fuzz/${t}.dict")
  fi
  local rc=0
  "${bin_dir}/${t}" \
    -max_total_time="${seconds}" \
    -max_len=70000 \
    -timeout=10 \
    -rss_limit_mb=2048 \
    -print_final_stats=1 \
    -artifact_prefix="${artifacts}/${t}-" \
    "${dict[@]}" "${extra_args[@]}" \
    "${dir}/corpus" >"${dir}/log" 2>&1 || rc=$?
  echo "${rc}" >"${dir}/rc"
}

echo "fuzz.sh: ${#targets[@]} targets x ${seconds}s, ${jobs} at a time (${build_dir})"
running=0
for t in "${targets[@]}"; do
  if [[ ! -x "${bin_dir}/${t}" ]]; then
    echo "fuzz.sh: ${bin_dir}/${t} was not built" >&2
    exit 1
  fi
  run_target "${t}" &
  running=$((running + 1))
  if [[ "${running}" -ge "${jobs}" ]]; then
    wait -n || true
    running=$((running - 1))
  fi
done
wait || true

# ---------------------------------------------------------------------------------------------
# Report.
# ---------------------------------------------------------------------------------------------
failed=()
printf '\n%-22s %14s %10s %8s %8s %10s  %s\n' target executions exec/s cov ft corpus result
for t in "${targets[@]}"; do
  dir="${work_root}/${t}"
  rc="$(cat "${dir}/rc" 2>/dev/null || echo 1)"
  log="${dir}/log"
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "${log}" | tail -n 1)"
  per_sec="$(sed -n 's/^stat::average_exec_per_sec: *//p' "${log}" | tail -n 1)"
  # Last status line, e.g. "#123456 DONE cov: 812 ft: 2999 corp: 640/97Kb ..."
  status_line="$(grep -E '^#[0-9]+' "${log}" | tail -n 1 || true)"
  cov="$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"${status_line}")"
  ft="$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"${status_line}")"
  corp="$(sed -n 's/.* corp: \([0-9]*\/[0-9A-Za-z]*\).*/\1/p' <<<"${status_line}")"
  result="ok"
  if [[ "${rc}" != "0" ]]; then
    result="FAILED (exit ${rc})"
    failed+=("${t}")
  fi
  printf '%-22s %14s %10s %8s %8s %10s  %s\n' "${t}" "${execs:-?}" "${per_sec:-?}" \
    "${cov:-?}" "${ft:-?}" "${corp:-?}" "${result}"
  if [[ -n "${AMQTT_FUZZ_KEEP_CORPUS:-}" ]]; then
    mkdir -p "${AMQTT_FUZZ_KEEP_CORPUS}/${t}"
    cp -R "${dir}/corpus/." "${AMQTT_FUZZ_KEEP_CORPUS}/${t}/"
  fi
done

if [[ "${#failed[@]}" -ne 0 ]]; then
  for t in "${failed[@]}"; do
    printf '\n==================== %s: last 60 lines of the log ====================\n' "${t}"
    tail -n 60 "${work_root}/${t}/log"
    for a in "${artifacts}/${t}-"*; do
      [[ -e "${a}" ]] || continue
      echo "reproduce: ${bin_dir}/${t} ${a}"
    done
  done
  echo
  echo "fuzz.sh: FAILED: ${failed[*]} (artifacts in ${artifacts}; add the input to" \
       "tests/fuzz/corpus/<target>/regress-<what> once fixed)" >&2
  exit 1
fi
echo
echo "fuzz.sh: all ${#targets[@]} targets ran ${seconds}s without findings"
