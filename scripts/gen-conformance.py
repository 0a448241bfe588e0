#!/usr/bin/env python3
"""Generates docs/conformance.md and keeps the code samples of docs/codec.md in sync.

1. Reads the MQTT 3.1.1 normative statements (shared/conformance/mqtt311-client-normative.md)
   and the [MQTT-...] tags of every Catch2 test case under tests/, and writes
   docs/conformance.md: each statement with the tests that check it, and coverage counts.
2. Copies each region "// [doc:NAME]" ... "// [/doc]" of tests/codec/docs_samples_test.cpp into
   the ```cpp block that follows "<!-- sample: NAME -->" in docs/codec.md.

Usage:
  python3 scripts/gen-conformance.py            # rewrite both files
  python3 scripts/gen-conformance.py --check    # exit 1 if either file is out of date
  --shared DIR   the shared directory (default: ../shared from the repository root)
"""

import argparse
import difflib
import os
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NORMATIVE = Path("conformance") / "mqtt311-client-normative.md"
CONFORMANCE_MD = Path("docs") / "conformance.md"
CODEC_MD = Path("docs") / "codec.md"
SAMPLES_CPP = Path("tests") / "codec" / "docs_samples_test.cpp"

WHO = {
    "C": "client obligations",
    "W": "client obligations over WebSocket only",
    "O": "server obligations a client observes",
    "S": "server-internal (not testable from a client)",
}

ID = r"MQTT-[0-9]+(?:[.-][0-9]+)*"


class Failure(Exception):
    pass


# ---- the normative statements -----------------------------------------------------------------

def read_statements(path):
    """Returns [(section, id, who, meaning)] in document order."""
    if not path.is_file():
        raise Failure(f"{path}: not found (use --shared DIR)")
    statements, section = [], ""
    seen = set()
    row = re.compile(r"^\|\s*\[(" + ID + r")\]\s*\|\s*([CWO])\s*\|\s*(.*?)\s*\|\s*$")
    internal = re.compile(r"^-\s*\[(" + ID + r")\]\s*(.*?)\s*$")
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
            continue
        m = row.match(line)
        if m:
            sid, who, meaning = m.groups()
        else:
            m = internal.match(line)
            if not m:
                continue
            (sid, meaning), who = m.groups(), "S"
        if sid in seen:
            raise Failure(f"{path}: [{sid}] listed twice")
        seen.add(sid)
        statements.append((section, sid, who, meaning))
    if not statements:
        raise Failure(f"{path}: no statements found")
    return statements


# ---- the tests --------------------------------------------------------------------------------

