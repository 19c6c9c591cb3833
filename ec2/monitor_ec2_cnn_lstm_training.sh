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
  --summary        also shows a study's fold table and verdict (models/study_*/summary.json)
  --fetch [DEST]   copy models/ and the executed reports back with rsync (default DEST: ./ec2-results/INSTANCE);
                   files that changed there since the last fetch are refreshed
  --stop           stop the instance (EC2 API: works when SSH does not)
  --terminate      terminate the instance (EC2 API; its disk and anything not fetched are gone)
Options shared with the deploy script: --instance-id, --name, --key, --user, --ssh-port, --remote-dir, --python,
--timeout, --region, --profile (and their EMOREC_EC2_* environment variables). -h, --help: this text.
TXT
}

ACTION=""; FOLLOW=0; LINES=40; DEST=""
parse_common "$@"
set -- "${REST[@]+"${REST[@]}"}"
while [ $# -gt 0 ]; do
  case "$1" in
    --status|--gpu|--log|--summary|--stop|--terminate) ACTION=${1#--}; shift ;;
    --fetch) ACTION=fetch; shift; if [ $# -gt 0 ] && [[ "$1" != --* ]]; then DEST=$1; shift; fi ;;
    --follow) FOLLOW=1; shift ;;
    --lines) check_int --lines "$2"; LINES=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option: $1 (see --help)" ;;
  esac
done

# Stopping and terminating use the EC2 API only: they must work when the instance does not answer SSH.
api_instance() {
  lookup_instance
  [ -n "$INSTANCE_ID" ] || die "no instance tagged Name=$NAME (use --instance-id)"
}
if [ "$ACTION" = stop ]; then
  api_instance
  awsc ec2 stop-instances --instance-ids "$INSTANCE_ID" --query 'StoppingInstances[0].CurrentState.Name' --output text || die "cannot stop $INSTANCE_ID"
  exit 0
fi
if [ "$ACTION" = terminate ]; then
  api_instance
  awsc ec2 terminate-instances --instance-ids "$INSTANCE_ID" --query 'TerminatingInstances[0].CurrentState.Name' --output text || die "cannot terminate $INSTANCE_ID"
  exit 0
fi

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
studies = sorted(glob.glob('models/study_*/summary.json'))
if not runs and not studies: print('summary: no finished run yet (models/cnn_lstm_fixed_*/metrics.json, models/study_*/summary.json)')
for f in studies:
    s = json.load(open(f))
    print(f\"{f.split('/')[1]}: cross-validated study\")
    for k, m in s['models'].items(): print(f\"  {k:24s} UAR {m['uar']:.3f} +- {m['uar_std']:.3f}  accuracy {m['accuracy']:.3f}\")
    try:
        import pandas as pd
        cv = pd.read_csv(f.replace('summary.json', 'cv_results.csv'))
        print(cv.pivot_table(index='fold', columns=['variant', 'model'], values='uar').round(3).to_string())
    except Exception as e: print(f'  (no fold table: {e})')
    for v in s.get('verdicts', []): print('  ' + v)
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
  # No --ignore-existing: a status or log fetched mid-run must not stay stale for ever.
  rsync -az -e "$(rsync_ssh)" "$SSH_USER@$HOST:$REMOTE_DIR/models/" "$dest/models/"
  rsync -az -e "$(rsync_ssh)" --include='*.ipynb' --include='*.log' --include='*.exit' --include='*.autostop' --exclude='*' \
      "$SSH_USER@$HOST:$REMOTE_DIR/runs/" "$dest/runs/"
  say "results in $dest"; find "$dest" -name '*.h5' | sort
}

do_stop() { awsc ec2 stop-instances --instance-ids "$INSTANCE_ID" --query 'StoppingInstances[0].CurrentState.Name' --output text; }
do_terminate() { awsc ec2 terminate-instances --instance-ids "$INSTANCE_ID" --query 'TerminatingInstances[0].CurrentState.Name' --output text; }

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
