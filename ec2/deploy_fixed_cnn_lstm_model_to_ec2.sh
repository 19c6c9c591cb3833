#!/usr/bin/env bash
# Transfers the code to an EC2 GPU instance and launches training (papermill nbs/train.ipynb), detached.
set -euo pipefail
# shellcheck source=ec2/common.sh
source "$(dirname "$0")/common.sh"

usage() {
  cat <<'TXT'
Usage: ec2/deploy_fixed_cnn_lstm_model_to_ec2.sh [options] [-p NAME VALUE]...

Finds the instance (--instance-id, or the one tagged Name=<name>, or starts one with --launch), waits until it runs
and answers SSH, copies the project there with rsync (never .git, models, runs, data or caches), installs it, and
starts `papermill nbs/train.ipynb runs/train-TIMESTAMP.ipynb -p ...` detached, logging to runs/train-TIMESTAMP.log
with its PID in runs/train.pid. Then prints how to monitor it.

Instance:
  --instance-id ID        use this instance (env EMOREC_EC2_INSTANCE_ID)
  --name NAME             Name tag to find or give the instance (default emorec-train; env EMOREC_EC2_NAME)
  --launch                start a new instance when none is found
  --instance-type TYPE    for --launch (default g4dn.xlarge: one NVIDIA T4)
  --ami AMI               for --launch (default: env EMOREC_EC2_AMI; use an AWS Deep Learning AMI (Ubuntu) with
                          TensorFlow for your region, e.g. from `aws ssm get-parameter --name
                          /aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-ubuntu-22.04/latest/ami-id`)
  --key-name NAME         EC2 key pair for --launch (default: the key file's name without extension)
  --my-ip IP              caller's public IP for the security group (default: asked from checkip.amazonaws.com;
                          env EMOREC_MY_IP). Port 22 is opened to IP/32 only.
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
  -p NAME VALUE           a papermill parameter of nbs/train.ipynb (repeatable), e.g. -p model bilstm -p epochs 80
  --force                 start even if a training is still running there
  --dry-run               print what would be done, change nothing
  -h, --help
TXT
}

LAUNCH=0; INSTANCE_TYPE=g4dn.xlarge; AMI=${EMOREC_EC2_AMI:-}; KEY_NAME=""; MY_IP=${EMOREC_MY_IP:-}; FORCE=0
FEATURES=(); PARAMS=()
parse_common "$@"
set -- "${REST[@]+"${REST[@]}"}"
while [ $# -gt 0 ]; do
  case "$1" in
    --launch) LAUNCH=1; shift ;;
    --instance-type) INSTANCE_TYPE=$2; shift 2 ;;
    --ami) AMI=$2; shift 2 ;;
    --key-name) KEY_NAME=$2; shift 2 ;;
    --my-ip) MY_IP=$2; shift 2 ;;
    --features) FEATURES+=("$2"); shift 2 ;;
    -p) [ $# -ge 3 ] || die "-p needs NAME VALUE"; PARAMS+=(-p "$2" "$3"); shift 3 ;;
    --force) FORCE=1; shift ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option: $1 (see --help)" ;;
  esac
done

check_key; ssh_opts
for f in "${FEATURES[@]+"${FEATURES[@]}"}"; do [ -d "$f" ] || die "feature directory not found: $f"; done

