#!/usr/bin/env bash
# End-to-end MQTT client benchmarks against ONE local mosquitto.
#
# Builds benchmarks/e2e/ (Release, g++ -O2, AMQTT_BUILD_BENCHMARKS=ON) into build/bench, starts a
# private mosquitto on a free 127.0.0.1 port with a generated benchmark config (stopped by pid on
# exit), runs every library x QoS x payload in throughput and latency mode, writes all results as
# JSON and prints the tables (scripts/bench-report.py) and the command to reproduce.
#
# Usage: scripts/bench-e2e.sh [options]
#   --count N            throughput messages per run (default 100000)
#   --latency-count N    latency round trips per run (default min(10000, count))
#   --libs "a b"         subset of: raw libmosquitto-1t libmosquitto paho amqtt-1t amqtt raw-lag
#                        (default: all that were built but raw-lag). "-1t": the same program
#                        with --threads 1 (both connections on one thread, like raw), throughput
#                        only; libmosquitto and amqtt alone run one thread per connection.
#                        raw-lag: raw with --subscriber-lag-us 50 (a reader that lags, so the
#                        broker's writes coalesce; throughput only, never a target)
#   --qos "0 1 2"        QoS levels (default "0 1 2")
#   --payloads "64 16384" payload sizes in bytes (default "64 16384")
#   --modes "throughput latency"
#   --repeat R           runs per cell; the report uses the median (default 1)
#   --window W           publisher window passed to every program (default 1000)
#   --qos0-pacing M      received (default): at QoS 0 a message holds its window slot until
#                        the subscriber got it, in every program (a lost message keeps its slot:
#                        with a broker that drops QoS 0, e.g. mosquitto's default queue limit,
#                        the run can stall until --timeout); written: until the library reports
#                        it done (libmosquitto/Paho: written; asio-mqtt stays end to end)
#   --timeout S          wall-clock bound per run in seconds (default 120)
#   --nice N             run the broker and the programs under `nice -n N` (e.g. -10 as root,
#                        to shield the measurement from other load on the machine)
#   --broker-cpus LIST   pin the broker to these CPUs (`taskset -c LIST`, e.g. 0)
#   --client-cpus LIST   pin the benchmark programs to these CPUs (e.g. 1, or 0 to share the
#                        broker's core)
#   --out FILE           JSON results (default build/bench/e2e-results.json)
#   --build-dir DIR      build tree (default build/bench)
#   --bin-dir DIR        use the programs already built in DIR (no build)
#   --no-build           don't (re)build; use the programs in <build-dir>/benchmarks/e2e
#   --smoke              fail (exit 1) if any run errored, timed out, lost or duplicated messages
#   --skip-missing       leave out the --libs whose program was not built (instead of failing)
#   --quiet              no tables at the end
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
count=100000
latency_count=""
libs=""
qos_list="0 1 2"
payloads="64 16384"
modes="throughput latency"
repeat=1
window=1000
qos0_pacing=received
timeout_s=120
nice_level=""
broker_cpus=""
client_cpus=""
out=""
build_dir="${root}/build/bench"
bin_dir=""
do_build=1
smoke=0
skip_missing=0
quiet=0
orig_args=("$@")

while [[ $# -gt 0 ]]; do
  case "$1" in
    --count) count="$2"; shift 2 ;;
    --latency-count) latency_count="$2"; shift 2 ;;
    --libs) libs="$2"; shift 2 ;;
    --qos) qos_list="$2"; shift 2 ;;
    --payloads) payloads="$2"; shift 2 ;;
    --modes) modes="$2"; shift 2 ;;
    --repeat) repeat="$2"; shift 2 ;;
    --window) window="$2"; shift 2 ;;
    --qos0-pacing) qos0_pacing="$2"; shift 2 ;;
    --timeout) timeout_s="$2"; shift 2 ;;
    --nice) nice_level="$2"; shift 2 ;;
    --broker-cpus) broker_cpus="$2"; shift 2 ;;
    --client-cpus) client_cpus="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --build-dir) build_dir="$2"; shift 2 ;;
    --bin-dir) bin_dir="$2"; do_build=0; shift 2 ;;
    --no-build) do_build=0; shift ;;
    --smoke) smoke=1; shift ;;
    --skip-missing) skip_missing=1; shift ;;
    --quiet) quiet=1; shift ;;
    -h|--help) sed -n '2,40p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "bench-e2e.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

