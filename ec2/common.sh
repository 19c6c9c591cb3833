#!/usr/bin/env bash
# Shared by the EC2 scripts: settings, the aws/ssh/rsync wrappers, instance lookup. Sourced, not run.
# Settings come from flags (parsed by each script) or these environment variables:
#   AWS_PROFILE, AWS_REGION          the aws CLI's own profile and region
#   EMOREC_EC2_KEY                   private key file (must be mode 0600), e.g. ~/.ssh/emorec.pem
#   EMOREC_EC2_USER                  login user on the instance (default: ubuntu, as on the Deep Learning AMIs)
#   EMOREC_EC2_NAME                  Name tag of the instance (default: emorec-train)
#   EMOREC_EC2_INSTANCE_ID           use this instance instead of looking it up by name
#   EMOREC_EC2_REMOTE_DIR            working directory on the instance (default: emorec_nb, in the user's home)
#   EMOREC_EC2_PYTHON                Python on the instance to run with (default: a venv made in the remote dir)
#   EMOREC_EC2_SSH_PORT              SSH port (default: 22)
#   EMOREC_KNOWN_HOSTS               known_hosts file kept by the project (default: .ec2/known_hosts in the repository)
# Only the tests set these three: EMOREC_AWS_ENDPOINT_URL (an EC2/SSM API endpoint such as a local moto_server),
# EMOREC_TEST_HOST_OVERRIDE (the address to SSH to instead of the public IP the API reports) and
# EMOREC_EC2_SHUTDOWN (the power-off command the instance runs for auto-stop; default: sudo shutdown -h).

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NAME=${EMOREC_EC2_NAME:-emorec-train}
INSTANCE_ID=${EMOREC_EC2_INSTANCE_ID:-}
KEY=${EMOREC_EC2_KEY:-}
SSH_USER=${EMOREC_EC2_USER:-ubuntu}
REMOTE_DIR=${EMOREC_EC2_REMOTE_DIR:-emorec_nb}
REMOTE_PYTHON=${EMOREC_EC2_PYTHON:-}
SSH_PORT=${EMOREC_EC2_SSH_PORT:-22}
KNOWN_HOSTS=${EMOREC_KNOWN_HOSTS:-$REPO_ROOT/.ec2/known_hosts}
TIMEOUT=${EMOREC_EC2_TIMEOUT:-600}
DRY_RUN=0
HOST=""

die() { echo "error: $*" >&2; exit 1; }
say() { echo "== $*"; }

# aws CLI with the region/profile from the environment and, in tests only, a local endpoint.
awsc() {
  local args=()
  [ -n "${EMOREC_AWS_ENDPOINT_URL:-}" ] && args+=(--endpoint-url "$EMOREC_AWS_ENDPOINT_URL")
  [ -n "${AWS_REGION:-}" ] && args+=(--region "$AWS_REGION")
  aws "${args[@]}" "$@"
}

# Print a command in dry-run mode, run it otherwise.
run() {
  if [ "$DRY_RUN" = 1 ]; then printf 'would run:'; printf ' %q' "$@"; echo; else "$@"; fi
}

# Octal permission bits of a file, with GNU stat (Linux) or BSD stat (macOS).
file_mode() { stat -c '%a' "$1" 2>/dev/null || stat -f '%Lp' "$1"; }

