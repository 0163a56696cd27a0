#!/usr/bin/env python3
"""The tools guard: every external program that a script, test or cargo config of the repository
calls must be provided by an entry of scripts/prerequisites.txt, the one list that
scripts/prerequisites.sh installs from. Fails naming the program and where it is called.

What it reads (git's tracked files):
  * shell scripts (*.sh, .ci/run): the command word of every simple command, found by a small
    lexer that knows quoting, $(…), <(…), `…`, ${…}, $((…)), here-documents, [[ … ]], case
    patterns, for-lists, arrays, function definitions and the precommands (exec, timeout, xargs,
    env, time, nohup, sudo) that run their argument;
  * .cargo/config.toml: runner and linker;
  * Rust sources: Command::new("literal");
  * Python sources: subprocess.run/call/check_call/check_output/Popen(["literal", …]).
A command word with a slash is a path (a script of the repository or a build output), and one
that starts with $ is chosen at run time: neither is an external program by name.

Which groups of the list a file may use: core everywhere; plus bench for scripts/bench.sh and
bench/peers/, device for bench/gpu/, fixtures for the fixture generators, datasets for scripts/stream_datasets.py, board for the firmware's
cargo config (its run-nrf alias), miri for scripts/miri.sh, and every group for the installer.

  python3 scripts/check_tools.py [--self-test] [FILE...]
"""

import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
LIST = ROOT / "scripts" / "prerequisites.txt"

KEYWORDS = {"if", "then", "else", "elif", "fi", "do", "done", "esac", "while", "until", "{", "}",
            "!", "function", "select", "coproc", "in"}
BUILTINS = {"alias", "bg", "bind", "break", "builtin", "caller", "cd", "compgen", "complete",
            "continue", "declare", "dirs", "disown", "echo", "enable", "eval", "exit", "export",
            "false", "fc", "fg", "getopts", "hash", "help", "history", "jobs", "kill", "let",
            "local", "logout", "mapfile", "popd", "printf", "pushd", "pwd", "read", "readarray",
            "readonly", "return", "set", "shift", "shopt", "source", "suspend", "test", "times",
            "trap", "true", "type", "typeset", "ulimit", "umask", "unalias", "unset", "wait", ".",
            ":", "[", "exec", "command"}
# Precommands: after them (and their options), the next word is again a command.
PRECOMMANDS = {"exec", "time", "nohup", "sudo", "env", "xargs", "timeout", "nice"}
# Options of those precommands that take a value.
PRECOMMAND_VALUE_OPTIONS = {"timeout": {"-s", "-k", "--signal", "--kill-after"},
                            "xargs": {"-n", "-P", "-I", "-d", "-L", "-s", "-E", "-a"},
                            "nice": {"-n"}, "sudo": {"-u", "-g"},
                            "env": {"-u", "--unset", "-C", "--chdir"}}

GROUPS_BY_PATH = [
    ("scripts/bench.sh", {"bench"}),
    ("scripts/bench-vae.sh", {"fixtures"}),
    ("bench/peers/torch_vae.py", {"fixtures"}),
    ("bench/peers/", {"bench"}),
    ("bench/gpu/", {"device"}),
    ("scripts/sklearn_fixtures.py", {"fixtures"}),
    ("scripts/digits_fixture.py", {"fixtures"}),
    ("scripts/torch_fixtures.py", {"fixtures"}),
    ("scripts/torch_vae_reference.py", {"fixtures"}),
    ("scripts/stream_datasets.py", {"datasets"}),
    ("scripts/torch_vae_deep_reference.py", {"fixtures"}),
    ("firmware/.cargo/config.toml", {"board"}),
    ("scripts/miri.sh", {"miri"}),
    # The installer checks what every group provides.
    ("scripts/prerequisites.sh", {"bench", "fixtures", "datasets", "miri", "board"}),
]


def provided():
    """{program: set of groups providing it} from scripts/prerequisites.txt."""
    out = {}
    for n, line in enumerate(LIST.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) != 5:
            sys.exit(f"{LIST.relative_to(ROOT)}:{n}: expected 5 fields (group kind name version provides)")
        group, _kind, _name, _version, provides = fields
        for p in provides.split(","):
            if p != "-" and not p.startswith("py:"):
                out.setdefault(p, set()).add(group)
    return out


