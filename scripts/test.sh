#!/usr/bin/env bash
# asio-mqtt: THE test command.  Builds everything and runs every test suite:
#
#   deps      scripts/install-deps.sh (installs missing Debian packages)
#   gcc       g++ -O2 (Release without -g), -Werror, tests+examples+benchmarks, full ctest
#   asan      clang++ ASan+UBSan, -Werror, tests only, full ctest
#   tsan      clang++ TSan, client and integration tests (the layers with threads and sockets)
#   package   scripts/test-package.sh (find_package / pkg-config /
#             add_subdirectory / FetchContent consumers)
#   fuzz      scripts/fuzz.sh ${AMQTT_FUZZ_SECONDS:-60}, when it exists
#
# Environment knobs:
#   AMQTT_SKIP_DEPS=1        don't check/install Debian packages
#   AMQTT_SKIP_SANITIZERS=1  skip the asan and tsan stages
#   AMQTT_SKIP_PACKAGE=1     skip the package stage
#   AMQTT_SKIP_FUZZ=1        skip fuzzing
#   AMQTT_FUZZ_SECONDS=N     fuzzing time budget handed to scripts/fuzz.sh (60)
#   AMQTT_JOBS=N             build/test parallelism (default: nproc)
#   AMQTT_BUILD_ROOT=dir     where build trees go (default: build)
#   AMQTT_CTEST_ARGS="..."   extra arguments for every ctest run (e.g. -R codec)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${repo_root}"

jobs="${AMQTT_JOBS:-$(nproc 2>/dev/null || echo 2)}"
build_root="${AMQTT_BUILD_ROOT:-build}"
read -r -a extra_ctest_args <<<"${AMQTT_CTEST_ARGS:-}"
# Sub-scripts (test-package.sh, fuzz.sh) may use these.
export AMQTT_JOBS="${jobs}" AMQTT_BUILD_ROOT="${build_root}"

# --------------------------------------------------------------------------
# Stage bookkeeping: announce, time, summarise (also when a stage fails).
# --------------------------------------------------------------------------
stage_names=()
stage_times=()
stage_results=()
current_stage=""
stage_start=0
suite_start="$(date +%s)"

now() { date +%s; }

stage() {
  current_stage="$1"
  stage_start="$(now)"
  printf '\n==================== %s: %s ====================\n' "$1" "$2"
}

stage_done() {
  local result="${1:-ok}"
  local elapsed=$(( $(now) - stage_start ))
  stage_names+=("${current_stage}")
  stage_times+=("${elapsed}")
  stage_results+=("${result}")
  printf -- '---- %s: %s in %ss\n' "${current_stage}" "${result}" "${elapsed}"
  current_stage=""
}

summary() {
  local rc=$?
  if [[ -n "${current_stage}" ]]; then
    stage_done "FAILED"
  fi
  printf '\n==================== summary ====================\n'
  local i
  for i in "${!stage_names[@]}"; do
    printf '  %-8s %-8s %5ss\n' "${stage_names[$i]}" "${stage_results[$i]}" "${stage_times[$i]}"
  done
  local total=$(( $(now) - suite_start ))
  if [[ "${rc}" -eq 0 ]]; then
    printf 'scripts/test.sh: all stages passed in %ss\n' "${total}"
  else
    printf 'scripts/test.sh: FAILED (exit %s) after %ss\n' "${rc}" "${total}"
  fi
}
trap summary EXIT

# configure <build-dir> <cmake args...>: reuses an existing tree's generator.
configure() {
  local dir="$1"; shift
  local gen=()
  if [[ ! -f "${dir}/CMakeCache.txt" ]] && command -v ninja >/dev/null 2>&1; then
    gen=(-G Ninja)
  fi
  local launcher=()
  if command -v ccache >/dev/null 2>&1; then
    launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  fi
  cmake -S . -B "${dir}" "${gen[@]}" "${launcher[@]}" "$@"
}

# Number of ctest tests in <build-dir> matching the extra args given.
count_tests() {
  local dir="$1"; shift
  (cd "${dir}" && ctest -N "$@" | sed -n 's/^Total Tests: //p')
}

sanitizer_common=(
  -DCMAKE_CXX_COMPILER=clang++
  -DCMAKE_BUILD_TYPE=Debug
  -DAMQTT_WARNINGS_AS_ERRORS=ON
  -DAMQTT_BUILD_TESTS=ON
  -DAMQTT_BUILD_EXAMPLES=OFF
  -DAMQTT_BUILD_BENCHMARKS=OFF
  -DAMQTT_BUILD_FUZZERS=OFF
  -DAMQTT_HEADER_CHECK=OFF
  -DAMQTT_TEST_NO_RTTI=OFF
)

# --------------------------------------------------------------------------
# a. dependencies
# --------------------------------------------------------------------------
if [[ "${AMQTT_SKIP_DEPS:-0}" != "1" ]]; then
  stage deps "scripts/install-deps.sh"
  scripts/install-deps.sh
  stage_done
fi

