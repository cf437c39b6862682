#!/usr/bin/env python3
"""The size limits the formatter does not check: no Swift file in the given folders over MAX_FILE
lines, no function or initializer over MAX_FUNC lines (from its `func`/`init` line to the closing
brace at the same indentation, as swift-format lays them out). Prints one line per breach and exits
1 when there is any. Usage: check_sizes.py DIR..."""
import pathlib
import re
import sys

MAX_FILE, MAX_FUNC = 400, 80
DECL = re.compile(r"^(\s*)(?:@\w+(?:\([^)]*\))?\s+)*(?:(?:public|private|fileprivate|internal|static|mutating|override|nonisolated|final|convenience|required)\s+)*(func|init)\b")


def breaches(path):
    lines = path.read_text().split("\n")
    if len(lines) - 1 > MAX_FILE:
        yield f"{path}: {len(lines) - 1} lines (at most {MAX_FILE})"
    for i, line in enumerate(lines):
        m = DECL.match(line)
        if not m or line.rstrip().endswith("}"):
            continue  # a one-line body
        indent = m.group(1)
        for j in range(i + 1, len(lines)):
            if lines[j].startswith(indent + "}"):
                if j - i + 1 > MAX_FUNC:
                    yield f"{path}:{i + 1}: {line.strip()[:60]}... is {j - i + 1} lines (at most {MAX_FUNC})"
                break


def main(dirs):
    found = [b for d in dirs for p in sorted(pathlib.Path(d).rglob("*.swift")) for b in breaches(p)]
    for b in found:
        print(b)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
