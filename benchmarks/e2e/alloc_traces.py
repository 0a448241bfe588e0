#!/usr/bin/env python3
"""Groups the allocation stacks printed by amqtt-bench-e2e-amqtt (AMQTT_BENCH_TRACE_ALLOCS=K)
by call site and symbolizes them with addr2line (build with -g for file:line).

  AMQTT_BENCH_TRACE_ALLOCS=200 ./amqtt-bench-e2e-amqtt --port P --qos 0 2>traces.txt
  benchmarks/e2e/alloc_traces.py ./amqtt-bench-e2e-amqtt traces.txt [--frames 40]

For each distinct stack (most frequent first): how many of the sampled steady-state allocations
it made, their sizes, and the frames that belong to asio-mqtt, Asio or the benchmark.
"""
import argparse
import collections
import re
import subprocess


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("traces")
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--all-frames", action="store_true", help="do not filter frames")
    args = ap.parse_args()

    text = open(args.traces).read()
    blocks = text.split("--- allocation ")[1:]
    cache = {}

    def sym(off):
        if off not in cache:
            out = subprocess.run(["addr2line", "-C", "-f", "-i", "-e", args.binary, off],
                                 capture_output=True, text=True).stdout.strip().split("\n")
            cache[off] = [(out[i], out[i + 1].split("/")[-1]) for i in range(0, len(out) - 1, 2)]
        return cache[off]

    groups = collections.OrderedDict()
    for b in blocks:
        lines = b.strip().split("\n")
        m = re.match(r"\d+: (\d+) bytes", lines[0])
        size = int(m.group(1)) if m else 0
        frames = []
        for line in lines[1:]:
            m = re.search(r"\(\+(0x[0-9a-f]+)\)", line)
            if m:
                for f, loc in sym(hex(int(m.group(1), 16) - 1)):
                    frames.append(f"{f[:150]} @ {loc}")
            else:
                frames.append(line.strip()[:120])
        frames = [f for f in frames if "alloc_count::" not in f and "operator new" not in f]
        key = tuple(frames)
        g = groups.setdefault(key, {"n": 0, "sizes": collections.Counter()})
        g["n"] += 1
        g["sizes"][size] += 1

    total = sum(g["n"] for g in groups.values())
    print(f"{total} sampled allocations, {len(groups)} distinct stacks\n")
    for key, g in sorted(groups.items(), key=lambda kv: -kv[1]["n"]):
        sizes = ", ".join(f"{s} B x{n}" for s, n in g["sizes"].most_common())
        print(f"===== {g['n']} of {total} ({sizes})")
        shown = 0
        for f in key:
            if not args.all_frames and not re.search(r"amqtt|asio|bench|std::function|shared_ptr", f):
                continue
            print("   ", f)
            shown += 1
            if shown >= args.frames:
                break
        print()


if __name__ == "__main__":
    main()