# --- the shell lexer ------------------------------------------------------------------------------

class Lexer:
    """Splits a shell script into words and operators, recursing into command substitutions.
    Yields ("word", text, line) and ("op", text, line); substitutions come out as ("sub", Lexer
    tokens, line) so that their command words are checked too."""

    def __init__(self, text):
        self.s = text
        self.i = 0
        self.line = 1
        self.heredocs = []  # delimiters waiting for the end of the line

    def peek(self, k=0):
        j = self.i + k
        return self.s[j] if j < len(self.s) else ""

    def adv(self, n=1):
        for _ in range(n):
            if self.i < len(self.s) and self.s[self.i] == "\n":
                self.line += 1
            self.i += 1

    def skip_heredocs(self):
        for delim, strip in self.heredocs:
            while self.i < len(self.s):
                end = self.s.find("\n", self.i)
                end = len(self.s) if end < 0 else end
                body = self.s[self.i:end]
                self.line += 1
                self.i = end + 1
                if (body.lstrip("\t") if strip else body) == delim:
                    break
        self.heredocs = []

    def tokens(self, until=None):
        """Tokens up to the closing `until` character (")" or "`"), or the end."""
        out = []
        while self.i < len(self.s):
            c = self.peek()
            if until and c == until:
                self.adv()
                return out
            if c in " \t":
                self.adv()
            elif c == "\\" and self.peek(1) == "\n":
                self.adv(2)
            elif c == "\n":
                out.append(("op", "\n", self.line))
                self.adv()
                if self.heredocs:
                    self.skip_heredocs()
            elif c == "#":
                while self.i < len(self.s) and self.peek() != "\n":
                    self.adv()
            elif c in "|&;":
                op = c
                if self.peek(1) in "|&;" and self.peek(1) != "":
                    op = c + self.peek(1)
                self.adv(len(op))
                out.append(("op", op, self.line))
            elif c in "<>" and self.peek(1) == "(":
                line = self.line
                self.adv(2)
                out.append(("sub", Lexer.sub(self, ")"), line))
            elif c in "<>":
                op = c
                while self.peek(len(op)) in "<>&|" and self.peek(len(op)) != "" and len(op) < 3:
                    op += self.peek(len(op))
                self.adv(len(op))
                if op == "<<":
                    strip = self.peek() == "-"
                    if strip:
                        self.adv()
                    self.read_heredoc_delim(strip)
                    continue
                out.append(("op", "redir", self.line))
            elif c == "(" and self.peek(1) == "(":
                # (( arithmetic )): no commands inside
                line = self.line
                self.adv(2)
                subs = []
                self.skip_balanced("(", ")", subs)
                self.adv()
                out.append(("word", "((…))", line))
                out.extend(subs)
            elif c in "()":
                self.adv()
                out.append(("op", c, self.line))
            else:
                out.extend(self.word(until))
        return out

    def read_heredoc_delim(self, strip):
        while self.peek() in " \t":
            self.adv()
        w = ""
        while self.i < len(self.s) and self.peek() not in " \t\n;|&<>()":
            c = self.peek()
            if c in "'\"":
                self.adv()
                while self.i < len(self.s) and self.peek() != c:
                    w += self.peek()
                    self.adv()
                self.adv()
            else:
                w += c
                self.adv()
        self.heredocs.append((w, strip))

    @staticmethod
    def sub(parent, until):
        """Lexes a nested command list with the parent's position; returns its tokens."""
        child = Lexer(parent.s)
        child.i, child.line = parent.i, parent.line
        toks = child.tokens(until)
        parent.i, parent.line = child.i, child.line
        return toks

    def skip_balanced(self, open_c, close_c, subs=None):
        """Skips to the matching close_c; command substitutions inside go to subs."""
        depth = 1
        while self.i < len(self.s) and depth:
            c = self.peek()
            if c == "\\":
                self.adv(2)
                continue
            if c == "'":
                self.skip_quoted(c)
                continue
            if subs is not None and c == "$" and self.peek(1) == "(" and self.peek(2) != "(":
                line = self.line
                self.adv(2)
                subs.append(("sub", Lexer.sub(self, ")"), line))
                continue
            if subs is not None and c == "`":
                line = self.line
                self.adv()
                subs.append(("sub", Lexer.sub(self, "`"), line))
                continue
            if c == '"':
                self.adv()
                while self.i < len(self.s) and self.peek() != '"':
                    if self.peek() == "\\":
                        self.adv(2)
                    elif subs is not None and self.peek() == "$" and self.peek(1) == "(" and self.peek(2) != "(":
                        line = self.line
                        self.adv(2)
                        subs.append(("sub", Lexer.sub(self, ")"), line))
                    else:
                        self.adv()
                self.adv()
                continue
            if c == open_c:
                depth += 1
            elif c == close_c:
                depth -= 1
            self.adv()

    def skip_quoted(self, q):
        self.adv()
        while self.i < len(self.s) and self.peek() != q:
            if q == '"' and self.peek() == "\\":
                self.adv(2)
                continue
            self.adv()
        self.adv()

    def word(self, until=None):
        """One word (its text, with substitutions as $ placeholders) and the substitutions in it."""
        text, subs, line = "", [], self.line
        while self.i < len(self.s):
            c = self.peek()
            if until and c == until:
                break
            if c in " \t\n;|&<>()" and c != "":
                # An array assignment: name=( … ) is part of the word.
                if c == "(" and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\[[^]]*\])?\+?=", text):
                    self.adv()
                    self.skip_balanced("(", ")", subs)
                    text += "(…)"
                    continue
                break
            if c == "\\":
                text += self.peek(1)
                self.adv(2)
            elif c == "'":
                start = self.i + 1
                self.skip_quoted("'")
                text += self.s[start:self.i - 1]
            elif c == '"':
                self.adv()
                while self.i < len(self.s) and self.peek() != '"':
                    if self.peek() == "\\":
                        text += self.peek(1)
                        self.adv(2)
                    elif self.peek() == "$":
                        text += self.dollar(subs)
                    elif self.peek() == "`":
                        self.adv()
                        subs.append(("sub", Lexer.sub(self, "`"), self.line))
                        text += "$"
                    else:
                        text += self.peek()
                        self.adv()
                self.adv()
            elif c == "$":
                text += self.dollar(subs)
            elif c == "`":
                self.adv()
                subs.append(("sub", Lexer.sub(self, "`"), self.line))
                text += "$"
            else:
                text += c
                self.adv()
        return [("word", text, line)] + subs

    def dollar(self, subs):
        """A $-expansion at the cursor: the placeholder "$"; a $(…) goes to subs."""
        if self.peek(1) == "(" and self.peek(2) == "(":
            self.adv(3)
            self.skip_balanced("(", ")", subs)
            self.adv()  # the second ")"
        elif self.peek(1) == "(":
            line = self.line
            self.adv(2)
            subs.append(("sub", Lexer.sub(self, ")"), line))
        elif self.peek(1) == "{":
            self.adv(2)
            self.skip_balanced("{", "}", subs)
        else:
            self.adv()
            while re.match(r"[A-Za-z0-9_]", self.peek()):
                self.adv()
            if self.peek() and self.peek() in "#@*?!$-" and self.s[self.i - 1] == "$":
                self.adv()
        return "$"


