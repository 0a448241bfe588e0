#!/usr/bin/env bash
# Installs the Debian 12 packages asio-mqtt needs to build and test.
# Idempotent and quiet: does nothing (and prints nothing) when all are present.
#
# Usage: scripts/install-deps.sh [--minimal] [--verbose]
#   --minimal   skip packages only the benchmarks need (libbenchmark-dev)
#   --verbose   list every package checked
set -euo pipefail

minimal=0
verbose=0
for arg in "$@"; do
  case "${arg}" in
    --minimal) minimal=1 ;;
    --verbose) verbose=1 ;;
    -h|--help) sed -n '2,8p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "install-deps.sh: unknown argument '${arg}'" >&2; exit 2 ;;
  esac
done

packages=(
  # toolchains
  build-essential cmake ninja-build pkg-config g++ clang
  libclang-rt-14-dev          # ASan/UBSan/TSan runtimes and libFuzzer for clang 14
  # library dependencies
  libasio-dev                 # standalone Asio (header-only)
  libssl-dev openssl          # optional TLS support + test certificates
  # tests
  catch2                      # Catch2 v2
  mosquitto mosquitto-clients # broker for integration tests
  libmosquitto-dev libpaho-mqtt-dev libpaho-mqttpp-dev  # interop / comparison clients
  python3
)
if [[ "${minimal}" -eq 0 ]]; then
  packages+=(libbenchmark-dev)
fi

missing=()
for pkg in "${packages[@]}"; do
  status="$(dpkg-query -W -f='${db:Status-Status}' "${pkg}" 2>/dev/null || true)"
  if [[ "${status}" == "installed" ]]; then
    [[ "${verbose}" -eq 1 ]] && echo "ok       ${pkg}"
  else
    [[ "${verbose}" -eq 1 ]] && echo "missing  ${pkg}"
    missing+=("${pkg}")
  fi
done

if [[ "${#missing[@]}" -eq 0 ]]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
if [[ "$(id -u)" -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo_cmd=(sudo)
  else
    echo "install-deps: missing packages (${missing[*]}) and not root, no sudo" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
