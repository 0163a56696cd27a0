#!/usr/bin/env python3
"""The import-circle guard: no two files of one crate import each other, directly or round a loop.

For each crate root (src/lib.rs, src/main.rs, src/bin/*.rs, examples/*.rs) it walks the `mod`
declarations (with `#[path]`) to map files to module paths, then reads every `use` and every
`crate::…`/`super::…`/`self::…` path outside `#[cfg(test)] mod … { … }` blocks and
resolves it to the file that defines the item: a module's file, followed through its
`pub use child::…` re-exports (a mod.rs/lib.rs facade's re-exports are not themselves imports;
another file's `pub use` is). A file's
dependency on another file of the same crate is an edge; any strongly connected set of two or
more files is a circle, printed with one `use` of each edge as evidence.

  python3 scripts/check_imports.py [CRATE_DIR...]   (default: every package git tracks)
"""

import functools
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def all_crates():
    """Every package of the repository: the folders of tracked Cargo.toml files with [package]."""
    out = subprocess.run(["git", "ls-files", "*Cargo.toml"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout.split()
    return [str(pathlib.Path(f).parent) for f in sorted(out)
            if re.search(r"^\[package\]", (ROOT / f).read_text(), re.M)]


@functools.lru_cache(maxsize=None)
def code_of(path):
    """A file's code without comments, strings and inline modules."""
    return strip_inline_modules(strip_comments_and_strings(path.read_text()))


def strip_comments_and_strings(text):
    """Blanks out comments, string and char literals (keeping newlines, so line numbers hold)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == '"' or (c == "r" and re.match(r'r#*"', text[i:i + 10]) and
                          (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_"))):
            if c == "r":
                hashes = re.match(r"r(#*)\"", text[i:]).group(1)
                end = '"' + hashes
                j = text.find(end, i + 2 + len(hashes))
                j = n if j < 0 else j + len(end)
            else:
                j = i + 1
                while j < n and text[j] != '"':
                    j += 2 if text[j] == "\\" else 1
                j += 1
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "'" and re.match(r"'(\\.|[^\\'])'", text[i:i + 4] + "  "):
            m = re.match(r"'(\\[^']*|[^\\'])'", text[i:])
            j = i + (len(m.group(0)) if m else 1)
            out.append(" " * (j - i))
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def strip_inline_modules(code):
    """Blanks out `#[cfg(test)] mod name { … }` blocks: test-only code is not the design."""
    out = code
    for m in reversed(list(re.finditer(r"#\[cfg\(test\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+\w+\s*\{", code))):
        depth, j = 0, m.end() - 1
        while j < len(code):
            if code[j] == "{":
                depth += 1
            elif code[j] == "}":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        out = out[:m.start()] + re.sub(r"[^\n]", " ", out[m.start():j + 1]) + out[j + 1:]
    return out


def expand_use(tree):
    """'a::{b, c::{d as e}}' → ['a::b', 'a::c::d'] (renames dropped, globs kept as names)."""
    tree = re.sub(r"\s+as\s+\w+", "", tree)  # `x as y`: the path is x
    tree = re.sub(r"\s+", "", tree)
    i = tree.find("{")
    if i < 0:
        return [tree] if tree else []
    prefix, body = tree[:i], tree[i + 1:tree.rfind("}")]
    parts, depth, cur = [], 0, ""
    for c in body:
        if c == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += c == "{"
        depth -= c == "}"
        cur += c
    parts.append(cur)
    out = []
    for p in parts:
        for e in expand_use(p):
            out.append(prefix + e if e != "self" else prefix.rstrip(":"))
    return out


class Crate:
    def __init__(self, roots):
        self.files = {}       # file -> module path (tuple)
        self.modules = {}     # module path -> [files]
        for root in roots:
            self.walk(root, ())

    def walk(self, path, modpath):
        path = path.resolve()
        if path in self.files or not path.exists():
            return
        self.files[path] = modpath
        self.modules.setdefault(modpath, []).append(path)
        code = strip_comments_and_strings(path.read_text())
        is_dir_owner = path.name in ("lib.rs", "main.rs", "mod.rs") or modpath == ()
        base = path.parent if is_dir_owner else path.parent / path.stem
        for m in re.finditer(r'((?:#\[[^\]]*\]\s*)*)(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;', code):
            attrs, name = m.group(1), m.group(2)
            raw = path.read_text()
            pa = re.search(r'#\[path\s*=\s*"([^"]+)"\]', raw[m.start():m.end()])
            if pa:
                child = path.parent / pa.group(1)
            elif (base / f"{name}.rs").exists():
                child = base / f"{name}.rs"
            else:
                child = base / name / "mod.rs"
            self.walk(child, modpath + (name,))

    def reexports(self, file):
        """{name: [full path tuples]} of `pub use` items in a module file."""
        code = code_of(file)
        out = {}
        for m in re.finditer(r"\bpub(?:\([^)]*\))?\s+use\s+([^;]+);", code):
            for p in expand_use(m.group(1)):
                segs = [s for s in p.split("::") if s]
                if segs:
                    out.setdefault(segs[-1], []).append(self.absolute(file, segs))
        return out

    def absolute(self, file, segs):
        """A path as written in `file` → absolute module path segments, or None if external."""
        mod = list(self.files[file])
        if segs[0] == "crate":
            return tuple(segs[1:])
        if segs[0] in ("super", "self"):
            cur = mod
            while segs and segs[0] in ("super", "self"):
                if segs[0] == "super":
                    cur = cur[:-1]
                segs = segs[1:]
            return tuple(cur) + tuple(segs)
        # `use child::X` inside a module: relative to it, when `child` is a submodule.
        if tuple(mod) + (segs[0],) in self.modules:
            return tuple(mod) + tuple(segs)
        return None

    def resolve(self, path, depth=0):
        """Absolute path → the files defining it (following facades' re-exports)."""
        if path is None:
            return []
        k = len(path)
        while k >= 0 and tuple(path[:k]) not in self.modules:
            k -= 1
        if k < 0:
            return []
        mod = tuple(path[:k])
        files = self.modules[mod]
        if k < len(path) and depth < 8:
            name = path[k]
            named, globbed = [], []
            for f in files:
                rex = self.reexports(f)
                for t in rex.get(name, []):
                    if t and t != path:
                        named += self.resolve(t, depth + 1)
                for t in rex.get("*", []):
                    if t:
                        globbed += self.resolve(t[:-1] + (name,), depth + 1)
            if named:
                return named
            if globbed:
                # A glob may or may not hold the name: the module's own files may define it.
                return files + [g for g in globbed if g not in files]
        return files

    def edges(self):
        out = {}
        for f in self.files:
            code = code_of(f)
            refs = []
            facade = f.name in ("mod.rs", "lib.rs", "main.rs")
            for m in re.finditer(r"(?<![\w:])(pub(?:\([^)]*\))?\s+)?use\s+([^;]+);", code):
                if m.group(1) and facade:
                    continue  # a folder's re-export: the facade, not an import
                line = code.count("\n", 0, m.start()) + 1
                for p in expand_use(m.group(2)):
                    refs.append(([s for s in p.split("::") if s], line))
            for m in re.finditer(r"(?<![\w:])((?:crate|super|self)(?:::\w+)+)", code):
                if re.search(r"\buse\s+[^;]*$", code[max(0, m.start() - 200):m.start()]):
                    continue  # inside a use statement, handled above
                line = code.count("\n", 0, m.start()) + 1
                refs.append((m.group(1).split("::"), line))
            for segs, line in refs:
                if not segs:
                    continue
                for g in self.resolve(self.absolute(f, segs)):
                    if g != f:
                        out.setdefault((f, g), line)
        return out


def cycles(nodes, edges):
    """Tarjan's strongly connected components with more than one file."""
    graph = {n: [] for n in nodes}
    for (a, b) in edges:
        graph[a].append(b)
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


def crate_roots(crate_dir):
    src = crate_dir / "src"
    roots = []
    for r in [src / "lib.rs", src / "main.rs"]:
        if r.exists():
            roots.append([r])
    for d in [src / "bin", crate_dir / "examples", crate_dir / "tests", crate_dir / "benches",
              crate_dir / "fuzz_targets"]:
        if d.is_dir():
            roots += [[p] for p in sorted(d.glob("*.rs"))]
            roots += [[p / "main.rs"] for p in sorted(d.iterdir()) if (p / "main.rs").exists()]
    return roots


def main(argv):
    dirs = argv or all_crates()
    problems, files = 0, 0
    for d in dirs:
        crate_dir = (ROOT / d).resolve()
        if crate_dir.name == "src":
            crate_dir = crate_dir.parent
        if not (crate_dir / "Cargo.toml").exists():
            print(f"check_imports: {d}: no Cargo.toml", file=sys.stderr)
            problems += 1
            continue
        for roots in crate_roots(crate_dir):
            crate = Crate(roots)
            files += len(crate.files)
            edges = crate.edges()
            for comp in cycles(list(crate.files), edges):
                problems += 1
                names = sorted(str(p.relative_to(ROOT)) for p in comp)
                print(f"import circle in {crate_dir.relative_to(ROOT)}: {' ↔ '.join(names)}",
                      file=sys.stderr)
                members = set(comp)
                for (a, b), line in sorted(edges.items()):
                    if a in members and b in members:
                        print(f"  {a.relative_to(ROOT)}:{line} uses {b.relative_to(ROOT)}",
                              file=sys.stderr)
    if problems:
        print(f"check_imports: {problems} import circle(s)", file=sys.stderr)
        return 1
    print(f"check_imports: no import circle ({files} module files read in {len(dirs)} crates)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
