#!/usr/bin/env bash
# Transfers the code to an EC2 GPU instance and launches training (papermill nbs/train.ipynb), detached.
set -euo pipefail
# shellcheck source=ec2/common.sh
source "$(dirname "$0")/common.sh"

usage() {
  cat <<'TXT'
Usage: ec2/deploy_fixed_cnn_lstm_model_to_ec2.sh [options] [-p NAME VALUE]...

Finds the instance (--instance-id, or the one tagged Name=<name>, or starts one with --launch), waits until it runs
and answers SSH, copies the project there with rsync (only the files git tracks, plus the --features/--audio folders
named), installs it with the `gpu` extra, checks that Keras sees a GPU, and starts
`papermill nbs/train.ipynb runs/train-TIMESTAMP.ipynb -p ...` detached, logging to runs/train-TIMESTAMP.log with its
PID in runs/train.pid. The instance powers itself off --auto-stop minutes after the training ends or fails. Then it
prints how to monitor it.

Cost safety: if anything fails after this command launched an instance (or on Ctrl-C), that instance is terminated
(stopped with --keep-on-failure) and the message names it. An instance it did not launch is never touched.

Instance:
  --instance-id ID        use this instance (env EMOREC_EC2_INSTANCE_ID)
  --name NAME             Name tag to find or give the instance (default emorec-train; env EMOREC_EC2_NAME)
  --launch                start a new instance when none is found
  --instance-type TYPE    for --launch (default g4dn.xlarge: one NVIDIA T4, 16 GB; about 0.53 USD/hour on demand
                          in us-east-1)
  --ami AMI|auto          for --launch (default auto, or env EMOREC_EC2_AMI): auto reads the current "Deep Learning
                          Base OSS Nvidia Driver GPU AMI (Ubuntu 24.04)" (NVIDIA driver + CUDA, Python 3.12) from
                          AWS's public SSM parameter $AMI_PARAM
  --ami-param NAME        the SSM parameter --ami auto reads (env EMOREC_EC2_AMI_PARAM), e.g. the ARM64 variant's
  --key-name NAME         EC2 key pair for --launch (default: the key file's name without extension)
  --my-ip IP              caller's public IP for the security group (default: asked from checkip.amazonaws.com;
                          env EMOREC_MY_IP). Only the SSH port in use is opened, to IP/32 only.
  --keep-on-failure       stop (not terminate) an instance this command launched when a later step fails
Connection:
  --key PATH              private key, mode 0600 (env EMOREC_EC2_KEY)
  --user USER             login user (default ubuntu; env EMOREC_EC2_USER)
  --ssh-port PORT         (default 22; env EMOREC_EC2_SSH_PORT)
  --remote-dir DIR        working directory on the instance (default emorec_nb; env EMOREC_EC2_REMOTE_DIR)
  --python PATH           Python on the instance to use as it is (default: make DIR/.venv with the AMI's
                          site-packages and install the project into it; env EMOREC_EC2_PYTHON)
  --timeout SECONDS       for the instance to run and answer SSH (default 600)
  --region R, --profile P the aws CLI's region and profile (env AWS_REGION, AWS_PROFILE)
Training:
  --features DIR          a feature directory to copy and train on (repeatable; default: the demo corpus,
                          made on the instance)
  --study                 run the cross-validated study (papermill -p split folds) on the --audio folders
  --audio DIR             an audio folder to copy for --study (repeatable)
  -p NAME VALUE           a papermill parameter of nbs/train.ipynb (repeatable), e.g. -p model bilstm -p epochs 80;
                          NAME must be a Python identifier
  --allow-cpu             run even when Keras sees no GPU on the instance (default: refuse before training starts)
  --auto-stop MINUTES     power the instance off this long after the training ends or fails (default 20; the
                          instance's shutdown behaviour is "stop", so its disk and results are kept)
  --no-auto-stop          leave it running
  --force                 start even if a training is still running there
  --dry-run               print what would be done, change nothing
  -h, --help
TXT
}

AMI_PARAM=${EMOREC_EC2_AMI_PARAM:-/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-ubuntu-24.04/latest/ami-id}
LAUNCH=0; INSTANCE_TYPE=g4dn.xlarge; AMI=${EMOREC_EC2_AMI:-auto}; KEY_NAME=""; MY_IP=${EMOREC_MY_IP:-}; FORCE=0
KEEP_ON_FAILURE=0; ALLOW_CPU=0; AUTO_STOP=20; STUDY=0; SHUTDOWN=${EMOREC_EC2_SHUTDOWN:-sudo -n shutdown -h}
FEATURES=(); AUDIO=(); PARAMS=()
parse_common "$@"
set -- "${REST[@]+"${REST[@]}"}"
while [ $# -gt 0 ]; do
  case "$1" in
    --launch) LAUNCH=1; shift ;;
    --instance-type) INSTANCE_TYPE=$2; shift 2 ;;
    --ami) AMI=$2; shift 2 ;;
    --ami-param) AMI_PARAM=$2; shift 2 ;;
    --key-name) KEY_NAME=$2; shift 2 ;;
    --my-ip) MY_IP=$2; shift 2 ;;
    --features) FEATURES+=("$2"); shift 2 ;;
    --audio) AUDIO+=("$2"); shift 2 ;;
    --study) STUDY=1; shift ;;
    -p) [ $# -ge 3 ] || die "-p needs NAME VALUE"; check_ident "-p NAME" "$2"; PARAMS+=(-p "$2" "$3"); shift 3 ;;
    --keep-on-failure) KEEP_ON_FAILURE=1; shift ;;
    --allow-cpu) ALLOW_CPU=1; shift ;;
    --auto-stop) check_int --auto-stop "$2"; AUTO_STOP=$2; shift 2 ;;
    --no-auto-stop) AUTO_STOP=""; shift ;;
    --force) FORCE=1; shift ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option: $1 (see --help)" ;;
  esac
