#!/usr/bin/env bash
# The project's two contracts (see README): `tools/dev.sh demo` and `tools/dev.sh test`; `tools/dev.sh bench` measures;
# `tools/dev.sh lab` opens nbs/ in JupyterLab. Each sets up what it needs first: system packages when missing, a virtual
# environment, the package in editable mode with its extras (the demo installs nothing that only the tests use).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
BIN="$VENV/bin"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"   # TensorFlow's start-up chatter
export PIP_DISABLE_PIP_VERSION_CHECK=1
unset VIRTUAL_ENV   # an activated other environment confuses IPython inside ours

# command -> Debian package: what the demo needs, and what only the tests add (the EC2 tests' sshd, rsync, ssh; shellcheck)
DEMO_TOOLS="espeak-ng:espeak-ng"
TEST_TOOLS="sshd:openssh-server rsync:rsync shellcheck:shellcheck ssh:openssh-client"

system_deps() {   # $1: demo | test
  local missing=() cmd pkg tools="$DEMO_TOOLS"
  [ "${1:-test}" = test ] && tools="$DEMO_TOOLS $TEST_TOOLS"
  for pair in $tools; do
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

# $1: the extras to install (cpu for the demo, cpu,dev for the tests, cpu,lab for JupyterLab). An extra installed
# once stays recorded in $VENV/.installed with the hash of settings.ini and setup.py, so nothing is reinstalled twice.
python_env() {
  local extras=$1 stamp e need=0 file="$VENV/.installed"
  "$PY" -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11 or newer is needed, found " + sys.version' || exit 1
  [ -x "$BIN/python" ] || "$PY" -m venv "$VENV"
  stamp=$(cat settings.ini setup.py | sha1sum | cut -c1-16)
  [ "$(head -n 1 "$file" 2>/dev/null)" = "$stamp" ] || rm -f "$file"     # line 1: the hash; then one extra per line
  for e in ${extras//,/ }; do grep -qx "$e" "$file" 2>/dev/null || need=1; done
  [ "$need" = 0 ] && return 0
  echo "== installing emorec_nb (editable, extras: $extras) into $VENV"
  "$BIN/python" -m pip install -q --upgrade pip setuptools wheel
  "$BIN/python" -m pip install -q -e ".[$extras]"
  { if [ -f "$file" ]; then cat "$file"; else echo "$stamp"; fi; tr ',' '\n' <<< "$extras"; } | awk '!seen[$0]++' > "$file.tmp"
  mv "$file.tmp" "$file"
}

# The venv's notebook kernels (papermill's, JupyterLab's) log at level ERROR: ipykernel otherwise starts every kernel
# with a warning that its sockets are unencrypted (they listen on 127.0.0.1 only), the first line a user of
# `papermill nbs/train.ipynb ...` would read. IPython reads $VENV/etc/ipython; a file already there is left as it is.
quiet_kernels() {
  local f="$VENV/etc/ipython/ipython_kernel_config.py"
  [ -e "$f" ] && return 0
  mkdir -p "$(dirname "$f")"
  printf '%s\n' '# written by tools/dev.sh: kernels of this venv log errors only (not the unencrypted-sockets warning)' \
    'c.IPKernelApp.log_level = "ERROR"' > "$f.tmp" && mv "$f.tmp" "$f"
}

setup() {   # $1: demo | test | lab
  local purpose=${1:-test}
  system_deps "$purpose"
  case $purpose in
    demo) python_env cpu ;;
    lab)  python_env cpu,lab
          "$BIN/python" -m ipykernel install --user --name emorec_nb --display-name "Python (emorec_nb)" >/dev/null
          echo "== JupyterLab kernel 'Python (emorec_nb)' registered" ;;
    *)    python_env cpu,dev ;;
  esac
  quiet_kernels
}

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
  "$BIN/nbdev_test" --timing --flags "slow shared"
  echo "== pytest"
  # one process per logical CPU, at most 4 (2 on a 2-core machine: 15 min there instead of 28); --dist loadfile keeps
  # each test file on one worker, so its servers and demo corpus are made once. Arguments after `test` go to pytest
  # (`-n 0`: one process)
  "$BIN/python" -m pytest tests/ -n logical --maxprocesses 4 --dist loadfile "$@"
}

case "${1:-}" in
  setup) shift; setup "${1:-test}" ;;
  demo)  shift; setup demo; "$BIN/emorec-demo" "$@" ;;
  test)  shift; setup test; run_tests "$@" ;;
  bench) shift; setup demo; "$BIN/emorec-bench" "$@" ;;
  lab)   shift; setup lab; exec "$BIN/jupyter" lab nbs/ "$@" ;;
  *) echo "usage: tools/dev.sh setup [demo|test|lab] | demo | test | bench | lab [args]"; exit 2 ;;
esac