launch_instance() {
  [ -n "$AMI" ] || die "--launch needs --ami (or EMOREC_EC2_AMI): an AWS Deep Learning AMI for your region"
  [ -n "$KEY_NAME" ] || KEY_NAME=$(basename "${KEY%.*}")
  if [ -z "$MY_IP" ]; then
    MY_IP=$(curl -fsS --max-time 10 https://checkip.amazonaws.com | tr -d '[:space:]') || die "cannot find your public IP; pass --my-ip"
  fi
  [[ "$MY_IP" =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] || die "not an IPv4 address: $MY_IP"
  local sg="emorec-ssh-$NAME" sg_id
  if [ "$DRY_RUN" = 1 ]; then
    run awsc ec2 create-security-group --group-name "$sg" --description "SSH for $NAME from $MY_IP/32"
    run awsc ec2 authorize-security-group-ingress --group-name "$sg" --protocol tcp --port 22 --cidr "$MY_IP/32"
    run awsc ec2 run-instances --image-id "$AMI" --instance-type "$INSTANCE_TYPE" --key-name "$KEY_NAME" \
        --security-groups "$sg" --tag-specifications "ResourceType=instance,Tags=[{Key=Name,Value=$NAME},{Key=Project,Value=emorec_nb}]"
    INSTANCE_ID="i-DRYRUN"; return
  fi
  sg_id=$(awsc ec2 describe-security-groups --filters "Name=group-name,Values=$sg" --query 'SecurityGroups[0].GroupId' --output text 2>/dev/null || true)
  if [ -z "$sg_id" ] || [ "$sg_id" = None ]; then
    sg_id=$(awsc ec2 create-security-group --group-name "$sg" --description "SSH for $NAME from $MY_IP/32" --query GroupId --output text)
    awsc ec2 create-tags --resources "$sg_id" --tags "Key=Project,Value=emorec_nb" >/dev/null
  fi
  # Exactly one ingress rule: tcp/22 from the caller's /32. Anything wider that an earlier run left is revoked.
  local old
  old=$(awsc ec2 describe-security-groups --group-ids "$sg_id" --query 'SecurityGroups[0].IpPermissions' --output json)
  if [ "$old" != "[]" ] && [ -n "$old" ]; then awsc ec2 revoke-security-group-ingress --group-id "$sg_id" --ip-permissions "$old" >/dev/null; fi
  awsc ec2 authorize-security-group-ingress --group-id "$sg_id" --protocol tcp --port 22 --cidr "$MY_IP/32" >/dev/null
  INSTANCE_ID=$(awsc ec2 run-instances --image-id "$AMI" --instance-type "$INSTANCE_TYPE" --key-name "$KEY_NAME" \
      --security-group-ids "$sg_id" --count 1 \
      --tag-specifications "ResourceType=instance,Tags=[{Key=Name,Value=$NAME},{Key=Project,Value=emorec_nb}]" \
      --query 'Instances[0].InstanceId' --output text) || die "aws ec2 run-instances failed"
  say "launched $INSTANCE_ID ($INSTANCE_TYPE, $AMI), SSH open to $MY_IP/32 only"
}

if [ "$DRY_RUN" = 1 ] && [ "$LAUNCH" = 1 ]; then launch_instance
else
  INSTANCE_ID=$(find_instance) || true
  if [ -z "$INSTANCE_ID" ]; then
    [ "$LAUNCH" = 1 ] || die "no instance tagged Name=$NAME; use --instance-id ID or --launch"
    launch_instance
  fi
fi

STAMP=$(date +%Y%m%d_%H%M%S)
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

# Code and notebooks; never .git, results, data, caches or local secrets.
run rssh "mkdir -p $RDIR_Q/runs $RDIR_Q/data/features"
run rsync -az -e "$(rsync_ssh)" --exclude=.git/ --exclude=.venv/ --exclude=models/ --exclude=runs/ --exclude=data/ \
    --exclude=bench/ --exclude=_proc/ --exclude=_docs/ --exclude=.ec2/ --exclude=__pycache__/ --exclude='*.egg-info/' \
    --exclude=.ipynb_checkpoints/ --exclude=.pytest_cache/ --exclude='*.pem' --exclude='*.key' --exclude='.env' \
    "$REPO_ROOT/" "$SSH_USER@$HOST:$REMOTE_DIR/"
FEAT_PARAM=""
for f in "${FEATURES[@]+"${FEATURES[@]}"}"; do
  name=$(basename "$(cd "$f" && pwd)")
  run rsync -az -e "$(rsync_ssh)" "$f/" "$SSH_USER@$HOST:$REMOTE_DIR/data/features/$name/"
  FEAT_PARAM="${FEAT_PARAM:+$FEAT_PARAM,}data/features/$name"
done
[ -n "$FEAT_PARAM" ] && PARAMS=(-p feature_dirs "$FEAT_PARAM" "${PARAMS[@]+"${PARAMS[@]}"}")

if [ -z "$REMOTE_PYTHON" ]; then
  # A venv that sees the AMI's TensorFlow/CUDA, with the project installed (editable) into it.
  run rssh "cd $RDIR_Q && { [ -x .venv/bin/python ] || python3 -m venv --system-site-packages .venv; } && .venv/bin/python -m pip install -q -e ."
  PY=".venv/bin/python"; PYPATH=""
else
  PY=$REMOTE_PYTHON
  # shellcheck disable=SC2016  # written into the launcher, expanded there
  PYPATH='export PYTHONPATH="$PWD"   # the given Python as it is; the transferred code first'
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
  printf ' %q' "${PARAMS[@]+"${PARAMS[@]}"}" --log-output; echo
  echo "echo \$? > runs/train-$STAMP.exit"
} > "$LAUNCHER"
[ "$DRY_RUN" = 1 ] && { echo "launcher runs/train-$STAMP.sh:"; sed 's/^/    /' "$LAUNCHER"; }
run rsync -a -e "$(rsync_ssh)" "$LAUNCHER" "$SSH_USER@$HOST:$REMOTE_DIR/runs/train-$STAMP.sh"
run rssh "cd $RDIR_Q && rm -f runs/train.pid && ln -sfn train-$STAMP.log runs/latest.log && echo $STAMP > runs/latest && \
setsid -f nohup bash runs/train-$STAMP.sh > runs/train-$STAMP.log 2>&1 < /dev/null"

MON="ec2/monitor_ec2_cnn_lstm_training.sh --instance-id $INSTANCE_ID --key $(printf '%q' "$KEY") --user $SSH_USER"
[ "$SSH_PORT" != 22 ] && MON="$MON --ssh-port $SSH_PORT"
[ "$REMOTE_DIR" != emorec_nb ] && MON="$MON --remote-dir $(printf '%q' "$REMOTE_DIR")"
[ -n "$REMOTE_PYTHON" ] && MON="$MON --python $(printf '%q' "$REMOTE_PYTHON")"
cat <<TXT
== training started on $INSTANCE_ID ($HOST): runs/train-$STAMP.ipynb, log runs/train-$STAMP.log, PID in runs/train.pid
Monitor it:
  $MON            # interactive menu
  $MON --status   # or --gpu, --log, --summary, --fetch, --stop
TXT
