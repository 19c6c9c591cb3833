#!/usr/bin/env bash
# Interactive monitoring of a training started by deploy_fixed_cnn_lstm_model_to_ec2.sh: GPU usage, the live
# training log, a summary of model performance, whether the run is alive, fetching results, stopping the instance.
set -euo pipefail
# shellcheck source=ec2/common.sh
source "$(dirname "$0")/common.sh"

usage() {
  cat <<'TXT'
Usage: ec2/monitor_ec2_cnn_lstm_training.sh [options] [action]

Without an action: an interactive menu. Actions (for scripts):
  --status         is the training running, finished or crashed (with the log's last lines when it crashed)
  --gpu            GPU usage (nvidia-smi); says so when the instance has no GPU
  --log [--follow] the training log's last lines (--lines N, default 40), or follow it live
  --summary        each run's models: best validation accuracy and UAR (models/cnn_lstm_fixed_*/metrics.json)
  --fetch [DEST]   copy models/ and the executed reports back with rsync (default DEST: ./ec2-results/INSTANCE;
                   existing local files are never overwritten)
  --stop           stop the instance (aws ec2 stop-instances)
Options shared with the deploy script: --instance-id, --name, --key, --user, --ssh-port, --remote-dir, --python,
--timeout, --region, --profile (and their EMOREC_EC2_* environment variables). -h, --help: this text.
TXT
}

ACTION=""; FOLLOW=0; LINES=40; DEST=""
parse_common "$@"
set -- "${REST[@]+"${REST[@]}"}"
while [ $# -gt 0 ]; do
  case "$1" in
    --status|--gpu|--log|--summary|--stop) ACTION=${1#--}; shift ;;
    --fetch) ACTION=fetch; shift; if [ $# -gt 0 ] && [[ "$1" != --* ]]; then DEST=$1; shift; fi ;;
    --follow) FOLLOW=1; shift ;;
    --lines) LINES=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option: $1 (see --help)" ;;
  esac
done

connect
RDIR_Q=$(printf '%q' "$REMOTE_DIR")

do_status() {
  # running: the PID is alive; finished/crashed: the launcher wrote the exit status of papermill.
  rssh "cd $RDIR_Q 2>/dev/null || { echo 'status: nothing deployed in $RDIR_Q'; exit 3; }
    [ -f runs/latest ] || { echo 'status: no training started'; exit 3; }
    s=\$(cat runs/latest)
    if [ -f runs/train.pid ] && kill -0 \"\$(cat runs/train.pid)\" 2>/dev/null; then
      echo \"status: running (pid \$(cat runs/train.pid), run \$s, log runs/train-\$s.log)\"; tail -n 3 runs/train-\$s.log; exit 0
    fi
    if [ ! -f runs/train.pid ] && [ ! -f runs/train-\$s.exit ]; then echo \"status: starting (run \$s)\"; exit 0; fi
    if [ -f runs/train-\$s.exit ] && [ \"\$(cat runs/train-\$s.exit)\" = 0 ]; then
      echo \"status: finished (run \$s, report runs/train-\$s.ipynb)\"; exit 0
    fi
    code=\$(cat runs/train-\$s.exit 2>/dev/null || echo 'none: the process died without reporting')
    echo \"status: crashed (run \$s, exit status \$code); last lines of runs/train-\$s.log:\"
    tail -n $LINES runs/train-\$s.log; exit 2"
}

do_gpu() {
  rssh 'if command -v nvidia-smi >/dev/null 2>&1; then
      nvidia-smi --query-gpu=index,name,utilization.gpu,memory.used,memory.total,temperature.gpu --format=csv
    else echo "no GPU: nvidia-smi is not available on this instance"; fi'
}

do_log() {
  if [ "$FOLLOW" = 1 ]; then rssh_tty "tail -n $LINES -F $RDIR_Q/runs/latest.log" || true
  else rssh "tail -n $LINES $RDIR_Q/runs/latest.log"; fi
}

do_summary() {
  local py
  py=$(printf '%q' "$(remote_python)")
  rssh "cd $RDIR_Q && $py - <<'PY'
import json, glob
runs = sorted(glob.glob('models/cnn_lstm_fixed_*/metrics.json'))
if not runs: print('summary: no finished run yet (models/cnn_lstm_fixed_*/metrics.json)')
for f in runs:
    m = json.load(open(f))
    print(f\"{f.split('/')[1]}: {m.get('split', '')}{'  [SYNTHETIC demo corpus]' if m.get('synthetic') else ''}\")
    for k, v in m['models'].items():
        o = v['overall']
        print(f\"  {k:8s} val accuracy {o['accuracy']:.3f}  UAR {o['uar']:.3f}  macro-F1 {o['macro_f1']:.3f}  (best epoch {v['best_epoch']} of {v['epochs']})\")
    print(f\"  better: {m['best_model']}\")
PY"
}

do_fetch() {
  local dest=${DEST:-ec2-results/$INSTANCE_ID}
  mkdir -p "$dest"
  rsync -az --ignore-existing -e "$(rsync_ssh)" "$SSH_USER@$HOST:$REMOTE_DIR/models/" "$dest/models/"
  rsync -az --ignore-existing -e "$(rsync_ssh)" --include='*.ipynb' --include='*.log' --exclude='*' \
      "$SSH_USER@$HOST:$REMOTE_DIR/runs/" "$dest/runs/"
  say "results in $dest"; find "$dest" -name '*.h5' | sort
}

do_stop() { awsc ec2 stop-instances --instance-ids "$INSTANCE_ID" --query 'StoppingInstances[0].CurrentState.Name' --output text; }

if [ -n "$ACTION" ]; then "do_$ACTION"; exit $?; fi

while :; do
  cat <<TXT

emorec_nb training on $INSTANCE_ID ($HOST)
  1) status    2) GPU    3) follow the log (Ctrl-C to return)    4) summary
  5) fetch results    6) stop the instance    q) quit
TXT
  read -r -p "> " choice || exit 0
  case "$choice" in
    1) do_status || true ;;
    2) do_gpu || true ;;
    3) FOLLOW=1; (trap - INT; do_log) || true; FOLLOW=0 ;;
    4) do_summary || true ;;
    5) do_fetch || true ;;
    6) read -r -p "stop $INSTANCE_ID? [y/N] " yn; [ "$yn" = y ] && do_stop ;;
    q|Q|"") exit 0 ;;
    *) echo "unknown choice: $choice" ;;
  esac
done