def command_words(tokens, functions):
    """(name, line) for every command word in a token list (recursing into substitutions)."""
    out = []
    at_cmd = True
    state = None        # None, "case-subject", "case-in", "pattern", "for", "test", "arith"
    pre = None          # the precommand whose options/arguments we are skipping
    pre_skip_value = False
    timeout_duration_seen = False
    redirect = False
    k = 0
    toks = list(tokens)
    while k < len(toks):
        kind, text, line = toks[k]
        k += 1
        if kind == "sub":
            out += command_words(text, functions)
            redirect = False  # `< <(cmd)`: the substitution was the redirect's target
            continue
        if kind == "op":
            if text == "redir":
                redirect = True
                continue
            if state == "pattern" and text == ")":
                state, at_cmd = None, True
                continue
            if state == "pattern":
                continue
            if state in ("test", "arith"):
                if text == "\n" and state == "arith":
                    state = None
                continue
            if text == ";;" or text == ";&":
                state = "pattern"
                continue
            if text in ("\n", ";", "|", "||", "&&", "&", "(", "|&"):
                if state == "for" and text in ("\n", ";"):
                    state = None
                if state == "case-in" and text == "\n":
                    continue
                at_cmd, pre = True, None
            elif text == ")":
                at_cmd = False
            continue
        # a word
        if redirect:
            redirect = False
            continue
        if state == "case-subject":
            state = "case-in"
            continue
        if state == "case-in":
            if text == "in":
                state = "pattern"
            continue
        if state == "pattern":
            if text == "esac":
                state, at_cmd = None, False
            continue
        if state == "for":
            if text == "do":
                state, at_cmd = None, True
            continue
        if state == "test":
            if text == "]]":
                state, at_cmd = None, False
            continue
        if state == "arith":
            if text.endswith("))"):
                state = None
            continue
        if not at_cmd:
            continue
        if pre is not None:
            if pre_skip_value:
                pre_skip_value = False
                continue
            if text.startswith("-"):
                pre_skip_value = text in PRECOMMAND_VALUE_OPTIONS.get(pre, set())
                if pre == "command" and text == "-v":
                    at_cmd, pre = False, None   # a lookup, not a call
                continue
            if pre == "env" and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", text):
                continue
            if pre == "timeout" and not timeout_duration_seen:
                timeout_duration_seen = True
                continue
            pre = None
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\[[^]]*\])?\+?=.*", text):
            continue  # an assignment before the command
        if text == "[[":
            state = "test"
            continue
        if text.startswith("(("):
            state = "arith"
            if text.endswith("))"):
                state = None
            at_cmd = False
            continue
        if text == "case":
            state = "case-subject"
            continue
        if text in ("for", "select"):
            state = "for"
            continue
        if text in ("then", "do", "else", "elif", "if", "while", "until", "!", "{", "time"):
            continue
        if text in ("fi", "done", "}", "esac"):
            at_cmd = False
            continue
        if text == "function":
            k += 1  # its name
            continue
        # A function definition: NAME ( )
        if k + 1 < len(toks) and toks[k][1] == "(" and toks[k + 1][1] == ")":
            k += 2
            continue
        at_cmd = False
        if text in PRECOMMANDS or text == "command":
            if text not in BUILTINS and text != "time":
                out.append((text, line))  # the precommand is a program too
            pre, pre_skip_value, timeout_duration_seen = text, False, False
            at_cmd = True
            continue
        if text.startswith("$") or "/" in text or text == "":
            continue
        if text in BUILTINS or text in KEYWORDS or text in functions:
            continue
        out.append((text, line))
        # `bash -c 'script'`, `sh -c "…"`: the script's commands are calls too.
        if (text in ("bash", "sh") and k + 1 < len(toks) and toks[k][:2] == ("word", "-c")
                and toks[k + 1][0] == "word"):
            out += [(p, line) for p, _ in command_words(Lexer(toks[k + 1][1]).tokens(), functions)]
    return out


