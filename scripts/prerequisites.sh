#!/usr/bin/env bash
# Installs what crabmix needs from the one list, scripts/prerequisites.txt, and nothing else does.
#
#   bash scripts/prerequisites.sh [GROUP...]    install GROUPs (default: core); exit 1 on failure
#   source scripts/prerequisites.sh GROUP...    the same, and keep PATH (cargo's bin, the
#                                               toolchain's llvm-tools, .venv/bin) and `require`
#   source scripts/prerequisites.sh --no-install  only PATH and `require` (for the scripts that
#                                               the two README commands call)
#
# Idempotent and quick when everything is present (no network then): each entry is checked by
# what it provides (programs on PATH, Python modules, installed targets, cargo's install record)
# and installed only when missing. Debian packages need root; outside root it prints the exact
# command to run and stops.
#
# `require PROG...` (after sourcing): fails, naming the program and the calling script, when PROG
# is not provided by an entry of the list or is not installed.

_prereq_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
_prereq_list=$_prereq_root/scripts/prerequisites.txt
_prereq_venv=$_prereq_root/.venv   # the core group's venv, put on PATH

# _prereq_entries GROUP...: the list's entries of those groups, "kind name version provides".
_prereq_entries() {
  awk -v groups=" $* " '!/^[[:space:]]*(#|$)/ && index(groups, " " $1 " ") { print $2, $3, $4, $5 }' "$_prereq_list"
}