is_uint() { [[ "$1" =~ ^[0-9]+$ ]] && [[ "$1" -gt 0 ]]; }
for v in "${count}" "${repeat}" "${window}" "${timeout_s}"; do
  is_uint "${v}" || { echo "bench-e2e.sh: '${v}' is not a positive integer" >&2; exit 2; }
done
if [[ -z "${latency_count}" ]]; then
  latency_count=$(( count < 10000 ? count : 10000 ))
fi
is_uint "${latency_count}" || { echo "bench-e2e.sh: bad --latency-count" >&2; exit 2; }
[[ "${qos0_pacing}" == received || "${qos0_pacing}" == written ]] || { echo "bench-e2e.sh: --qos0-pacing must be received or written" >&2; exit 2; }
[[ -n "${bin_dir}" ]] || bin_dir="${build_dir}/benchmarks/e2e"
[[ -n "${out}" ]] || out="${build_dir}/e2e-results.json"

build_type="Release"
cxx_flags_release="-O2 -DNDEBUG"
cxx="${CXX:-g++}"

nice_cmd=()
if [[ -n "${nice_level}" ]]; then
  [[ "${nice_level}" =~ ^-?[0-9]+$ ]] || { echo "bench-e2e.sh: bad --nice" >&2; exit 2; }
  if [[ "$(nice -n "${nice_level}" nice 2>/dev/null)" == "$(( $(nice) + nice_level ))" ]]; then
    nice_cmd=(nice -n "${nice_level}")
  else
    echo "bench-e2e.sh: cannot set nice ${nice_level} (not root?); running at the default priority" >&2
    nice_level=""
  fi
fi

broker_pin=()
client_pin=()
for v in "${broker_cpus}" "${client_cpus}"; do
  [[ -z "${v}" || "${v}" =~ ^[0-9,-]+$ ]] || { echo "bench-e2e.sh: bad CPU list '${v}'" >&2; exit 2; }
done
if [[ -n "${broker_cpus}${client_cpus}" ]] && ! command -v taskset >/dev/null; then
  echo "bench-e2e.sh: --broker-cpus/--client-cpus need taskset (util-linux)" >&2; exit 2
fi
[[ -z "${broker_cpus}" ]] || broker_pin=(taskset -c "${broker_cpus}")
[[ -z "${client_cpus}" ]] || client_pin=(taskset -c "${client_cpus}")

# ---------------------------------------------------------------------------------------------
# Build
# ---------------------------------------------------------------------------------------------
if [[ "${do_build}" -eq 1 ]]; then
  mkdir -p "${build_dir}"
  work_log="${build_dir}/e2e-configure.log"
  echo "== building e2e benchmarks (${build_type}, ${cxx} ${cxx_flags_release}) in ${build_dir}" >&2
  cmake -S "${root}" -B "${build_dir}" \
    -DCMAKE_BUILD_TYPE="${build_type}" \
    -DCMAKE_CXX_COMPILER="${cxx}" \
    -DCMAKE_CXX_FLAGS_RELEASE="${cxx_flags_release}" \
    -DAMQTT_BUILD_BENCHMARKS=ON \
    -DAMQTT_BUILD_TESTS=OFF \
    -DAMQTT_BUILD_EXAMPLES=OFF \
    -DAMQTT_INSTALL=OFF >"${work_log}" 2>&1 \
    || { cat "${work_log}" >&2; exit 1; }
  cmake --build "${build_dir}" --target amqtt-bench-e2e -j "$(nproc)" >&2
fi

declare -A prog=(
  [raw]=amqtt-bench-e2e-raw
  [libmosquitto-1t]=amqtt-bench-e2e-libmosquitto
  [libmosquitto]=amqtt-bench-e2e-libmosquitto
  [paho]=amqtt-bench-e2e-paho
  [amqtt-1t]=amqtt-bench-e2e-amqtt
  [amqtt]=amqtt-bench-e2e-amqtt
  [raw-lag]=amqtt-bench-e2e-raw
)
# Extra arguments per variant. The single-thread variants run in throughput mode only (a latency
# run has one connection on one thread in every program); amqtt-1t skips the isolated allocation
# phase, which does not depend on --threads and runs with amqtt.
declare -A prog_args=([libmosquitto-1t]="--threads 1" [amqtt-1t]="--threads 1"
                      [raw-lag]="--subscriber-lag-us 50")