def shell_functions(text):
    names = set(re.findall(r"^\s*([A-Za-z_][A-Za-z0-9_-]*)\s*\(\)", text, re.M))
    names |= set(re.findall(r"^\s*function\s+([A-Za-z_][A-Za-z0-9_-]*)", text, re.M))
    return names


def shell_calls(text):
    # Functions defined by the scripts this one sources (prerequisites.sh's `require`).
    functions = shell_functions(text) | shell_functions((ROOT / "scripts/prerequisites.sh").read_text())
    return command_words(Lexer(text).tokens(), functions)


def cargo_config_calls(text):
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        m = re.match(r'\s*(runner|linker)\s*=\s*(\[\s*)?"([^"]+)"', line)
        if m:
            out.append((m.group(3).split()[0], n))
        for m in re.finditer(r"runner=\['([^']+)'", line):
            out.append((m.group(1), n))
    return out


def rust_calls(text):
    return [(m.group(1), text.count("\n", 0, m.start()) + 1)
            for m in re.finditer(r'Command::new\(\s*"([^"]+)"', text)]


def python_calls(text):
    pat = r'subprocess\.(?:run|call|check_call|check_output|Popen)\(\s*\[\s*["\']([^"\']+)["\']'
    return [(m.group(1), text.count("\n", 0, m.start()) + 1) for m in re.finditer(pat, text)]


def calls(path, text):
    name = path.name
    if name.endswith(".sh") or str(path) == ".ci/run":
        return shell_calls(text)
    if name == "config.toml" and path.parent.name == ".cargo":
        return cargo_config_calls(text)
    if name.endswith(".rs"):
        return rust_calls(text)
    if name.endswith(".py"):
        return python_calls(text)
    return []