def strip_comments(text):
    """Replaces // and /* */ comments with spaces, leaving string and char literals intact."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if c == "/" and i + 1 < n and text[i + 1] == "/":
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif c == "/" and i + 1 < n and text[i + 1] == "*":
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "R" and text.startswith('R"', i) and (i == 0 or not text[i - 1].isalnum()):
            m = re.match(r'R"([^(\s]*)\(', text[i:])
            if not m:
                out.append(c)
                i += 1
                continue
            end = text.find(")" + m.group(1) + '"', i)
            j = n if end < 0 else end + len(m.group(1)) + 2
            out.append(text[i:j])
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


STRING = r'"(?:[^"\\\n]|\\.)*"'
TEST_MACRO = re.compile(
    r"\b(?:TEST_CASE|SCENARIO|TEST_CASE_METHOD|TEMPLATE_TEST_CASE|TEMPLATE_PRODUCT_TEST_CASE)"
    r"\s*\(\s*(?:[A-Za-z_][\w:<>, ]*?\s*,\s*)?"      # TEST_CASE_METHOD's fixture
    r"((?:" + STRING + r"\s*)+)"                        # the name: one or more literals
    r"(?:,\s*((?:" + STRING + r"\s*)+))?")               # the tags


def unquote(literals):
    # Adjacent literals concatenate; of the escapes, only \" and \\ matter in names and tags.
    return "".join(re.sub(r"\\(.)", r"\1", p[1:-1]) for p in re.findall(STRING, literals))


def read_tests(repo):
    """Returns [(relative file, line, test name, [ids])] for every test case under tests/."""
    tests = []
    for path in sorted((repo / "tests").rglob("*.cpp")):
        rel = path.relative_to(repo).as_posix()
        text = strip_comments(path.read_text(encoding="utf-8", errors="replace"))
        for m in TEST_MACRO.finditer(text):
            name = unquote(m.group(1))
            tags = unquote(m.group(2)) if m.group(2) else ""
            ids = re.findall(r"\[(" + ID + r")\]", tags)
            line = text.count("\n", 0, m.start()) + 1
            tests.append((rel, line, name, ids))
    return tests


# ---- docs/conformance.md ----------------------------------------------------------------------

def md_escape(s):
    return s.replace("|", "\\|")


def render_conformance(statements, tests, shared_display):
    covering = {}
    for rel, line, name, ids in tests:
        for sid in dict.fromkeys(ids):
            covering.setdefault(sid, []).append((rel, line, name))
    known = {sid for _, sid, _, _ in statements}
    unknown = sorted(sid for sid in covering if sid not in known)

    out = []
    out.append("# MQTT 3.1.1 conformance: statements and the tests that check them\n")
    out.append(
        "Generated by `scripts/gen-conformance.py` from "
        f"`{shared_display}` and the `[MQTT-...]` tags of the Catch2 test cases under `tests/`. "
        "Do not edit by hand: run `python3 scripts/gen-conformance.py` after changing tests; CI "
        "runs it with `--check`.\n")
    out.append("A statement counts as covered when at least one test case is tagged with its id. "
               "Meanings are one-line paraphrases from the statement list, not spec text.\n")
    out.append("## Coverage\n")
    out.append("| statements | listed | covered |")
    out.append("|---|---|---|")
    for who, label in WHO.items():
        listed = [sid for _, sid, w, _ in statements if w == who]
        covered = [sid for sid in listed if sid in covering]
        out.append(f"| {who}: {label} | {len(listed)} | {len(covered)} |")
    out.append("")

    client = [(sid, m) for _, sid, w, m in statements if w == "C" and sid not in covering]
    out.append(f"Client statements (C) not covered yet: {len(client)}.\n")
    for sid, meaning in client:
        out.append(f"- [{sid}] {md_escape(meaning)}")
    if client:
        out.append("")

    section = None
    for sec, sid, who, meaning in statements:
        if sec != section:
            section = sec
            if out[-1] != "":
                out.append("")
            out.append(f"## {sec}\n")
            out.append("| id | who | meaning | tests |")
            out.append("|---|---|---|---|")
        cells = "<br>".join(f"`{rel}`: {md_escape(name)}"
                            for rel, _, name in sorted(covering.get(sid, [])))
        out.append(f"| [{sid}] | {who} | {md_escape(meaning)} | {cells or '—'} |")
    out.append("")

    if unknown:
        out.append("## Tags that name no listed statement\n")
        for sid in unknown:
            users = "<br>".join(f"`{rel}`: {md_escape(name)}"
                                for rel, _, name in sorted(covering[sid]))
            out.append(f"- [{sid}]: {users}")
        out.append("")
    return "\n".join(out), unknown


# ---- docs/codec.md samples --------------------------------------------------------------------

def read_regions(path):
    regions, name, lines = {}, None, []
    begin = re.compile(r"^\s*// \[doc:([\w-]+)\]\s*$")
    end = re.compile(r"^\s*// \[/doc\]\s*$")
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if name is None:
            m = begin.match(line)
            if m:
                name, lines = m.group(1), []
                if name in regions:
                    raise Failure(f"{path}:{number}: region [doc:{name}] defined twice")
            elif end.match(line):
                raise Failure(f"{path}:{number}: [/doc] without [doc:NAME]")
        elif end.match(line):
            regions[name] = dedent(lines)
            name = None
        elif begin.match(line):
            raise Failure(f"{path}:{number}: nested [doc:...] region")
        else:
            lines.append(line)
    if name is not None:
        raise Failure(f"{path}: region [doc:{name}] is not closed")
    return regions


def dedent(lines):
    indents = [len(l) - len(l.lstrip(" ")) for l in lines if l.strip()]
    cut = min(indents) if indents else 0
    return [l[cut:] if l.strip() else "" for l in lines]


def render_codec_md(text, regions, path):
    lines = text.splitlines()
    out, used, i = [], set(), 0
    marker = re.compile(r"^<!-- sample: ([\w-]+) -->\s*$")
    while i < len(lines):
        line = lines[i]
        out.append(line)
        m = marker.match(line)
        if m:
            name = m.group(1)
            if name not in regions:
                raise Failure(f"{path}:{i + 1}: no region [doc:{name}] in {SAMPLES_CPP}")
            if i + 1 >= len(lines) or lines[i + 1].strip() != "```cpp":
                raise Failure(f"{path}:{i + 1}: the sample marker must be followed by ```cpp")
            j = i + 2
            while j < len(lines) and lines[j].strip() != "```":
                j += 1
            if j == len(lines):
                raise Failure(f"{path}:{i + 2}: unterminated code block")
            out.append("```cpp")
            out.extend(regions[name])
            out.append("```")
            used.add(name)
            i = j + 1
            continue
        if line.strip().startswith("```cpp"):
            raise Failure(f"{path}:{i + 1}: a C++ block without a <!-- sample: NAME --> marker "
                          f"(every sample must be compiled in {SAMPLES_CPP})")
        i += 1
    unused = sorted(set(regions) - used)
    if unused:
        raise Failure(f"{SAMPLES_CPP}: regions not used in {path}: {', '.join(unused)}")
    return "\n".join(out) + "\n"


# ---- main -------------------------------------------------------------------------------------

def update(path, content, check, stale):
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    if old == content:
        return
    if check:
        diff = difflib.unified_diff(old.splitlines(), content.splitlines(),
                                    f"{path} (current)", f"{path} (expected)", lineterm="", n=1)
        stale.append((path, list(diff)))
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        print(f"wrote {path.relative_to(REPO)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 when a generated file is out of date")
    parser.add_argument("--shared", default=None,
                        help="the shared directory (default: ../shared beside the repository)")
    args = parser.parse_args()

    shared = Path(args.shared).resolve() if args.shared else (REPO.parent / "shared").resolve()
    try:
        statements = read_statements(shared / NORMATIVE)
        tests = read_tests(REPO)
        # The path as the document shows it: stable whatever --shared was.
        conformance, unknown = render_conformance(statements, tests,
                                                  f"shared/{NORMATIVE.as_posix()}")
        codec = render_codec_md((REPO / CODEC_MD).read_text(encoding="utf-8"),
                                read_regions(REPO / SAMPLES_CPP), CODEC_MD)
    except (Failure, OSError) as e:
        print(f"gen-conformance: {e}", file=sys.stderr)
        return 2

    stale = []
    update(REPO / CONFORMANCE_MD, conformance + "\n", args.check, stale)
    update(REPO / CODEC_MD, codec, args.check, stale)

    for sid in unknown:
        print(f"gen-conformance: warning: tag [{sid}] names no statement in the list",
              file=sys.stderr)
    covered_c = sum(1 for _, sid, who, _ in statements
                    if who == "C" and any(sid in ids for _, _, _, ids in tests))
    total_c = sum(1 for _, _, who, _ in statements if who == "C")
    print(f"gen-conformance: {covered_c}/{total_c} client statements covered "
          f"by {sum(1 for t in tests if t[3])} tagged test cases")

    if stale:
        for path, diff in stale:
            print(f"gen-conformance: {path.relative_to(REPO)} is out of date", file=sys.stderr)
            for line in diff[:40]:
                print(line, file=sys.stderr)
            if len(diff) > 40:
                print(f"... ({len(diff) - 40} more diff lines)", file=sys.stderr)
        print("gen-conformance: run `python3 scripts/gen-conformance.py` and commit the result",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