declare -A prog_env=([amqtt-1t]="AMQTT_BENCH_NO_ALLOC_PHASE=1")
runs_in_mode() { [[ "$2" == "throughput" || ( "$1" != *-1t && "$1" != raw-lag ) ]]; }
if [[ -z "${libs}" ]]; then
  for l in raw libmosquitto-1t libmosquitto paho amqtt-1t amqtt; do
    [[ -x "${bin_dir}/${prog[$l]}" ]] && libs+="${libs:+ }${l}"
  done
fi
kept_libs=""
for l in ${libs}; do
  [[ -n "${prog[$l]:-}" ]] || { echo "bench-e2e.sh: unknown library '${l}'" >&2; exit 2; }
  if [[ ! -x "${bin_dir}/${prog[$l]}" ]]; then
    [[ "${skip_missing}" -eq 1 ]] || { echo "bench-e2e.sh: ${bin_dir}/${prog[$l]} not built" >&2; exit 1; }
    echo "bench-e2e.sh: ${bin_dir}/${prog[$l]} not built; leaving out ${l}" >&2
    continue
  fi
  kept_libs+="${kept_libs:+ }${l}"
done
libs="${kept_libs}"
[[ -n "${libs}" ]] || { echo "bench-e2e.sh: no benchmark programs in ${bin_dir}" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# Broker: one private mosquitto, started and stopped by pid.
# ---------------------------------------------------------------------------------------------
mosquitto_bin="${AMQTT_MOSQUITTO:-}"
if [[ -z "${mosquitto_bin}" ]]; then
  if [[ -x /usr/sbin/mosquitto ]]; then mosquitto_bin=/usr/sbin/mosquitto
  else mosquitto_bin="$(command -v mosquitto || true)"; fi
fi
[[ -x "${mosquitto_bin}" ]] || { echo "bench-e2e.sh: mosquitto not found (apt-get install mosquitto)" >&2; exit 77; }

work="$(mktemp -d "${TMPDIR:-/tmp}/amqtt-bench-e2e.XXXXXX")"
broker_pid=""
cleanup() {
  if [[ -n "${broker_pid}" ]] && kill -0 "${broker_pid}" 2>/dev/null; then
    kill -TERM "${broker_pid}" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "${broker_pid}" 2>/dev/null || break; sleep 0.1; done
    kill -0 "${broker_pid}" 2>/dev/null && kill -KILL "${broker_pid}" 2>/dev/null || true
    wait "${broker_pid}" 2>/dev/null || true
  fi
  rm -rf "${work}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
port_open() {
  python3 -c 'import socket,sys; s=socket.socket(); s.settimeout(0.2); sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)' "$1"
}

broker_conf=""
start_broker() {
  local attempt port
  for attempt in 1 2 3 4 5; do
    port="$(free_port)"
    broker_conf="listener ${port} 127.0.0.1
allow_anonymous true
set_tcp_nodelay true
max_queued_messages 0
max_inflight_messages 0
persistence false
log_dest file ${work}/mosquitto.log
log_type error
log_type warning"
    printf '%s\n' "${broker_conf}" >"${work}/mosquitto.conf"
    "${broker_pin[@]+"${broker_pin[@]}"}" "${nice_cmd[@]+"${nice_cmd[@]}"}" "${mosquitto_bin}" -c "${work}/mosquitto.conf" >"${work}/mosquitto.out" 2>&1 &
    broker_pid=$!
    for _ in $(seq 100); do
      if ! kill -0 "${broker_pid}" 2>/dev/null; then break; fi
      if port_open "${port}"; then broker_port="${port}"; return 0; fi
      sleep 0.05
    done
    kill -TERM "${broker_pid}" 2>/dev/null || true
    wait "${broker_pid}" 2>/dev/null || true
    broker_pid=""
    echo "bench-e2e.sh: mosquitto did not start on port ${port} (attempt ${attempt})" >&2
  done
  cat "${work}/mosquitto.out" "${work}/mosquitto.log" >&2 2>/dev/null || true
  return 1
}
broker_port=""
start_broker || exit 1
echo "== mosquitto pid ${broker_pid} on 127.0.0.1:${broker_port} (config in ${work}/mosquitto.conf)" >&2

# Broker CPU seconds (utime + stime) from /proc.
broker_cpu() {
  awk -v hz="$(getconf CLK_TCK)" '{ printf "%.3f", ($14 + $15) / hz }' "/proc/${broker_pid}/stat" 2>/dev/null || echo 0
}

# Machine-wide TCP counters: segments sent (Tcp OutSegs) and segments that carried new data
# (TcpExt TCPOrigDataSent). On an idle machine their change over a run is the run's loopback
# traffic; data segments per message show how much the broker's writes to the subscriber were
# coalesced, which decides the broker's cost per message (docs/benchmarks.md).
# Each file has a header line and a value line per protocol; a missing column or file gives 0.
tcp_counters() {
  awk '
    FNR == 1 { hdr = "" }
    ($1 == "Tcp:" || $1 == "TcpExt:") && hdr != $1 { hdr = $1; for (i = 2; i <= NF; i++) col[$1, $i] = i; next }
    $1 == "Tcp:"    { c = col["Tcp:", "OutSegs"]; if (c) out = $c }
    $1 == "TcpExt:" { c = col["TcpExt:", "TCPOrigDataSent"]; if (c) data = $c }
    END { printf "%.0f %.0f", out, data }' /proc/net/snmp /proc/net/netstat 2>/dev/null
}

# ---------------------------------------------------------------------------------------------
# Runs
# ---------------------------------------------------------------------------------------------
raw_lines="${work}/results.jsonl"
: >"${raw_lines}"
failures=0
loadavg_start="$(cut -d' ' -f1-3 /proc/loadavg)"
# The tree the programs were built from (recorded now, not after the runs).
git_commit="$(git -C "${root}" rev-parse --short HEAD 2>/dev/null || echo unknown)"
git_dirty=False
[[ -n "$(git -C "${root}" status --porcelain -- include benchmarks/e2e 2>/dev/null)" ]] && git_dirty=True
n_runs=0
for m in ${modes}; do for l in ${libs}; do for q in ${qos_list}; do for p in ${payloads}; do
  runs_in_mode "${l}" "${m}" && n_runs=$(( n_runs + repeat ))
done; done; done; done
i=0
for r in $(seq "${repeat}"); do
  for m in ${modes}; do
    n="${count}"
    [[ "${m}" == "latency" ]] && n="${latency_count}"
    for q in ${qos_list}; do
      for p in ${payloads}; do
        for l in ${libs}; do
          runs_in_mode "${l}" "${m}" || continue
          i=$(( i + 1 ))
          kill -0 "${broker_pid}" 2>/dev/null || { echo "bench-e2e.sh: the broker died" >&2; exit 1; }
          # shellcheck disable=SC2206  # prog_args/prog_env are word lists
          cmd=(env ${prog_env[$l]:-} "${bin_dir}/${prog[$l]}" ${prog_args[$l]:-}
               --host 127.0.0.1 --port "${broker_port}" --qos "${q}"
               --payload "${p}" --count "${n}" --mode "${m}" --timeout "${timeout_s}"
               --window "${window}" --qos0-pacing "${qos0_pacing}")
          printf '[%d/%d] %-15s %-10s qos %s payload %-6s count %-7s ' "${i}" "${n_runs}" "${l}" "${m}" "${q}" "${p}" "${n}" >&2
          b0="$(broker_cpu)"
          read -r s0 d0 <<<"$(tcp_counters)"
          set +e
          line="$(timeout --kill-after=10 "$(( timeout_s + 60 ))" "${client_pin[@]+"${client_pin[@]}"}" "${nice_cmd[@]+"${nice_cmd[@]}"}" "${cmd[@]}" 2>"${work}/stderr.txt" | tail -n 1)"
          rc=$?
          set -e
          b1="$(broker_cpu)"
          read -r s1 d1 <<<"$(tcp_counters)"
          if [[ "${line}" != \{* ]]; then
            err="$(tr '\n"\\' '   ' <"${work}/stderr.txt" | cut -c1-300)"
            line="{\"library\":\"${l}\",\"mode\":\"${m}\",\"qos\":${q},\"payload\":${p},\"count\":${n},\"error\":\"no result (exit ${rc}): ${err}\"}"
          fi
          line="$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); d["library"]=sys.argv[5]; d["repeat"]=int(sys.argv[2]); d["broker_cpu_s"]=round(float(sys.argv[4])-float(sys.argv[3]),3); d["tcp_segments"]=int(sys.argv[7])-int(sys.argv[6]); d["tcp_data_segments"]=int(sys.argv[9])-int(sys.argv[8]); print(json.dumps(d))' "${line}" "${r}" "${b0}" "${b1}" "${l}" "${s0}" "${s1}" "${d0}" "${d1}")"
          printf '%s\n' "${line}" >>"${raw_lines}"
          python3 -c '
import json,sys
d=json.loads(sys.argv[1])
if "error" in d: print("ERROR", d["error"]); sys.exit(0)
s=""
if d["mode"]=="throughput": s="%10.0f msg/s" % d["msgs_per_s"]
else: s="p50 %8.1f us  p99 %8.1f us" % (d["p50_us"], d["p99_us"])
s+="  cpu %7.2f us/msg  lost %d dup %d%s" % (d["cpu_us_per_msg"], d["lost"], d["duplicates"], "  TIMEOUT" if d.get("timed_out") else "")
if "allocs_per_msg" in d: s+="  allocs/msg %.3f" % d["allocs_per_msg"]
if d["mode"]=="throughput" and d.get("count"):
    n=d["count"]+d.get("extra_messages",0)  # the broker also carried e.g. the amqtt allocation phase
    s+="  broker %.1f us/msg  data segments/msg %.2f" % (d["broker_cpu_s"]*1e6/n, d["tcp_data_segments"]/n)
print(s)' "${line}" >&2
          if python3 -c 'import json,sys; d=json.loads(sys.argv[1]); sys.exit(1 if ("error" in d or d.get("timed_out") or d.get("lost",0) or d.get("duplicates",0)) else 0)' "${line}"; then :; else
            failures=$(( failures + 1 ))
          fi
        done
      done
    done
  done
done
loadavg_end="$(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------------------------------------
# Results file: {"meta": {...}, "results": [...]}
# ---------------------------------------------------------------------------------------------
# Paths inside the repository are recorded relative to it, so a committed results file names no
# path of the machine that made it.
repro="scripts/bench-e2e.sh"
for a in "${orig_args[@]+"${orig_args[@]}"}"; do repro+=" $(printf '%q' "${a#"${root}/"}")"; done
mkdir -p "$(dirname "${out}")"
pkgver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo unknown; }
python3 - "${raw_lines}" "${out}" <<EOF
import json, sys, platform, subprocess, datetime
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def sh(c):
    try: return subprocess.run(c, shell=True, capture_output=True, text=True).stdout.strip()
    except Exception: return ""
meta = {
  "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
  "cpu_model": sh("lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -n1"),
  "cores": int(sh("nproc") or 0),
  "kernel": platform.release(),
  "compiler": sh("${cxx} --version | head -n1"),
  "build_type": "${build_type}",
  "cxx_flags": "${cxx_flags_release}",
  "mosquitto": "$(pkgver mosquitto)",
  "libmosquitto": "$(pkgver libmosquitto-dev)",
  "paho_c": "$(pkgver libpaho-mqtt-dev)",
  "paho_cpp": "$(pkgver libpaho-mqttpp-dev)",
  "asio": "$(pkgver libasio-dev)",
  "git_commit": "${git_commit}",
  "git_dirty": ${git_dirty},
  "broker_config": """${broker_conf}""".replace("${work}", "<tmpdir>"),
  "count": ${count}, "latency_count": ${latency_count}, "window": ${window}, "qos0_pacing": "${qos0_pacing}",
  "timeout_s": ${timeout_s}, "repeat": ${repeat}, "nice": "${nice_level}", "broker_cpus": "${broker_cpus}", "client_cpus": "${client_cpus}",
  "loadavg_start": "${loadavg_start}", "loadavg_end": "${loadavg_end}",
  "command": """${repro}""",
}
json.dump({"meta": meta, "results": lines}, open(sys.argv[2], "w"), indent=1)
EOF

echo "== results: ${out}" >&2
if [[ "${quiet}" -eq 0 ]]; then
  python3 "${root}/scripts/bench-report.py" "${out}" || true
fi
echo "== reproduce: cd ${root} && ${repro}" >&2
if [[ "${smoke}" -eq 1 && "${failures}" -gt 0 ]]; then
  echo "bench-e2e.sh: ${failures} run(s) errored, timed out, lost or duplicated messages" >&2
  exit 1
fi
exit 0