def allowed_groups(rel):
    groups = {"core"}
    for prefix, extra in GROUPS_BY_PATH:
        if rel == prefix or (prefix.endswith("/") and rel.startswith(prefix)):
            groups |= extra
    return groups


def check(files):
    have = provided()
    problems = []
    for rel in files:
        text = (ROOT / rel).read_text(errors="replace")
        groups = allowed_groups(rel)
        for prog, line in calls(pathlib.Path(rel), text):
            if "/" in prog or prog.startswith("$"):
                continue
            if prog not in have:
                problems.append(f"{rel}:{line}: calls `{prog}`, which no entry of "
                                f"scripts/prerequisites.txt provides")
            elif not have[prog] & groups:
                problems.append(f"{rel}:{line}: calls `{prog}`, provided only by group(s) "
                                f"{', '.join(sorted(have[prog]))} of scripts/prerequisites.txt, "
                                f"which this file's run does not install")
    return problems


def tracked_files():
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    keep = []
    for f in out.stdout.splitlines():
        p = pathlib.Path(f)
        if (f.endswith((".sh", ".rs", ".py")) or f == ".ci/run"
                or (p.name == "config.toml" and p.parent.name == ".cargo")):
            keep.append(f)
    return keep


SELF_TEST = r'''
set -euo pipefail
cd "$(dirname "$0")/.."     # comment: not-a-command
helper() { # ELF
  llvm-objdump -d "$1" | python3 -c '
import sys
notacommand --flag
'
}
x=$(readelf -sW "$elf" | awk '{print $2}')
arr=(--out "$OUT" qemu-fake)
arr+=(more)
for t in thumbv7em notcmd; do grep -qx "$t" <<<"$installed" || rustup target add "$t"; done
case $s in
  nvrtc) gcc -O2 ;;
  sass|x) python3 a.py ;;
  *) echo "unknown $s" >&2; exit 2 ;;
esac
[[ -x $f ]] && sed -n p "$f"
(( n > 0 )) || timeout -s KILL 60 qemu-system-arm -M x
paste <(sed -n p a) <(cut -f1 b) >"$OUT/x"
python3 - "$OUT" <<'PY' || status=1
import json
heredoc-word
PY
command -v defmt-print >/dev/null || cargo install defmt-print
FOO=1 env BAR=2 size "$ELF"
echo "$(date -u)" "${#arr[@]}" $#
if ! diff -u a b >/dev/null 2>&1; then tee x </dev/null; fi
cat <<-EOF
	body-word
	EOF
x=`uname -r` y="`id -u`"
done < <(printf a)
ls -l
arr2=("$(wc -l f)") v=${v:-$(head -1 f)}
(( $(nproc) > 1 )) && bash -c 'cd d && sort f'
nohup env -u X mkdir d
'''
SELF_TEST_EXPECT = ["cd", "dirname", "llvm-objdump", "python3", "readelf", "awk", "grep",
                    "rustup", "gcc", "python3", "sed", "timeout", "qemu-system-arm", "paste", "sed",
                    "cut", "python3", "cargo", "env", "size", "date", "diff", "tee", "cat", "uname",
                    "id", "printf", "ls", "wc", "head", "nproc", "bash", "sort", "nohup", "env",
                    "mkdir"]


def self_test():
    got = [p for p, _ in shell_calls(SELF_TEST) if p not in BUILTINS]
    want = [p for p in SELF_TEST_EXPECT if p not in BUILTINS]
    if got != want:
        print(f"check_tools self-test: lexer found {got}, expected {want}", file=sys.stderr)
        return 1
    print(f"check_tools self-test: ok ({len(got)} command words)")
    return 0


def main(argv):
    if argv[:1] == ["--self-test"]:
        return self_test()
    if self_test():
        return 1
    files = argv or tracked_files()
    problems = check(files)
    for p in problems:
        print(f"tools guard: {p}", file=sys.stderr)
    if problems:
        print(f"tools guard: {len(problems)} call(s) to programs the prerequisites do not provide; "
              f"add an entry to scripts/prerequisites.txt (installed by scripts/prerequisites.sh)",
              file=sys.stderr)
        return 1
    print(f"tools guard: {len(files)} files, every program they call is in scripts/prerequisites.txt")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
