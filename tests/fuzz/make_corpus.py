#!/usr/bin/env python3
"""Generates the seed corpora of the libFuzzer targets in tests/fuzz/corpus/<target>/.

Packets are built by a small MQTT 3.1.1 encoder written here, independently of the C++ codec,
so the seeds are test vectors in their own right. Sources:
  - a few dozen valid packets of every type (all QoS levels and flags, UTF-8, empty and
    maximum-ish fields, 16 B / 64 B / 1 KiB / 64 KiB PUBLISH payloads, non-minimal Remaining
    Length forms) and a few invalid ones;
  - every "send" and "recv" payload of the MQTT 3.1.1 groups ("ver": 4 or no "ver") of
    ../shared/conformance/mosquitto-msg-sequence/*.json (Eclipse Mosquitto test data).

Output is deterministic. Generated files are named gen-* (and mosq-* for the mosquitto cases);
re-running replaces exactly those, and leaves any other file (regress-* inputs that once
crashed a target) alone.

Usage: tests/fuzz/make_corpus.py [--mosquitto DIR] [--out DIR]
"""

import argparse
import hashlib
import json
import random
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
DEFAULT_MOSQUITTO = REPO.parent / "shared" / "conformance" / "mosquitto-msg-sequence"

# --------------------------------------------------------------------------------------------
# A tiny independent MQTT 3.1.1 encoder.
# --------------------------------------------------------------------------------------------


def varint(n, min_bytes=1):
    """Remaining Length; min_bytes > minimal gives a non-minimal (still valid to decode) form."""
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n or len(out) + 1 < min_bytes:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def u16(n):
    return bytes([(n >> 8) & 0xFF, n & 0xFF])


def s(x):
    if isinstance(x, str):
        x = x.encode("utf-8")
    return u16(len(x)) + x


def pkt(first, body, min_len_bytes=1):
    return bytes([first]) + varint(len(body), min_len_bytes) + body


def connect(client_id="c", clean=True, keep_alive=60, will=None, username=None,
            password=None):
    flags = 0x02 if clean else 0
    payload = s(client_id)
    if will is not None:
        topic, message, qos, retain = will
        flags |= 0x04 | (qos << 3) | (0x20 if retain else 0)
        payload += s(topic) + s(message)
    if username is not None:
        flags |= 0x80
        payload += s(username)
    if password is not None:
        flags |= 0x40
        payload += s(password)
    return pkt(0x10, s("MQTT") + bytes([4, flags]) + u16(keep_alive) + payload)


def connack(session_present=False, rc=0):
    return pkt(0x20, bytes([1 if session_present else 0, rc]))


def publish(topic, payload=b"", qos=0, retain=False, dup=False, pid=1, min_len_bytes=1):
    first = 0x30 | (0x08 if dup else 0) | (qos << 1) | (1 if retain else 0)
    body = s(topic) + (u16(pid) if qos else b"") + payload
    return pkt(first, body, min_len_bytes)


def ack(first, pid):
    return pkt(first, u16(pid))


def subscribe(pid, entries):
    return pkt(0x82, u16(pid) + b"".join(s(f) + bytes([q]) for f, q in entries))


def suback(pid, codes):
    return pkt(0x90, u16(pid) + bytes(codes))


def unsubscribe(pid, filters):
    return pkt(0xA2, u16(pid) + b"".join(s(f) for f in filters))


def payload_bytes(n, seed):
    rnd = random.Random(seed)
    return bytes(rnd.getrandbits(8) for _ in range(n))