# _prereq_has PROVIDES: 0 when every program / py:MODULE / pc:LIBRARY (pkg-config) /
# deb:PACKAGE (installed) of the comma-separated list is there.
_prereq_has() {
  local item
  [[ $1 == - ]] && return 0
  for item in ${1//,/ }; do
    if [[ $item == py:* ]]; then
      "${_prereq_python:-python3}" -c "import ${item#py:}" 2>/dev/null || return 1
    elif [[ $item == pc:* ]]; then
      pkg-config --exists "${item#pc:}" 2>/dev/null || return 1
    elif [[ $item == deb:* ]]; then
      [[ $(dpkg-query -W -f='${Status}' "${item#deb:}" 2>/dev/null) == *" installed" ]] || return 1
    else
      command -v "$item" >/dev/null 2>&1 || return 1
    fi
  done
}

_prereq_path() {
  # Done once per PATH: the cargo runner (firmware/tools/qemu-run.sh) requires its tools on every
  # QEMU run, and the llvm-tools folder costs two rustc calls to find.
  [[ ${_CRABMIX_PREREQ_PATH:-} == "$PATH" && ! ( -x $_prereq_venv/bin/python && :$PATH: != *":$_prereq_venv/bin:"* ) ]] && return 0
  local cargo_bin=${CARGO_HOME:-${HOME:-~}/.cargo}/bin llvm_bin
  [[ :$PATH: == *":$cargo_bin:"* ]] || PATH=$cargo_bin:$PATH
  # llvm-tools live in the toolchain's sysroot, not on PATH.
  if command -v rustc >/dev/null 2>&1; then
    llvm_bin=$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin
    [[ :$PATH: == *":$llvm_bin:"* ]] || PATH=$llvm_bin:$PATH
  fi
  if [[ -x $_prereq_venv/bin/python ]]; then
    [[ :$PATH: == *":$_prereq_venv/bin:"* ]] || PATH=$_prereq_venv/bin:$PATH
  fi
  export PATH _CRABMIX_PREREQ_PATH=$PATH
}

prereq_install() {
  local groups=("$@") kind name version provides apt=() missing_given=() g known
  ((${#groups[@]})) || groups=(core)
  known=$(awk '!/^[[:space:]]*(#|$)/ { print $1 }' "$_prereq_list" | sort -u)
  for g in "${groups[@]}"; do
    grep -qxF -- "$g" <<<"$known" ||
      { echo "prerequisites: no group '$g' in scripts/prerequisites.txt (groups: $(echo $known))" >&2; return 1; }
  done
  _prereq_path
  # 1. Debian packages first: the rest needs python3 and a C compiler.
  while read -r kind name version provides; do
    case $kind in
      apt) _prereq_has "$provides" || apt+=("$name") ;;
      given) _prereq_has "$provides" || missing_given+=("$name ($provides)") ;;
    esac
  done < <(_prereq_entries "${groups[@]}")
  if ((${#missing_given[@]})); then
    echo "prerequisites: missing ${missing_given[*]}; install rustup first: https://rustup.rs" >&2
    return 1
  fi
  # The workspace's rust-version (Cargo.toml): older compilers stop with a less direct message.
  local want have
  want=$(sed -n 's/^rust-version = "\([0-9.]*\)"/\1/p' "$_prereq_root/Cargo.toml")
  have=$(rustc --version | awk '{ print $2 }')
  if [[ -n $want && $(printf '%s\n%s\n' "$want" "${have%%-*}" | sort -V | head -1) != "$want" ]]; then
    echo "prerequisites: rustc $have is older than the workspace's rust-version $want; run: rustup update stable" >&2
    return 1
  fi
  if ((${#apt[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
      echo "prerequisites: missing Debian packages ${apt[*]}; run this, then again:" >&2
      echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${apt[*]}" >&2
      return 1
    fi
    echo "prerequisites: apt-get install ${apt[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${apt[@]}" >/dev/null ||
      { echo "prerequisites: apt-get install ${apt[*]} failed" >&2; return 1; }
  fi
  # 2. Toolchain parts, cargo tools, the venv.
  local targets components crates_toml=${CARGO_HOME:-$HOME/.cargo}/.crates.toml req stamp sum
  targets=$(rustup target list --installed)
  components=$(rustup component list --installed)
  while read -r kind name version provides; do
    case $kind in
      rustup-target)
        grep -qxF "$name" <<<"$targets" || rustup target add "$name" </dev/null || return 1 ;;
      rustup-component)
        grep -q "^$name\(-\|$\)" <<<"$components" || rustup component add "$name" </dev/null || return 1 ;;
      rustup-toolchain)
        local c ok=1
        for c in ${version//,/ }; do
          rustup component list --toolchain "$name" --installed 2>/dev/null | grep -q "^$c\(-\|$\)" || ok=0
        done
        ((ok)) || rustup toolchain install "$name" --profile minimal --component "$version" --allow-downgrade </dev/null || return 1 ;;
      cargo)
        # cargo's own install record names the version: a different one is replaced.
        if ! grep -qF "\"$name $version " "$crates_toml" 2>/dev/null || ! _prereq_has "$provides"; then
          echo "prerequisites: cargo install $name@$version --locked"
          cargo install --quiet --locked "$name@$version" </dev/null || return 1
        fi ;;
      pip)
        # VERSION names the venv (- = .venv): groups whose pins conflict (torch pulls a newer
        # NVRTC) get their own.
        req=$_prereq_root/$name
        venv=$_prereq_root/${version/#-/.venv}
        if [[ ! -x $venv/bin/python ]]; then
          echo "prerequisites: python3 -m venv ${venv#"$_prereq_root"/}"
          python3 -m venv "$venv" </dev/null || return 1
        fi
        # Installed once per content of the requirements file and the files it includes.
        sum=$( (cd "$(dirname "$req")" && cat "$(basename "$req")" $(sed -n 's/^-r[[:space:]]*//p' "$req")) | sha256sum | cut -c1-16)
        stamp=$venv/.crabmix-stamp.$(basename "$req" .txt).$sum
        if [[ ! -e $stamp ]] || ! _prereq_python=$venv/bin/python _prereq_has "$provides"; then
          echo "prerequisites: pip install -r $name (into ${venv#"$_prereq_root"/})"
          "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req" </dev/null || return 1
          rm -f "$venv/.crabmix-stamp.$(basename "$req" .txt)."*
          touch "$stamp"
        fi ;;
    esac
  done < <(_prereq_entries "${groups[@]}")
  _prereq_path
  # 3. Everything the groups provide is now there.
  while read -r kind name version provides; do
    [[ $kind == device ]] && continue
    local py=python3
    [[ $kind == pip ]] && py=$_prereq_root/${version/#-/.venv}/bin/python
    _prereq_python=$py _prereq_has "$provides" ||
      { echo "prerequisites: $name ($kind) installed but $provides still missing" >&2; return 1; }
  done < <(_prereq_entries "${groups[@]}")
}

# require PROG...: each must be provided by an entry of scripts/prerequisites.txt and be on PATH.
require() {
  local prog caller=${BASH_SOURCE[1]:-$0} group
  _prereq_path
  for prog in "$@"; do
    group=$(awk -v p="$prog" '!/^[[:space:]]*(#|$)/ { n = split($5, a, ","); for (i = 1; i <= n; i++) if (a[i] == p) { print $1; exit } }' "$_prereq_list")
    if [[ -z $group ]]; then
      echo "require: $prog (called by $caller) is provided by no entry of scripts/prerequisites.txt" >&2
      return 1
    fi
    if ! command -v "$prog" >/dev/null 2>&1; then
      if [[ $group == device ]]; then
        echo "require: $prog (called by $caller) is missing: the lent GPU machine's image provides it" >&2
      else
        echo "require: $prog (called by $caller) is missing: run bash scripts/prerequisites.sh $group" >&2
      fi
      return 1
    fi
  done
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  set -uo pipefail
  if [[ ${1:-} == -h || ${1:-} == --help ]]; then
    sed -n '2,/^$/s/^# \{0,1\}//p' "$0"
    echo "groups: $(awk '!/^[[:space:]]*(#|$)/ { print $1 }' "$_prereq_list" | sort -u | tr '\n' ' ')"
    exit 0
  fi
  prereq_install "$@" || exit 1
  echo "prerequisites (${*:-core}): all present"
elif [[ ${1:-} == --no-install ]]; then
  _prereq_path
elif (($# == 0)); then
  # Sourced without arguments, bash would hand it the caller's own arguments as groups.
  echo "prerequisites.sh: source it with the groups to install (core, …) or --no-install" >&2
  return 2
else
  prereq_install "$@" || { return 1 2>/dev/null || exit 1; }
fi
