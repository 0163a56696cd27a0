#!/usr/bin/env python3
"""The layout guard: README.md's layout table matches the tree. Every path in the table's first
column exists, and every top-level folder that git tracks (and tests/workloads, the one nested
crate) has a row. Fails naming what is missing or stale.

  python3 scripts/check_layout.py
"""

import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def table_paths(readme):
    m = re.search(r"^## Layout\n(.*?)(?=^## |\Z)", readme, re.M | re.S)
    if not m:
        sys.exit("check_layout: README.md has no '## Layout' section")
    paths = []
    for line in m.group(1).splitlines():
        cell = line.split("|")[1].strip() if line.startswith("|") else ""
        paths += [p.rstrip("/") for p in re.findall(r"`([^`]+)`", cell)]
    return paths


def main():
    paths = table_paths((ROOT / "README.md").read_text())
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.splitlines()
    folders = sorted({f.split("/")[0] for f in tracked if "/" in f and not f.startswith(".")})
    folders.append("tests/workloads")
    problems = [f"README.md layout names `{p}`, which does not exist" for p in paths
                if not (ROOT / p).exists()]
    problems += [f"README.md layout has no row for `{f}/`" for f in folders if f not in paths]
    for p in problems:
        print(f"check_layout: {p}", file=sys.stderr)
    if problems:
        return 1
    print(f"check_layout: README.md's layout table names all {len(folders)} folders, and only real paths")
    return 0


if __name__ == "__main__":
    sys.exit(main())