def valid_packets():
    """(name, bytes) of valid MQTT 3.1.1 packets, every type."""
    p = []
    # CONNECT
    p += [
        ("connect-min", connect()),
        ("connect-empty-id", connect(client_id="")),
        ("connect-persistent", connect(client_id="sensor-17", clean=False, keep_alive=0)),
        ("connect-keepalive-max", connect(client_id="k", keep_alive=0xFFFF)),
        ("connect-will-q0", connect(will=("status/c", b"offline", 0, False))),
        ("connect-will-q1-retain", connect(will=("status/c", b"gone", 1, True))),
        ("connect-will-q2-empty", connect(will=("a", b"", 2, False))),
        ("connect-user", connect(username="alice")),
        ("connect-user-pass", connect(username="alice", password=b"s3cr\x00t\xff")),
        ("connect-all", connect(client_id="\u00e9t\u00e9-\U0001F600", clean=False,
                                keep_alive=30, will=("$SYS/w", b"\x00\x01", 2, True),
                                username="", password=b"")),
        ("connect-long-id", connect(client_id="x" * 300)),
    ]
    # CONNACK
    p += [(f"connack-rc{rc}", connack(False, rc)) for rc in range(6)]
    p += [("connack-session-present", connack(True, 0))]
    # PUBLISH
    topic = "sensors/room-42/temperature"
    for n in (0, 16, 64, 1024, 65536):
        p.append((f"publish-q0-{n}B", publish(topic, payload_bytes(n, n))))
    p += [
        ("publish-q1", publish(topic, b"21.5", qos=1, pid=1)),
        ("publish-q1-pid-max", publish("a", b"x", qos=1, pid=0xFFFF)),
        ("publish-q2-dup-retain", publish("a/b/c", b"hello", qos=2, dup=True, retain=True,
                                          pid=0x1234)),
        ("publish-q0-retain-empty", publish("r", b"", retain=True)),
        ("publish-utf8-topic", publish("\u00e9t\u00e9/\u4e2d\u6587/\U0001F600", b"u")),
        ("publish-sys-topic", publish("$SYS/broker/uptime", b"1234 seconds")),
        ("publish-slash-topics", publish("/", b"") + publish("a//b/", b"", qos=1, pid=7)),
        ("publish-q1-1KiB", publish(topic, payload_bytes(1024, 7), qos=1, pid=99)),
        ("publish-topic-300", publish("t/" * 150, b"p")),
        # Non-minimal Remaining Length forms (valid in 3.1.1; the encoder writes minimal ones).
        ("publish-len-2bytes", publish("a", b"xyz", min_len_bytes=2)),
        ("publish-len-4bytes", publish("a", b"xyz", qos=1, pid=2, min_len_bytes=4)),
    ]
    # PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK
    for name, first in (("puback", 0x40), ("pubrec", 0x50), ("pubrel", 0x62),
                        ("pubcomp", 0x70), ("unsuback", 0xB0)):
        for pid in (1, 0x1234, 0xFFFF):
            p.append((f"{name}-{pid}", ack(first, pid)))
    p.append(("puback-len-2bytes", pkt(0x40, u16(5), 2)))
    # SUBSCRIBE
    p += [
        ("subscribe-one", subscribe(1, [("a/b", 0)])),
        ("subscribe-wildcards", subscribe(2, [("sport/+/player1", 1), ("sport/#", 2), ("#", 0),
                                              ("+", 1), ("+/+", 2), ("/+", 0)])),
        ("subscribe-sys", subscribe(0xFFFF, [("$SYS/#", 0), ("$SYS/broker/+", 1)])),
        ("subscribe-utf8", subscribe(3, [("\u00e9t\u00e9/+/\U0001F600", 2)])),
    ]
    # SUBACK
    p += [
        ("suback-granted", suback(1, [0, 1, 2])),
        ("suback-failure", suback(2, [0x80])),
        ("suback-many", suback(0xFFFF, [0, 1, 2, 0x80] * 8)),
    ]
    # UNSUBSCRIBE
    p += [
        ("unsubscribe-one", unsubscribe(1, ["a/b"])),
        ("unsubscribe-many", unsubscribe(9, ["sport/#", "+", "a//b", "$SYS/+"])),
    ]
    # PINGREQ, PINGRESP, DISCONNECT
    p += [
        ("pingreq", bytes([0xC0, 0])),
        ("pingresp", bytes([0xD0, 0])),
        ("disconnect", bytes([0xE0, 0])),
        ("pingreq-len-80-00", bytes([0xC0, 0x80, 0x00])),
        ("pingresp-len-4bytes", bytes([0xD0, 0x80, 0x80, 0x80, 0x00])),
    ]
    return p


def invalid_packets():
    """(name, bytes) of malformed packets the decoder must reject (not crash on)."""
    return [
        ("bad-varint-5bytes", bytes([0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F])),
        ("bad-varint-max-len", bytes([0x30, 0xFF, 0xFF, 0xFF, 0x7F])),
        ("bad-type0", bytes([0x00, 0x00])),
        ("bad-auth", bytes([0xF0, 0x00])),
        ("bad-publish-q3", bytes([0x36]) + publish("a", b"x", qos=1)[1:]),
        ("bad-publish-dup-q0", bytes([0x38]) + publish("a", b"x")[1:]),
        ("bad-publish-wildcard", publish("a/+", b"x")),
        ("bad-publish-empty-topic", publish("", b"x")),
        ("bad-publish-pid0", publish("a", b"x", qos=1, pid=0)),
        ("bad-publish-utf8", pkt(0x30, u16(3) + b"a\xc0\x80")),
        ("bad-publish-nul", pkt(0x30, u16(3) + b"a\x00b")),
        ("bad-publish-truncated-topic", pkt(0x30, u16(10) + b"abc")),
        ("bad-subscribe-flags", bytes([0x80]) + subscribe(1, [("a", 0)])[1:]),
        ("bad-subscribe-qos3", subscribe(1, [("a", 3)])),
        ("bad-subscribe-filter", subscribe(1, [("a/#/b", 0)])),
        ("bad-subscribe-empty", pkt(0x82, u16(1))),
        ("bad-suback-code", suback(1, [3])),
        ("bad-unsubscribe-empty", pkt(0xA2, u16(1))),
        ("bad-connect-level", pkt(0x10, s("MQTT") + bytes([3, 2]) + u16(60) + s("c"))),
        ("bad-connack-rc", connack(False, 6)),
        ("bad-pubrel-flags", ack(0x60, 1)),
        ("bad-puback-trailing", pkt(0x40, u16(1) + b"\x00")),
        ("bad-pingreq-long", pkt(0xC0, b"\x00")),
    ]