# --------------------------------------------------------------------------
# b. g++ build, everything, -Werror, full ctest
# --------------------------------------------------------------------------
# -O2 as users build, without -g: debug info made this stage a third slower (measured 46.6 s
# vs 31.4 s for one client test file) and the CI budget is 30 minutes on 2 cores.
stage gcc "g++ -O2 -Werror: build + ctest (${build_root}/gcc)"
configure "${build_root}/gcc" \
  -DCMAKE_CXX_COMPILER=g++ \
  -DCMAKE_BUILD_TYPE=Release \
  "-DCMAKE_CXX_FLAGS_RELEASE=-O2 -DNDEBUG" \
  -DAMQTT_WARNINGS_AS_ERRORS=ON \
  -DAMQTT_SANITIZE= \
  -DAMQTT_BUILD_TESTS=ON \
  -DAMQTT_BUILD_EXAMPLES=ON \
  -DAMQTT_BUILD_BENCHMARKS=ON \
  -DAMQTT_BUILD_FUZZERS=OFF
cmake --build "${build_root}/gcc" -j "${jobs}"
(cd "${build_root}/gcc" && ctest --output-on-failure --no-tests=error -j "${jobs}" \
  "${extra_ctest_args[@]}")
stage_done

# --------------------------------------------------------------------------
# generated docs must match the tests: conformance table and doc samples
# --------------------------------------------------------------------------
stage docs "docs/conformance.md and doc samples are up to date"
python3 scripts/gen-conformance.py --check
if [[ -f scripts/check-doc-samples.py ]]; then
  python3 scripts/check-doc-samples.py
fi
stage_done

if [[ "${AMQTT_SKIP_SANITIZERS:-0}" != "1" ]]; then
  # ------------------------------------------------------------------------
  # c. clang++ AddressSanitizer + UndefinedBehaviorSanitizer, full ctest
  # ------------------------------------------------------------------------
  stage asan "clang++ ASan+UBSan -Werror: build + ctest (${build_root}/asan)"
  export ASAN_OPTIONS="halt_on_error=1:abort_on_error=0:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1"
  export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
  configure "${build_root}/asan" "${sanitizer_common[@]}" -DAMQTT_SANITIZE=address,undefined
  cmake --build "${build_root}/asan" -j "${jobs}"
  (cd "${build_root}/asan" && ctest --output-on-failure --no-tests=error -j "${jobs}" \
    "${extra_ctest_args[@]}")
  unset ASAN_OPTIONS UBSAN_OPTIONS
  stage_done

  # ------------------------------------------------------------------------
  # d. clang++ ThreadSanitizer on the layers that run threads / sockets. (The codec and the
  #    protocol session are single-threaded and pure: ASan+UBSan covers them.)
  # ------------------------------------------------------------------------
  stage tsan "clang++ TSan: build + ctest -L 'client|integration' (${build_root}/tsan)"
  export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"
  tsan_targets=()
  for layer in client integration; do
    if compgen -G "tests/${layer}/*.cpp" >/dev/null; then
      tsan_targets+=("amqtt-tests-${layer}")
    fi
  done
  if [[ "${#tsan_targets[@]}" -eq 0 ]]; then
    echo "no client/integration tests yet: nothing to run under TSan"
    stage_done "skipped"
  else
    # clang 14's TSan cannot map its shadow memory with high mmap entropy
    # (newer kernels); run without ASLR there.
    tsan_wrap=()
    probe_dir="${build_root}/tsan-probe"
    mkdir -p "${probe_dir}"
    printf 'int main() { return 0; }\n' >"${probe_dir}/probe.cpp"
    clang++ -fsanitize=thread "${probe_dir}/probe.cpp" -o "${probe_dir}/probe"
    if ! "${probe_dir}/probe" >/dev/null 2>&1; then
      echo "TSan probe failed with ASLR on: running TSan binaries under setarch -R"
      tsan_wrap=(setarch "$(uname -m)" -R)
    fi
    configure "${build_root}/tsan" "${sanitizer_common[@]}" -DAMQTT_SANITIZE=thread
    # Test discovery runs the binaries at build time, so wrap the build too.
    "${tsan_wrap[@]}" cmake --build "${build_root}/tsan" -j "${jobs}" --target "${tsan_targets[@]}"
    if [[ "$(count_tests "${build_root}/tsan" -L 'client|integration')" -eq 0 ]]; then
      echo "no tests labelled client|integration: nothing to run under TSan"
      stage_done "skipped"
    else
      (cd "${build_root}/tsan" && "${tsan_wrap[@]}" ctest --output-on-failure -j "${jobs}" \
        -L 'client|integration' "${extra_ctest_args[@]}")
      stage_done
    fi
  fi
  unset TSAN_OPTIONS
fi

# --------------------------------------------------------------------------
# e. package consumption
# --------------------------------------------------------------------------
if [[ "${AMQTT_SKIP_PACKAGE:-0}" != "1" ]]; then
  stage package "scripts/test-package.sh (${build_root}/package)"
  scripts/test-package.sh "${build_root}/package"
  stage_done
fi

# --------------------------------------------------------------------------
# f. fuzzing
# --------------------------------------------------------------------------
if [[ "${AMQTT_SKIP_FUZZ:-0}" != "1" ]]; then
  if [[ -x scripts/fuzz.sh || -f scripts/fuzz.sh ]]; then
    stage fuzz "scripts/fuzz.sh ${AMQTT_FUZZ_SECONDS:-60}"
    bash scripts/fuzz.sh "${AMQTT_FUZZ_SECONDS:-60}"
    stage_done
  else
    echo "scripts/fuzz.sh not present yet: fuzzing skipped"
  fi
fi
