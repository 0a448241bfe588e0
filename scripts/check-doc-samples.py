#!/usr/bin/env python3
"""Checks that the C++ samples of the user documentation are the code the tests compile.

Every ```cpp block of README.md, docs/getting-started.md, docs/user-guide.md, docs/client.md and
docs/tls.md must be preceded
by a marker line "<!-- doc:NAME -->" and must equal (whitespace-normalised: common indentation,
trailing spaces and surrounding blank lines ignored) the region

    // [doc:NAME]
    ...
    // [/doc]

of tests/client/docs_samples_test.cpp, which the test suite compiles (and runs where no broker
is needed: `amqtt-tests-client "[docs]"`). A block without a marker, a marker without a region,
a region no document uses, or any difference fails with a diff.

docs/codec.md is not handled here: scripts/gen-conformance.py --check already keeps its samples
("<!-- sample: NAME -->") equal to tests/codec/docs_samples_test.cpp.

Usage:
  python3 scripts/check-doc-samples.py          # check; exit 1 on any mismatch
  python3 scripts/check-doc-samples.py --fix    # rewrite the markdown blocks from the test file
"""

import argparse
import difflib
import re
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOCS = [Path("README.md"), Path("docs") / "getting-started.md", Path("docs") / "user-guide.md",
        Path("docs") / "client.md", Path("docs") / "tls.md"]
SAMPLES_CPP = Path("tests") / "client" / "docs_samples_test.cpp"

MARKER = re.compile(r"^<!-- doc:([\w-]+) -->\s*$")
FENCE_OPEN = re.compile(r"^(\s*)(```+|~~~+)\s*([\w+-]*)")
CPP_LANGS = {"cpp", "c++", "cxx", "cc", "hpp", "h++"}


class Failure(Exception):
    pass


def normalise(lines):
    text = textwrap.dedent("\n".join(line.rstrip() for line in lines))
    out = text.split("\n")
    while out and not out[0].strip():
        out.pop(0)
    while out and not out[-1].strip():
        out.pop()
    return out


def read_regions(path):
    begin = re.compile(r"^\s*// \[doc:([\w-]+)\]\s*$")
    end = re.compile(r"^\s*// \[/doc\]\s*$")
    regions, name, body, start = {}, None, [], 0
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        m = begin.match(line)
        if m:
            if name is not None:
                raise Failure(f"{path}:{number}: nested [doc:...] region")
            name, body, start = m.group(1), [], number
            if name in regions:
                raise Failure(f"{path}:{number}: region [doc:{name}] defined twice")
        elif end.match(line):
            if name is None:
                raise Failure(f"{path}:{number}: [/doc] without [doc:NAME]")
            regions[name] = (start, normalise(body))
            name = None
        elif name is not None:
            body.append(line)
    if name is not None:
        raise Failure(f"{path}:{start}: region [doc:{name}] is not closed")
    return regions


def scan(path):
    """Returns ([(name or None, marker line, open line, close line, [body lines])], lines)."""
    lines = path.read_text(encoding="utf-8").split("\n")
    blocks, i = [], 0
    while i < len(lines):
        m = FENCE_OPEN.match(lines[i])
        if not m:
            i += 1
            continue
        fence, lang = m.group(2), m.group(3).lower()
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith(fence):
            j += 1
        if j >= len(lines):
            raise Failure(f"{path}:{i + 1}: code block is not closed")
        if lang in CPP_LANGS:
            k = i - 1
            while k >= 0 and not lines[k].strip():
                k -= 1
            mk = MARKER.match(lines[k]) if k >= 0 else None
            blocks.append((mk.group(1) if mk else None, k, i, j, lines[i + 1:j]))
        i = j + 1
    return blocks, lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fix", action="store_true", help="rewrite the markdown blocks")
    args = ap.parse_args()

    try:
        regions = read_regions(REPO / SAMPLES_CPP)
        problems, used = [], set()
        for doc in DOCS:
            path = REPO / doc
            if not path.is_file():
                problems.append(f"{doc}: not found")
                continue
            blocks, lines = scan(path)
            replacements = []
            for name, _marker, open_line, close_line, body in blocks:
                where = f"{doc}:{open_line + 1}"
                if name is None:
                    problems.append(f"{where}: a C++ block without a <!-- doc:NAME --> marker "
                                    f"(every sample must be compiled in {SAMPLES_CPP})")
                    continue
                used.add(name)
                if name not in regions:
                    problems.append(f"{where}: no region [doc:{name}] in {SAMPLES_CPP}")
                    continue
                start, expected = regions[name]
                got = normalise(body)
                if got != expected:
                    if args.fix:
                        replacements.append((open_line, close_line, expected))
                        continue
                    diff = "\n".join(difflib.unified_diff(
                        expected, got, f"{SAMPLES_CPP}:{start} [doc:{name}]", where,
                        lineterm=""))
                    problems.append(f"{where}: sample '{name}' differs from the compiled code:\n"
                                    f"{diff}")
            if replacements:
                for open_line, close_line, expected in reversed(replacements):
                    lines[open_line + 1:close_line] = expected
                path.write_text("\n".join(lines), encoding="utf-8")
                print(f"check-doc-samples: rewrote {len(replacements)} block(s) of {doc}")
        for name in sorted(set(regions) - used):
            problems.append(f"{SAMPLES_CPP}:{regions[name][0]}: region [doc:{name}] is not used "
                            f"by {', '.join(str(d) for d in DOCS)}")
    except Failure as e:
        print(f"check-doc-samples: {e}", file=sys.stderr)
        return 1

    if problems:
        for p in problems:
            print(f"check-doc-samples: {p}", file=sys.stderr)
        print(f"check-doc-samples: {len(problems)} problem(s); edit the code in {SAMPLES_CPP} "
              f"and run scripts/check-doc-samples.py --fix", file=sys.stderr)
        return 1
    print(f"check-doc-samples: {len(regions)} samples in {len(DOCS)} documents match "
          f"{SAMPLES_CPP}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