# --------------------------------------------------------------------------------------------
# Mosquitto test data.
# --------------------------------------------------------------------------------------------


def mosquitto_packets(directory):
    """(name, bytes) of every send/recv payload of the 3.1.1 groups, deduplicated."""
    out, seen = [], set()
    for f in sorted(Path(directory).glob("*.json")):
        for group in json.loads(f.read_text()):
            if group.get("ver", 4) != 4:
                continue
            msgs = [(group.get("group", ""), m) for m in group.get("group_msgs", [])]
            for test in group.get("tests", []):
                msgs += [(test.get("name", ""), m) for m in test.get("msgs", [])]
            for name, m in msgs:
                if m.get("type") not in ("send", "recv"):
                    continue
                data = bytes.fromhex(re.sub(r"\s+", "", m["payload"]))
                if data in seen:
                    continue
                seen.add(data)
                slug = re.sub(r"[^A-Za-z0-9]+", "-", f"{f.stem}-{name}").strip("-")[:60]
                out.append((f"{slug}-{m['type']}", data))
    return out


# --------------------------------------------------------------------------------------------
# Per-target corpora.
# --------------------------------------------------------------------------------------------


def stream_header(config, size_param, chunk_sizes, scale64=False, mode=0):
    assert 1 <= len(chunk_sizes) <= 8
    chunking = (len(chunk_sizes) - 1) | (0x08 if scale64 else 0) | (mode << 4)
    return bytes([config, size_param, chunking]) + bytes(chunk_sizes)


# (name, header) variants; config bits: 0-1 direction, 2-3 size mode, 4 reuse, 5 shrink,
# 6 over-prepare (see fuzz_stream_decoder.cpp).
STREAM_HEADERS = [
    ("any-whole", stream_header(0x00, 0, [0])),
    ("s2c-bytewise", stream_header(0x01, 0, [1])),
    ("s2c-reuse-mixed", stream_header(0x11, 0, [3, 1, 7, 200], mode=0)),
    ("c2s-prepare", stream_header(0x42, 0, [5, 64], mode=2)),
    ("any-small-limit", stream_header(0x24, 40, [2, 9], mode=3)),
    ("s2c-big-chunks", stream_header(0x31, 0, [1, 17, 255], scale64=True, mode=0)),
    ("any-limit-4k", stream_header(0x68, 250, [13, 0], mode=1)),
]


