#!/usr/bin/env bash
# Package test: proves asio-mqtt can be consumed the three supported ways
# (installed + find_package / pkg-config, add_subdirectory, FetchContent)
# using the consumer project in tests/package/.
#
# Usage: scripts/test-package.sh [build-dir]     (default: build/package)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${repo_root}"

work="${1:-build/package}"
mkdir -p "${work}"
work="$(cd "${work}" && pwd)"
prefix="${work}/prefix"
jobs="$(nproc 2>/dev/null || echo 2)"
generator_args=()
if command -v ninja >/dev/null 2>&1; then generator_args=(-G Ninja); fi

say() { printf '\n--- package: %s\n' "$*"; }

# Build + run the consumer (its own ctest) in <dir> with extra cmake args.
consume() {
  local mode="$1"; shift
  local dir="${work}/consumer-${mode}"
  say "consumer via ${mode}"
  rm -rf "${dir}"
  cmake -S tests/package -B "${dir}" "${generator_args[@]}" \
    -DCMAKE_BUILD_TYPE=Release -DAMQTT_CONSUME="${mode}" \
    -DAMQTT_SOURCE="${repo_root}" "$@" >"${dir}.configure.log" 2>&1 \
    || { cat "${dir}.configure.log"; return 1; }
  grep -E 'asio-mqtt|pkg-config' "${dir}.configure.log" || true
  cmake --build "${dir}" -j "${jobs}"
  # Only the consumer's own tests may be registered.
  local listed
  listed="$(cd "${dir}" && ctest -N | sed -n 's/^Total Tests: //p')"
  if [[ "${listed}" -gt 2 ]]; then
    echo "error: consumer build registered ${listed} tests: asio-mqtt leaked its tests" >&2
    (cd "${dir}" && ctest -N) >&2
    return 1
  fi
  (cd "${dir}" && ctest --output-on-failure)
}

say "install asio-mqtt into ${prefix}"
rm -rf "${prefix}" "${work}/install-build"
cmake -S . -B "${work}/install-build" "${generator_args[@]}" \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="${prefix}" \
  -DAMQTT_BUILD_TESTS=OFF -DAMQTT_BUILD_EXAMPLES=OFF \
  -DAMQTT_BUILD_BENCHMARKS=OFF -DAMQTT_BUILD_FUZZERS=OFF >/dev/null
cmake --build "${work}/install-build" -j "${jobs}"
cmake --install "${work}/install-build" >/dev/null
for f in include/amqtt/amqtt.hpp \
         share/cmake/asio-mqtt/asio-mqttConfig.cmake \
         share/cmake/asio-mqtt/asio-mqttConfigVersion.cmake \
         share/cmake/asio-mqtt/asio-mqtt-targets.cmake \
         share/cmake/asio-mqtt/FindAsio.cmake \
         share/pkgconfig/asio-mqtt.pc; do
  [[ -f "${prefix}/${f}" ]] || { echo "error: ${f} not installed" >&2; exit 1; }
done
echo "installed: $(cd "${prefix}" && find . -type f | wc -l) files"

say "pkg-config"
export PKG_CONFIG_PATH="${prefix}/share/pkgconfig${PKG_CONFIG_PATH:+:${PKG_CONFIG_PATH}}"
pkg-config --modversion asio-mqtt
read -r -a pc_flags <<<"$(pkg-config --cflags --libs asio-mqtt)"
echo "pkg-config --cflags --libs asio-mqtt: ${pc_flags[*]}"
"${CXX:-c++}" -std=c++17 -Wall -Wextra -Wpedantic -Werror tests/package/main.cpp \
  "${pc_flags[@]}" -o "${work}/consumer-pkgconfig"
"${work}/consumer-pkgconfig"
echo "pkg-config consumer: OK"
if [[ -f "${prefix}/share/pkgconfig/asio-mqtt-tls.pc" ]]; then
  read -r -a pc_tls_flags <<<"$(pkg-config --cflags --libs asio-mqtt-tls)"
  "${CXX:-c++}" -std=c++17 -Wall -Wextra -Wpedantic -Werror -DAMQTT_PACKAGE_TEST_EXPECT_TLS=1 \
    tests/package/main.cpp "${pc_tls_flags[@]}" -o "${work}/consumer-pkgconfig-tls"
  "${work}/consumer-pkgconfig-tls"
  echo "pkg-config TLS consumer: OK"
fi

consume find_package -DCMAKE_PREFIX_PATH="${prefix}"
consume add_subdirectory
consume fetchcontent

say "all consumption modes passed"
