#!/usr/bin/env bash
# The project's two contracts (see README): `tools/dev.sh demo` and `tools/dev.sh test`; `tools/dev.sh bench` measures.
# Both set everything up first: system packages when missing, a virtual environment, the package in editable mode.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
BIN="$VENV/bin"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"   # TensorFlow's start-up chatter
export PIP_DISABLE_PIP_VERSION_CHECK=1
unset VIRTUAL_ENV   # an activated other environment confuses IPython inside ours

# command -> Debian package, for every system tool some stage or test uses
SYSTEM_TOOLS="espeak-ng:espeak-ng sshd:openssh-server rsync:rsync shellcheck:shellcheck ssh:openssh-client"

system_deps() {
  local missing=() cmd pkg
  for pair in $SYSTEM_TOOLS; do
    cmd=${pair%%:*}; pkg=${pair#*:}
    command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("$pkg")
  done
  "$PY" -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=("python3-venv")
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "== installing system packages: ${missing[*]}"
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
      echo "error: need root or sudo to install: apt-get install ${missing[*]}" >&2; return 1; fi
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: not a Debian/Ubuntu system; install these yourself: ${missing[*]}" >&2; return 1; fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

python_env() {
  "$PY" -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11 or newer is needed, found " + sys.version' || exit 1
  [ -x "$BIN/python" ] || "$PY" -m venv "$VENV"
  local stamp; stamp=$(cat settings.ini setup.py | sha1sum | cut -c1-16)
  if [ "$(cat "$VENV/.installed" 2>/dev/null)" != "$stamp" ]; then
    echo "== installing emorec_nb (editable, with the cpu and dev extras) into $VENV"
    "$BIN/python" -m pip install -q --upgrade pip setuptools wheel
    "$BIN/python" -m pip install -q -e ".[cpu,dev]"
    echo "$stamp" > "$VENV/.installed"
  fi
}

setup() { system_deps; python_env; }

# nbdev_clean + nbdev_export must not change the tree: notebooks are committed clean, the library in sync.
check_sync() {
  local before after
  before=$(git status --porcelain; git diff | sha1sum)
  "$BIN/nbdev_clean"
  "$BIN/nbdev_export"
  after=$(git status --porcelain; git diff | sha1sum)
  if [ "$before" != "$after" ]; then
    echo "error: nbdev_clean/nbdev_export changed the tree (notebooks not clean, or emorec_nb/ out of sync with nbs/):" >&2
    git status --short >&2
    return 1
  fi
  echo "== nbdev_clean + nbdev_export: tree unchanged"
}

run_tests() {
  check_sync
  echo "== nbdev_test"
  "$BIN/nbdev_test" --timing
  echo "== pytest"
  "$BIN/python" -m pytest tests/ "$@"
}

case "${1:-}" in
  setup) setup ;;
  demo)  shift; setup; "$BIN/emorec-demo" "$@" ;;
  test)  shift; setup; run_tests "$@" ;;
  bench) shift; setup; "$BIN/emorec-bench" "$@" ;;
  *) echo "usage: tools/dev.sh setup|demo|test|bench [args]"; exit 2 ;;
esac