def stream_corpus(valid, invalid, mosq):
    out = []
    rnd = random.Random(1)
    small = [(n, b) for n, b in valid if len(b) <= 2048]
    # Every small valid packet alone, with a header picked in turn.
    for i, (name, data) in enumerate(small):
        hname, header = STREAM_HEADERS[i % len(STREAM_HEADERS)]
        out.append((f"gen-{hname}-{name}", header + data))
    # Big packets with big chunks and bytewise.
    big = [(n, b) for n, b in valid if len(b) > 2048]
    for name, data in big:
        out.append((f"gen-s2c-big-chunks-{name}", STREAM_HEADERS[5][1] + data))
    # Realistic mixed streams a client receives (server_to_client) and a server receives.
    s2c = [d for n, d in small if n.split("-")[0] in
           ("connack", "publish", "puback", "pubrec", "pubrel", "pubcomp", "suback",
            "unsuback", "pingresp")]
    c2s = [d for n, d in small if n.split("-")[0] in
           ("connect", "publish", "puback", "pubrec", "pubrel", "pubcomp", "subscribe",
            "unsubscribe", "pingreq", "disconnect")]
    for i, (hname, header) in enumerate(STREAM_HEADERS):
        pool = c2s if hname.startswith("c2s") else s2c
        seq = b"".join(rnd.choice(pool) for _ in range(12 + 4 * i))
        out.append((f"gen-{hname}-stream{i}", header + seq))
        # The same stream cut short / followed by a malformed packet.
        out.append((f"gen-{hname}-stream{i}-truncated", header + seq[: len(seq) * 2 // 3]))
        bad = invalid[i % len(invalid)][1]
        out.append((f"gen-{hname}-stream{i}-then-bad", header + seq + bad + seq))
    # Mosquitto cases as a client sees them: CONNACK then the broker's bytes.
    for i, (name, data) in enumerate(mosq):
        hname, header = STREAM_HEADERS[i % len(STREAM_HEADERS)]
        out.append((f"mosq-{name}", header + connack() + data))
    return out


TOPIC_CORPUS = [
    ("spec-examples", ["sport/tennis/player1/#", "sport/tennis/player1",
                       "sport/tennis/player1/ranking", "sport/tennis/player1/score/wimbledon",
                       "sport/#", "sport", "#", "sport/tennis/#", "sport/tennis#",
                       "sport/tennis/#/ranking", "+", "+/tennis/#", "sport+", "sport/+/player1",
                       "/finance", "+/+", "/+", "finance"]),
    ("dollar", ["$SYS/#", "#", "+/monitor/Clients", "$SYS/monitor/Clients", "$SYS/+",
                "$SYS", "$", "+", "$/#", "$SYS/monitor/+"]),
    ("empty-levels", ["/", "//", "+/+", "/#", "#", "a//b", "a/+/b", "+//+", "a/", "a/#",
                      "+/#", "a"]),
    ("utf8", ["\u00e9t\u00e9/#", "\u00e9t\u00e9/\u4e2d\u6587", "+/\u4e2d\u6587",
              "\U0001F600", "#"]),
]


def topic_corpus():
    out = []
    for name, lines in TOPIC_CORPUS:
        out.append((f"gen-{name}", "\n".join(lines).encode("utf-8")))
    out.append(("gen-invalid", b"a/#/b\n+a\n\xed\xa0\x80\na\x00b\n\nsport/#\nsport/x"))
    return out


def encode_corpus():
    # FuzzedDataProvider takes integers from the end and strings from the front.
    rnd = random.Random(2)
    return [(f"gen-random-{i:02d}", bytes(rnd.getrandbits(8) for _ in range(8 + 12 * i)))
            for i in range(24)]


def write_corpus(directory, items, prefixes):
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.iterdir():
        if old.is_file() and old.name.startswith(prefixes):
            old.unlink()
    names = set()
    for name, data in items:
        name = re.sub(r"[^A-Za-z0-9._-]+", "-", name)
        if name in names:
            name += "-" + hashlib.sha1(data).hexdigest()[:8]
        names.add(name)
        (directory / name).write_bytes(data)
    return len(items)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mosquitto", default=str(DEFAULT_MOSQUITTO),
                    help="mosquitto-msg-sequence directory (default: %(default)s)")
    ap.add_argument("--out", default=str(HERE / "corpus"), help="corpus root (default: %(default)s)")
    args = ap.parse_args()
    out = Path(args.out)

    valid = valid_packets()
    invalid = invalid_packets()
    mosq_dir = Path(args.mosquitto)
    if mosq_dir.is_dir():
        mosq = mosquitto_packets(mosq_dir)
        mosq_prefixes = ("gen-", "mosq-")
    else:
        print(f"make_corpus: {mosq_dir} not found: keeping existing mosq-* seeds",
              file=sys.stderr)
        mosq = []
        mosq_prefixes = ("gen-",)

    roundtrip = ([(f"gen-{n}", d) for n, d in valid + invalid] +
                 [(f"mosq-{n}", d) for n, d in mosq])
    # A few multi-packet inputs: the round-trip target decodes packet after packet.
    rnd = random.Random(3)
    small = [d for n, d in valid if len(d) <= 2048]
    for i in range(6):
        roundtrip.append((f"gen-sequence-{i}", b"".join(rnd.choice(small) for _ in range(8))))

    counts = {
        "fuzz_roundtrip": write_corpus(out / "fuzz_roundtrip", roundtrip, mosq_prefixes),
        "fuzz_stream_decoder": write_corpus(out / "fuzz_stream_decoder",
                                            stream_corpus(valid, invalid, mosq), mosq_prefixes),
        "fuzz_topic": write_corpus(out / "fuzz_topic", topic_corpus(), ("gen-",)),
        "fuzz_encode": write_corpus(out / "fuzz_encode", encode_corpus(), ("gen-",)),
    }
    for target, n in counts.items():
        print(f"make_corpus: {n:4d} seeds -> {out / target}")


if __name__ == "__main__":
    main()