done

check_key; ssh_opts
for f in "${FEATURES[@]+"${FEATURES[@]}"}"; do [ -d "$f" ] || die "feature directory not found: $f"; done
for f in "${AUDIO[@]+"${AUDIO[@]}"}"; do [ -d "$f" ] || die "audio directory not found: $f"; done
[ "$STUDY" = 0 ] || [ ${#AUDIO[@]} -gt 0 ] || die "--study needs at least one --audio folder"
[ "$STUDY" = 1 ] || [ ${#AUDIO[@]} -eq 0 ] || die "--audio is for --study"
git -C "$REPO_ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1 || die "$REPO_ROOT is not a git checkout: the files to copy are the ones git tracks"

# Cost safety: an instance this invocation launched is terminated (or stopped) if anything fails before training runs.
LAUNCHED=""; STARTED=0
on_exit() {
  local rc=$?
  [ -n "$LAUNCHED" ] && [ "$STARTED" = 0 ] && [ "$rc" != 0 ] || return 0
  if [ "$KEEP_ON_FAILURE" = 1 ]; then
    awsc ec2 stop-instances --instance-ids "$LAUNCHED" >/dev/null 2>&1 && \
      echo "error: instance $LAUNCHED, launched by this command, was STOPPED (--keep-on-failure): no compute charges, its disk is still billed; remove it with: ec2/monitor_ec2_cnn_lstm_training.sh --instance-id $LAUNCHED --terminate" >&2 || \
      echo "error: could not stop instance $LAUNCHED: stop it yourself (aws ec2 stop-instances --instance-ids $LAUNCHED)" >&2
  else
    awsc ec2 terminate-instances --instance-ids "$LAUNCHED" >/dev/null 2>&1 && \
      echo "error: instance $LAUNCHED, launched by this command, was TERMINATED so that it does not bill you (--keep-on-failure stops it instead)" >&2 || \
      echo "error: could not terminate instance $LAUNCHED: terminate it yourself (aws ec2 terminate-instances --instance-ids $LAUNCHED)" >&2
  fi
}
trap on_exit EXIT
trap 'echo "error: interrupted" >&2; exit 130' INT TERM

resolve_ami() {
  if [ "$AMI" = auto ]; then
    if [ "$DRY_RUN" = 1 ]; then AMI="<current $AMI_PARAM>"; return; fi
    AMI=$(awsc ssm get-parameter --name "$AMI_PARAM" --query Parameter.Value --output text) || \
      die "cannot read the GPU AMI from the SSM parameter $AMI_PARAM; pass --ami ami-..."
  fi
  [[ "$AMI" =~ ^ami-[0-9a-f]+$ ]] || [ "$DRY_RUN" = 1 ] || die "--ami must be 'auto' or an AMI id (ami-...), not '$AMI'"
}

launch_instance() {
  resolve_ami
  [ -n "$KEY_NAME" ] || KEY_NAME=$(basename "${KEY%.*}")
  if [ -z "$MY_IP" ]; then
    MY_IP=$(curl -fsS --max-time 10 https://checkip.amazonaws.com | tr -d '[:space:]') || die "cannot find your public IP; pass --my-ip"
  fi
  [[ "$MY_IP" =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] || die "not an IPv4 address: $MY_IP"
  local sg="emorec-ssh-$NAME" sg_id token="emorec-$NAME-$STAMP-$$"
  if [ "$DRY_RUN" = 1 ]; then
    run awsc ec2 create-security-group --group-name "$sg" --description "SSH for $NAME from $MY_IP/32"
    run awsc ec2 authorize-security-group-ingress --group-name "$sg" --protocol tcp --port "$SSH_PORT" --cidr "$MY_IP/32"
    run awsc ec2 run-instances --image-id "$AMI" --instance-type "$INSTANCE_TYPE" --key-name "$KEY_NAME" \
        --security-groups "$sg" --client-token "$token" --instance-initiated-shutdown-behavior stop \
        --tag-specifications "ResourceType=instance,Tags=[{Key=Name,Value=$NAME},{Key=Project,Value=emorec_nb}]"
    INSTANCE_ID="i-DRYRUN"; return
  fi
  sg_id=$(awsc ec2 describe-security-groups --filters "Name=group-name,Values=$sg" --query 'SecurityGroups[0].GroupId' --output text 2>/dev/null || true)
  if [ -z "$sg_id" ] || [ "$sg_id" = None ]; then
    sg_id=$(awsc ec2 create-security-group --group-name "$sg" --description "SSH for $NAME from $MY_IP/32" --query GroupId --output text)
    awsc ec2 create-tags --resources "$sg_id" --tags "Key=Project,Value=emorec_nb" >/dev/null
  fi
  # Exactly one ingress rule: the SSH port in use, from the caller's /32. Anything that an earlier run left is revoked.
  local old
  old=$(awsc ec2 describe-security-groups --group-ids "$sg_id" --query 'SecurityGroups[0].IpPermissions' --output json) || die "cannot read security group $sg_id"
  if [ "$old" != "[]" ] && [ -n "$old" ]; then awsc ec2 revoke-security-group-ingress --group-id "$sg_id" --ip-permissions "$old" >/dev/null; fi
  awsc ec2 authorize-security-group-ingress --group-id "$sg_id" --protocol tcp --port "$SSH_PORT" --cidr "$MY_IP/32" >/dev/null
  # The client token makes run-instances idempotent: a retry of this call cannot start a second instance.
  INSTANCE_ID=$(awsc ec2 run-instances --image-id "$AMI" --instance-type "$INSTANCE_TYPE" --key-name "$KEY_NAME" \
      --security-group-ids "$sg_id" --count 1 --client-token "$token" --instance-initiated-shutdown-behavior stop \
      --tag-specifications "ResourceType=instance,Tags=[{Key=Name,Value=$NAME},{Key=Project,Value=emorec_nb}]" \
      --query 'Instances[0].InstanceId' --output text) || die "aws ec2 run-instances failed"
  [[ "$INSTANCE_ID" =~ ^i-[0-9a-f]+$ ]] || die "aws ec2 run-instances returned no instance id ('$INSTANCE_ID')"
  LAUNCHED=$INSTANCE_ID
  say "launched $INSTANCE_ID ($INSTANCE_TYPE, $AMI), SSH port $SSH_PORT open to $MY_IP/32 only"
}

STAMP=$(date +%Y%m%d_%H%M%S)
if [ "$DRY_RUN" = 1 ] && [ "$LAUNCH" = 1 ]; then launch_instance
else
  lookup_instance
  if [ -z "$INSTANCE_ID" ]; then
    [ "$LAUNCH" = 1 ] || die "no instance tagged Name=$NAME; use --instance-id ID or --launch"
    launch_instance
  fi
fi

PY=$(remote_python)
RDIR_Q=$(printf '%q' "$REMOTE_DIR")
if [ "$DRY_RUN" = 1 ]; then
  HOST="<public IP of $INSTANCE_ID>"
  echo "would wait until $INSTANCE_ID runs and answers SSH as $SSH_USER on port $SSH_PORT (at most ${TIMEOUT}s)"
else
  say "waiting for $INSTANCE_ID to run and answer SSH"
  wait_running "$INSTANCE_ID"; wait_ssh
  say "$INSTANCE_ID is up at $HOST"
  if [ "$FORCE" != 1 ] && rssh "cd $RDIR_Q 2>/dev/null && test -f runs/train.pid && kill -0 \"\$(cat runs/train.pid)\" 2>/dev/null"; then
    die "a training is still running on $INSTANCE_ID (runs/train.pid); monitor it, or pass --force to start another"
  fi
fi

# What is copied is an allowlist: the files git tracks (that exist), and the data folders named on the command line.
# Nothing else ever leaves this machine: no untracked file, no key, no credentials, no .git.
tracked_files() {
  (cd "$REPO_ROOT" && git ls-files -z) | while IFS= read -r -d '' f; do [ -f "$REPO_ROOT/$f" ] && printf '%s\0' "$f"; done
}
run rssh "mkdir -p $RDIR_Q/runs $RDIR_Q/data/features $RDIR_Q/data/audio"
if [ "$DRY_RUN" = 1 ]; then echo "would copy the $(tracked_files | tr -cd '\0' | wc -c | tr -d ' ') files git tracks to $REMOTE_DIR"
else tracked_files | rsync -az --from0 --files-from=- -e "$(rsync_ssh)" "$REPO_ROOT/" "$SSH_USER@$HOST:$REMOTE_DIR/"; fi
# Each data folder gets a remote name of its own (NN_basename): two folders with one basename are never merged.
copy_dirs() {   # kind, then folders; prints the remote paths joined by commas
  local kind=$1 i=0 out="" f name; shift
  for f in "$@"; do
    i=$((i + 1)); name=$(printf '%02d_%s' "$i" "$(basename "$(cd "$f" && pwd)" | tr -c 'A-Za-z0-9._\n-' '_')")
    run rsync -az -e "$(rsync_ssh)" "$f/" "$SSH_USER@$HOST:$REMOTE_DIR/data/$kind/$name/" >&2
    out="${out:+$out,}data/$kind/$name"
  done
  echo "$out"
}
FEAT_PARAM=$(copy_dirs features "${FEATURES[@]+"${FEATURES[@]}"}")
AUDIO_PARAM=$(copy_dirs audio "${AUDIO[@]+"${AUDIO[@]}"}")
[ -n "$FEAT_PARAM" ] && PARAMS=(-p feature_dirs "$FEAT_PARAM" "${PARAMS[@]+"${PARAMS[@]}"}")
[ "$STUDY" = 1 ] && PARAMS=(-p split folds -p audio_dirs "$AUDIO_PARAM" "${PARAMS[@]+"${PARAMS[@]}"}")

if [ -z "$REMOTE_PYTHON" ]; then
  # A venv with the project and its `gpu` extra (TensorFlow with its CUDA libraries from pip; the AMI brings the
  # driver). The core requirements name no TensorFlow build, so nothing CPU-only can shadow the GPU one.
  run rssh "cd $RDIR_Q && python3 -c 'import sys; assert sys.version_info >= (3, 11), \"Python >= 3.11 is needed; this AMI has \" + sys.version.split()[0] + \" (use --ami auto: Ubuntu 24.04, Python 3.12)\"' && \
{ [ -x .venv/bin/python ] || python3 -m venv .venv; } && .venv/bin/python -m pip install -q -e '.[gpu]'" || die "installing the project on $INSTANCE_ID failed (see above)"
  PY=".venv/bin/python"; PYPATH=""
else
  PY=$REMOTE_PYTHON
  # shellcheck disable=SC2016  # written into the launcher, expanded there
  PYPATH='export PYTHONPATH="$PWD"   # the given Python as it is; the transferred code first'
fi

# GPU or nothing: a paid GPU instance that trains on its CPU is the worst of both. Checked before training starts.
PYQ=$(printf '%q' "$PY")
if [ "$DRY_RUN" != 1 ]; then
  # shellcheck disable=SC2016  # $PWD is the remote one
  if ! gpu=$(rssh "cd $RDIR_Q && ${PYPATH:+PYTHONPATH=\"\$PWD\"} TF_CPP_MIN_LOG_LEVEL=3 $PYQ -c 'from emorec_nb.cli import gpu_check as f; f([])'" 2>&1); then
    if [ "$ALLOW_CPU" = 1 ]; then say "no GPU on $INSTANCE_ID, running on its CPU as asked (--allow-cpu): ${gpu##*$'\n'}"
    else die "no GPU visible to Keras on $INSTANCE_ID: ${gpu##*$'\n'}. Use a GPU instance type and AMI (--ami auto), or --allow-cpu to run anyway"; fi
  else say "$gpu"; fi
fi

# The launcher is a script file written here with every argument quoted for bash, copied over, and started in a
# session of its own (setsid -f, nohup) so that it survives the SSH session, which returns at once. The launcher
# writes its PID to runs/train.pid and papermill's exit status to runs/train-STAMP.exit.
LAUNCHER=$(mktemp)
trap 'rm -f "$LAUNCHER"' EXIT
{
  echo '#!/usr/bin/env bash'
  # shellcheck disable=SC2016  # expanded by the launcher on the instance
  echo 'cd "$(dirname "$0")/.." || exit 1; echo $$ > runs/train.pid'
  [ -n "$PYPATH" ] && echo "$PYPATH"
  printf '%q -m papermill nbs/train.ipynb %q' "$PY" "runs/train-$STAMP.ipynb"
  # the kernel's warning that its local (127.0.0.1) sockets are unencrypted would open every log: left out of it
  printf ' %q' "${PARAMS[@]+"${PARAMS[@]}"}" --log-output
  echo " 2>&1 | grep --line-buffered -v 'Kernel is running over TCP without encryption'"
  echo "echo \${PIPESTATUS[0]} > runs/train-$STAMP.exit"
  if [ -n "$AUTO_STOP" ]; then    # powers off (the instance stops: shutdown behaviour "stop") N minutes after the end
    echo "echo \"auto-stop: $SHUTDOWN +$AUTO_STOP\" > runs/train-$STAMP.autostop"
    printf '%s +%q >> runs/train-%s.autostop 2>&1\n' "$SHUTDOWN" "$AUTO_STOP" "$STAMP"
  fi
} > "$LAUNCHER"
[ "$DRY_RUN" = 1 ] && { echo "launcher runs/train-$STAMP.sh:"; sed 's/^/    /' "$LAUNCHER"; }
run rsync -a -e "$(rsync_ssh)" "$LAUNCHER" "$SSH_USER@$HOST:$REMOTE_DIR/runs/train-$STAMP.sh"
run rssh "cd $RDIR_Q && rm -f runs/train.pid && ln -sfn train-$STAMP.log runs/latest.log && echo $STAMP > runs/latest && \
setsid -f nohup bash runs/train-$STAMP.sh > runs/train-$STAMP.log 2>&1 < /dev/null"
STARTED=1          # from here on the instance is doing paid work on purpose: failures no longer terminate it

MON="ec2/monitor_ec2_cnn_lstm_training.sh --instance-id $INSTANCE_ID --key $(printf '%q' "$KEY") --user $SSH_USER"
[ "$SSH_PORT" != 22 ] && MON="$MON --ssh-port $SSH_PORT"
[ "$REMOTE_DIR" != emorec_nb ] && MON="$MON --remote-dir $(printf '%q' "$REMOTE_DIR")"
[ -n "$REMOTE_PYTHON" ] && MON="$MON --python $(printf '%q' "$REMOTE_PYTHON")"
cat <<TXT
== training started on $INSTANCE_ID ($HOST): runs/train-$STAMP.ipynb, log runs/train-$STAMP.log, PID in runs/train.pid
== auto-stop: ${AUTO_STOP:+the instance powers off $AUTO_STOP minutes after the training ends or fails}${AUTO_STOP:-off (--no-auto-stop): stop the instance yourself}
Monitor it:
  $MON            # interactive menu
  $MON --status   # or --gpu, --log, --summary, --fetch, --stop, --terminate
TXT