# Refuse values that would reach a remote shell or Python unquoted: integers, identifiers, safe paths.
check_int() { [[ "$2" =~ ^[0-9]+$ ]] || die "$1 must be a whole number, not '$2'"; }
check_ident() { [[ "$2" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "$1 must be a Python identifier (letters, digits, _), not '$2'"; }
check_path() {
  [[ "$2" =~ ^[A-Za-z0-9._/~+-]+$ ]] || die "$1 may hold only letters, digits and . _ / ~ + -, not '$2'"
  case "/$2/" in */../*) die "$1 must not contain '..': '$2'" ;; esac
}

check_key() {
  [ -n "$KEY" ] || die "no SSH key given: use --key PATH or EMOREC_EC2_KEY"
  [ -f "$KEY" ] || die "SSH key not found: $KEY"
  local mode
  mode=$(file_mode "$KEY")
  [ "$mode" = 600 ] || [ "$mode" = 400 ] || die "SSH key $KEY has mode $mode; it must be 0600 (chmod 600 '$KEY')"
}

ssh_opts() {
  mkdir -p "$(dirname "$KNOWN_HOSTS")"
  SSH_OPTS=(-i "$KEY" -p "$SSH_PORT" -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile="$KNOWN_HOSTS"
            -o BatchMode=yes -o ConnectTimeout=5 -o ServerAliveInterval=15 -o IdentitiesOnly=yes)
}

# The remote command is built (and quoted with printf %q) by the caller: expanding it here is intended.
# shellcheck disable=SC2029
# -n: never read the caller's standard input (the monitor's menu reads it).
rssh() { ssh -n "${SSH_OPTS[@]}" "$SSH_USER@$HOST" "$@"; }
# shellcheck disable=SC2029
rssh_tty() { ssh -t "${SSH_OPTS[@]}" "$SSH_USER@$HOST" "$@"; }

rsync_ssh() { printf 'ssh -i %q -p %q -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile=%q -o BatchMode=yes -o ConnectTimeout=5 -o IdentitiesOnly=yes' "$KEY" "$SSH_PORT" "$KNOWN_HOSTS"; }

# The instance id: --instance-id, or the newest non-terminated instance tagged Name=$NAME; prints nothing when there
# is none. Returns non-zero when the lookup itself failed: callers must abort then, never launch.
find_instance() {
  if [ -n "$INSTANCE_ID" ]; then echo "$INSTANCE_ID"; return 0; fi
  local id
  id=$(awsc ec2 describe-instances \
        --filters "Name=tag:Name,Values=$NAME" "Name=instance-state-name,Values=pending,running,stopping,stopped" \
        --query 'sort_by(Reservations[].Instances[], &LaunchTime)[-1].InstanceId' --output text) || return 1
  if [ -n "$id" ] && [ "$id" != None ]; then echo "$id"; fi
  return 0
}

# Look the instance up, or die: a failed lookup never counts as "no instance".
lookup_instance() {
  local id
  id=$(find_instance) || die "cannot look up instances (aws ec2 describe-instances failed); nothing was launched or changed"
  INSTANCE_ID=$id
}

instance_state() { awsc ec2 describe-instances --instance-ids "$1" --query 'Reservations[0].Instances[0].State.Name' --output text; }

# Wait (bounded) until the instance runs, then set HOST to its public address (or the test override).
wait_running() {
  local id=$1 deadline=$((SECONDS + TIMEOUT)) state
  while :; do
    state=$(instance_state "$id") || die "cannot describe instance $id"
    [ "$state" = running ] && break
    [ "$state" = stopped ] && { say "starting stopped instance $id"; awsc ec2 start-instances --instance-ids "$id" >/dev/null; }
    [ "$state" = terminated ] && die "instance $id is terminated"
    [ $SECONDS -ge $deadline ] && die "instance $id is still '$state' after ${TIMEOUT}s"
    sleep 3
  done
  if [ -n "${EMOREC_TEST_HOST_OVERRIDE:-}" ]; then HOST=$EMOREC_TEST_HOST_OVERRIDE
  else HOST=$(awsc ec2 describe-instances --instance-ids "$id" --query 'Reservations[0].Instances[0].PublicIpAddress' --output text)
  fi
  if [ -z "$HOST" ] || [ "$HOST" = None ]; then die "instance $id has no public IP address"; fi
}

# A host key that changed is never retried: say which line to delete.
host_key_check() {
  case "$1" in *"REMOTE HOST IDENTIFICATION HAS CHANGED"*|*"Host key verification failed"*)
    local h=$HOST; [ "$SSH_PORT" = 22 ] || h="[$HOST]:$SSH_PORT"
    die "the SSH host key of $h is not the one in $KNOWN_HOSTS (a new instance at an old address, or an attack). If the instance was replaced, delete the old key with: ssh-keygen -f '$KNOWN_HOSTS' -R '$h'" ;;
  esac
}

# Wait (bounded) until SSH answers.
wait_ssh() {
  local deadline=$((SECONDS + TIMEOUT)) err
  while :; do
    if err=$(rssh true 2>&1); then return 0; fi
    host_key_check "$err"
    [ $SECONDS -ge $deadline ] && die "cannot reach $SSH_USER@$HOST:$SSH_PORT over SSH within ${TIMEOUT}s (last error: ${err##*$'\n'})"
    sleep 2
  done
}

# Resolve the instance (given or by name), wait for it and for SSH. Sets INSTANCE_ID and HOST.
connect() {
  check_key; ssh_opts
  lookup_instance
  [ -n "$INSTANCE_ID" ] || die "no instance tagged Name=$NAME (use --instance-id, or deploy with --launch)"
  wait_running "$INSTANCE_ID"
  wait_ssh
}

# The remote Python: given, or the venv that deploy made in the remote directory.
remote_python() { if [ -n "$REMOTE_PYTHON" ]; then echo "$REMOTE_PYTHON"; else echo "$REMOTE_DIR/.venv/bin/python"; fi; }

# Parse the options both scripts share; sets REST to the remaining arguments.
parse_common() {
  REST=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --instance-id) INSTANCE_ID=$2; shift 2 ;;
      --name) NAME=$2; shift 2 ;;
      --key) KEY=$2; shift 2 ;;
      --user) SSH_USER=$2; shift 2 ;;
      --remote-dir) REMOTE_DIR=$2; shift 2 ;;
      --python) REMOTE_PYTHON=$2; shift 2 ;;
      --ssh-port) SSH_PORT=$2; shift 2 ;;
      --timeout) TIMEOUT=$2; shift 2 ;;
      --region) AWS_REGION=$2; shift 2 ;;
      --profile) export AWS_PROFILE=$2; shift 2 ;;
      *) REST+=("$1"); shift ;;
    esac
  done
  check_int --ssh-port "$SSH_PORT"; check_int --timeout "$TIMEOUT"
  check_path --remote-dir "$REMOTE_DIR"
  [ -z "$REMOTE_PYTHON" ] || check_path --python "$REMOTE_PYTHON"
  [ -z "$INSTANCE_ID" ] || [[ "$INSTANCE_ID" =~ ^i-[0-9a-f]+$ ]] || die "--instance-id must look like i-0123abcd, not '$INSTANCE_ID'"
}
