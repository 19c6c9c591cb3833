"""The EC2 scripts end to end, against real servers on 127.0.0.1 only: moto_server as the EC2 API (for the aws CLI)
and a real sshd on a free port with fresh keys standing in for the instance. Both are stopped at the end."""
import getpass, json, os, shutil, socket, subprocess, sys, time
from pathlib import Path
import numpy as np, pandas as pd
import pytest
from conftest import BIN, ROOT, run, need_tool, strict

DEPLOY, MONITOR = str(ROOT/"ec2"/"deploy_fixed_cnn_lstm_model_to_ec2.sh"), str(ROOT/"ec2"/"monitor_ec2_cnn_lstm_training.sh")
MY_IP = "198.51.100.23"          # a documentation address: only written into the security group, never contacted


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]


def wait_port(port, proc, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None: raise RuntimeError(f"server exited: {proc.stderr.read() if proc.stderr else ''}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0: return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


def stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try: proc.wait(10)
        except subprocess.TimeoutExpired: proc.kill(); proc.wait()


@pytest.fixture(scope="module")
def moto():
    port = free_port()
    p = subprocess.Popen([str(BIN/"moto_server"), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_port(port, p); yield f"http://127.0.0.1:{port}"
    finally: stop(p)


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    need_tool("sshd"); need_tool("rsync")
    d = tmp_path_factory.mktemp("sshd")
    for name in ("hostkey", "id_emorec"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d/name)], check=True)
    (d/"authorized_keys").write_text((d/"id_emorec.pub").read_text())
    os.chmod(d/"id_emorec", 0o600)
    try: Path("/run/sshd").mkdir(parents=True, exist_ok=True)
    except PermissionError:
        if strict(): raise
        pytest.skip("sshd needs /run/sshd (run the tests as root, as CI does)")
    port, user = free_port(), getpass.getuser()
    (d/"sshd_config").write_text(f"""Port {port}
ListenAddress 127.0.0.1
HostKey {d}/hostkey
PidFile {d}/sshd.pid
AuthorizedKeysFile {d}/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
AllowUsers {user}
""")
    sshd_bin = shutil.which("sshd") or "/usr/sbin/sshd"
    p = subprocess.Popen([sshd_bin, "-D", "-e", "-f", str(d/"sshd_config")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_port(port, p); yield dict(port=port, key=d/"id_emorec", user=user, dir=d)
    finally: stop(p)


@pytest.fixture(scope="module")
def env(moto, sshd, tmp_path_factory):
    d = tmp_path_factory.mktemp("ec2")
    # the "instance" is this machine: its auto-stop must record the power-off, never do it
    (d/"fake_shutdown").write_text(f'#!/bin/sh\necho "shutdown $*" >> {d}/shutdown.log\n'); os.chmod(d/"fake_shutdown", 0o755)
    e = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
         "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": str(d/"aws_config"),
         "AWS_SHARED_CREDENTIALS_FILE": str(d/"aws_credentials"), "EMOREC_AWS_ENDPOINT_URL": moto,
         "EMOREC_TEST_HOST_OVERRIDE": "127.0.0.1", "EMOREC_KNOWN_HOSTS": str(d/"known_hosts"),
         "EMOREC_EC2_KEY": str(sshd["key"]), "EMOREC_EC2_USER": sshd["user"], "EMOREC_EC2_SSH_PORT": str(sshd["port"]),
         "EMOREC_EC2_REMOTE_DIR": str(d/"remote"/"emorec_nb"), "EMOREC_EC2_PYTHON": sys.executable, "EMOREC_MY_IP": MY_IP,
         "EMOREC_EC2_TIMEOUT": "60", "EMOREC_EC2_SHUTDOWN": str(d/"fake_shutdown")}
    e.pop("AWS_PROFILE", None)
    aws = lambda *a: json.loads(run(["aws", "--endpoint-url", moto, "--output", "json", "ec2", *a], env=e).stdout or "{}")
    aws("import-key-pair", "--key-name", "emorec-test", "--public-key-material", f"fileb://{sshd['key']}.pub")
    ami = aws("describe-images", "--owners", "amazon")["Images"][0]["ImageId"]
    return dict(env=e, aws=aws, ami=ami, dir=d, remote=d/"remote"/"emorec_nb")


@pytest.fixture(scope="module")
def features(tmp_path_factory):
    need_tool("espeak-ng")
    from emorec_nb.demo import run_demo
    r = run_demo(tmp_path_factory.mktemp("feat")/"demo", size="tiny", extractor_epochs=1)
    return [str(p) for p in r["feature_dirs"].values()]


def sh(script, *args, env, timeout=300):
    return run(["bash", script, *args], env=env, timeout=timeout, cwd=ROOT)


def poll_status(env, want, timeout=600):
    seen, end = [], time.time() + timeout
    while time.time() < end:
        r = sh(MONITOR, "--status", env=env)
        line = (r.stdout.strip().splitlines() or [""])[0]
        seen.append(line)
        if line.startswith(f"status: {want}"): return seen, r
        time.sleep(1)
    raise AssertionError(f"never saw status {want!r}; saw {seen[-5:]}")


def test_scripts_pass_shellcheck():
    need_tool("shellcheck")
    r = run(["shellcheck", "-x", "ec2/common.sh", DEPLOY, MONITOR], cwd=ROOT)
    assert r.returncode == 0, r.stdout


def test_dry_run_changes_nothing(env):
    r = sh(DEPLOY, "--dry-run", "--launch", "--ami", env["ami"], "--key-name", "emorec-test", env=env["env"])
    assert r.returncode == 0, r.stderr
    assert "would run: awsc ec2 run-instances" in r.stdout and f"--cidr {MY_IP}/32" in r.stdout
    assert env["aws"]("describe-instances")["Reservations"] == []


@pytest.fixture(scope="module")
def instance(env):
    "A running instance tagged Name=emorec-train for the tests that deploy onto an existing one (made here if missing)."
    found = env["aws"]("describe-instances", "--filters", "Name=tag:Name,Values=emorec-train", "Name=instance-state-name,Values=pending,running")
    ids = [i["InstanceId"] for r in found["Reservations"] for i in r["Instances"]]
    if ids: return ids[0]
    r = env["aws"]("run-instances", "--image-id", env["ami"], "--instance-type", "g4dn.xlarge", "--count", "1",
                   "--tag-specifications", "ResourceType=instance,Tags=[{Key=Name,Value=emorec-train}]")
    return r["Instances"][0]["InstanceId"]


def instances(env, name):
    "(id, state) of every instance tagged Name=name."
    r = env["aws"]("describe-instances", "--filters", f"Name=tag:Name,Values={name}")
    return [(i["InstanceId"], i["State"]["Name"]) for res in r["Reservations"] for i in res["Instances"]]


def test_deploy_launch_train_monitor_fetch(env, features, tmp_path):
    e = {**env["env"], "EMOREC_EC2_NAME": "emorec-happy"}
    planted = plant_secrets()
    try:
        r = sh(DEPLOY, "--launch", "--ami", env["ami"], "--key-name", "emorec-test", "--features", features[0],
               "--features", features[1], "-p", "epochs", "2", "-p", "patience", "2", "--allow-cpu", "--auto-stop", "7", env=e)
    finally:
        for p in planted: p.unlink()
        for p in sorted({p.parent for p in planted}, key=lambda q: -len(q.parts)):
            if p != ROOT and not any(p.iterdir()): p.rmdir()
    assert r.returncode == 0, r.stdout + r.stderr
    assert "running on its CPU as asked (--allow-cpu)" in r.stdout
    assert "training started on i-" in r.stdout and "--status" in r.stdout
    inst = env["aws"]("describe-instances", "--filters", "Name=tag:Name,Values=emorec-happy")["Reservations"][0]["Instances"][0]
    assert inst["InstanceType"] == "g4dn.xlarge"
    # the security group opens the SSH port in use to the caller's /32 and nothing else
    sg = env["aws"]("describe-security-groups", "--group-ids", inst["SecurityGroups"][0]["GroupId"])["SecurityGroups"][0]
    assert [(p["IpProtocol"], p["FromPort"], p["ToPort"], [x["CidrIp"] for x in p["IpRanges"]]) for p in sg["IpPermissions"]] \
        == [("tcp", int(e["EMOREC_EC2_SSH_PORT"]), int(e["EMOREC_EC2_SSH_PORT"]), [f"{MY_IP}/32"])]
    # only the files git tracks, and the feature folders under names of their own
    remote = env["remote"]
    assert (remote/"nbs"/"train.ipynb").exists() and not (remote/".git").exists() and not (remote/".venv").exists()
    arrived = {str(p.relative_to(remote)) for p in remote.rglob("*") if p.is_file()}
    for p in planted: assert str(p.relative_to(ROOT)) not in arrived, p
    tracked = set(subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split())
    made_there = ("data/", "runs/", "models/")                          # written on the instance, with __pycache__
    assert {a for a in arrived if not a.startswith(made_there) and "__pycache__" not in a} <= tracked
    assert sorted(p.name for p in (remote/"data"/"features").iterdir()) == sorted(f"{i:02d}_{Path(f).name}" for i, f in enumerate(features, 1))
    seen, _ = poll_status(e, "running", timeout=120)
    seen2, _ = poll_status(e, "finished", timeout=900)
    assert any(s.startswith("status: running") for s in seen + seen2)
    # auto-stop: once the training ended, the instance was told to power off in 7 minutes
    wait_for(lambda: (env["dir"]/"shutdown.log").exists(), 30)
    assert (env["dir"]/"shutdown.log").read_text().splitlines()[-1] == "shutdown +7"
    run_dir = next((remote/"models").glob("cnn_lstm_fixed_*"))
    dev = json.loads((run_dir/"params.json").read_text())["device"]
    assert dev["backend"] == "tensorflow" and dev["lstm_kernel"] == "generic" and dev["device"].startswith("CPU")
    r = sh(MONITOR, "--summary", env=e)
    assert r.returncode == 0 and "bilstm" in r.stdout and "pooling" in r.stdout and "UAR" in r.stdout, r.stdout + r.stderr
    assert "SYNTHETIC" in r.stdout
    r = sh(MONITOR, "--gpu", env=e)
    assert r.returncode == 0 and ("no GPU" in r.stdout or "utilization" in r.stdout)
    r = sh(MONITOR, "--log", "--lines", "5", env=e)
    assert r.returncode == 0 and r.stdout.strip()
    log = (remote/"runs"/"latest.log").read_text()          # papermill's progress, without the kernel's socket warning
    assert "Executing notebook with kernel" in log and "without encryption" not in log and "WARNING" not in log, log[-3000:]
    dest = tmp_path/"back"
    r = sh(MONITOR, "--fetch", str(dest), env=e)
    assert r.returncode == 0, r.stderr
    # a second fetch refreshes what changed remotely (a status fetched mid-run must not stay stale)
    st = next(dest.rglob("status.json")); remote_st = remote/st.relative_to(dest)
    remote_st.write_text(remote_st.read_text().replace("finished", "finished-again")); os.utime(remote_st, (time.time() + 5,) * 2)
    r = sh(MONITOR, "--fetch", str(dest), env=e)
    assert r.returncode == 0 and "finished-again" in st.read_text(), r.stderr
    h5 = sorted(dest.rglob("*.h5"))
    assert {p.name for p in h5} == {"lstm_model.h5", "pooling_model.h5"}
    from emorec_nb.models import load_model
    x = np.load(next(Path(features[0]).rglob("*.npy")))[None]
    for p in h5:
        m = load_model(p); assert m.predict(x, verbose=0).shape == (1, 8)
    assert list(dest.rglob("train-*.ipynb"))
    # menu mode, driven through stdin
    r = run(["bash", MONITOR], env=e, input="1\nq\n", cwd=ROOT)
    assert r.returncode == 0 and "status: finished" in r.stdout and "1) status" in r.stdout


def wait_for(cond, timeout):
    end = time.time() + timeout
    while time.time() < end:
        if cond(): return True
        time.sleep(0.5)
    raise AssertionError("timed out")


SECRETS = [".aws/credentials", ".env.local", ".envrc", "id_ed25519", "secrets/x.PEM", "prod_accessKeys.csv", ".netrc",
           "deploy.ppk", "nbs/.env", "notes/password.txt"]


def plant_secrets():
    "Files a user may keep in a checkout (untracked): none may reach the instance. Returns what it planted."
    out = []
    for rel in SECRETS:
        p = ROOT/rel
        assert not p.exists(), f"{p} exists already; the test will not touch it"
        p.parent.mkdir(parents=True, exist_ok=True); p.write_text("SECRET\n"); out.append(p)
    return out


def test_refuses_a_second_training_while_one_runs(env, instance):
    e = env["env"]
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        (env["remote"]/"runs").mkdir(parents=True, exist_ok=True)
        (env["remote"]/"runs"/"train.pid").write_text(str(sleeper.pid))
        r = sh(DEPLOY, "-p", "epochs", "1", env=e)
        assert r.returncode != 0 and "a training is still running" in r.stderr
    finally: sleeper.kill(); sleeper.wait()


def test_a_crashed_run_is_reported(env, instance):
    e = env["env"]
    r = sh(DEPLOY, "-p", "feature_dirs", "data/features/does-not-exist", "-p", "epochs", "1", "--allow-cpu", env=e)
    assert r.returncode == 0, r.stderr
    _, res = poll_status(e, "crashed", timeout=300)
    assert res.returncode == 2 and "exit status 1" in res.stdout and "does-not-exist" in res.stdout


def test_bad_key_and_unreachable_host_give_clear_messages(env, instance, tmp_path):
    e = env["env"]
    r = sh(DEPLOY, "--key", str(tmp_path/"missing.pem"), env=e)
    assert r.returncode != 0 and "SSH key not found" in r.stderr
    loose = tmp_path/"loose.pem"; loose.write_text("x"); os.chmod(loose, 0o644)
    r = sh(MONITOR, "--status", "--key", str(loose), env=e)
    assert r.returncode != 0 and "mode 644; it must be 0600" in r.stderr
    r = sh(MONITOR, "--status", "--ssh-port", str(free_port()), "--timeout", "4", env=e)
    assert r.returncode != 0 and "cannot reach" in r.stderr and "over SSH within 4s" in r.stderr


# -- cost safety, inputs, host keys, the default install path ---------------------------------------------------------

def port_is_free(port):
    with socket.socket() as s: return s.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.parametrize("keep", [False, True])
def test_a_launch_that_never_answers_ssh_is_terminated_or_stopped(env, keep):
    "SSH never answers (nothing listens on port 2222): the instance this command launched must not keep billing."
    assert port_is_free(2222)
    name = f"emorec-nossh-{int(keep)}"
    e = {**env["env"], "EMOREC_EC2_NAME": name, "EMOREC_EC2_SSH_PORT": "2222", "EMOREC_EC2_TIMEOUT": "4"}
    r = sh(DEPLOY, "--launch", "--ami", env["ami"], "--key-name", "emorec-test", *(["--keep-on-failure"] if keep else []), env=e)
    assert r.returncode != 0 and "cannot reach" in r.stderr
    [(iid, state)] = instances(env, name)
    assert iid in r.stderr and ("was STOPPED" if keep else "was TERMINATED") in r.stderr, r.stderr
    assert state in (("stopping", "stopped") if keep else ("shutting-down", "terminated")), state
    # the security group opened exactly the SSH port in use, to the caller's /32
    sg = env["aws"]("describe-security-groups", "--group-names", f"emorec-ssh-{name}")["SecurityGroups"][0]
    assert [(p["FromPort"], p["ToPort"], [x["CidrIp"] for x in p["IpRanges"]]) for p in sg["IpPermissions"]] == [(2222, 2222, [f"{MY_IP}/32"])]
    inst = env["aws"]("describe-instance-attribute", "--instance-id", iid, "--attribute", "instanceInitiatedShutdownBehavior")
    assert inst["InstanceInitiatedShutdownBehavior"]["Value"] == "stop"


def test_a_failed_instance_lookup_launches_nothing(env, tmp_path):
    "describe-instances fails once: the deploy must stop there, not take it for 'no instance' and launch a second one."
    fake = tmp_path/"bin"; fake.mkdir()
    real = shutil.which("aws", path=env["env"]["PATH"])
    (fake/"aws").write_text(f"""#!/bin/sh
case "$*" in *describe-instances*)
  if [ ! -e {tmp_path}/failed ]; then touch {tmp_path}/failed; echo "An error occurred (RequestLimitExceeded)" >&2; exit 255; fi ;;
esac
exec {real} "$@"
""")
    os.chmod(fake/"aws", 0o755)
    e = {**env["env"], "PATH": f"{fake}:{env['env']['PATH']}", "EMOREC_EC2_NAME": "emorec-flaky"}
    r = sh(DEPLOY, "--launch", "--ami", env["ami"], "--key-name", "emorec-test", env=e)
    assert r.returncode != 0 and "cannot look up instances" in r.stderr and "nothing was launched" in r.stderr, r.stderr
    assert (tmp_path/"failed").exists() and instances(env, "emorec-flaky") == []


def test_stop_and_terminate_use_the_api_when_ssh_is_down(env):
    r = env["aws"]("run-instances", "--image-id", env["ami"], "--instance-type", "g4dn.xlarge", "--count", "1",
                   "--tag-specifications", "ResourceType=instance,Tags=[{Key=Name,Value=emorec-down}]")
    iid = r["Instances"][0]["InstanceId"]
    e = {**env["env"], "EMOREC_EC2_NAME": "emorec-down", "EMOREC_EC2_SSH_PORT": str(free_port()), "EMOREC_EC2_TIMEOUT": "3"}
    r = sh(MONITOR, "--stop", env=e, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() in ("stopping", "stopped"), r.stdout + r.stderr
    r = sh(MONITOR, "--instance-id", iid, "--terminate", env=e, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() in ("shutting-down", "terminated"), r.stdout + r.stderr
    assert instances(env, "emorec-down")[0][1] in ("shutting-down", "terminated")


@pytest.mark.parametrize("args, why", [
    (["-p", "x=1;import os", "1"], "must be a Python identifier"),
    (["-p", "__import__('os').system('id')#", "1"], "must be a Python identifier"),
    (["--remote-dir", "emorec; touch /tmp/pwned"], "--remote-dir may hold only"),
    (["--remote-dir", "../../etc"], "must not contain '..'"),
    (["--ssh-port", "22 -o ProxyCommand=x"], "--ssh-port must be a whole number"),
    (["--auto-stop", "20; reboot"], "--auto-stop must be a whole number"),
])
def test_deploy_refuses_unsafe_inputs_before_doing_anything(env, args, why):
    e = {**env["env"], "EMOREC_EC2_NAME": "emorec-unsafe"}
    r = sh(DEPLOY, "--launch", "--ami", env["ami"], *args, env=e)
    assert r.returncode != 0 and why in r.stderr, r.stderr
    assert instances(env, "emorec-unsafe") == []


def test_monitor_refuses_a_non_numeric_line_count(env, tmp_path):
    r = sh(MONITOR, "--log", "--lines", f"5; touch {tmp_path}/pwned", env=env["env"])
    assert r.returncode != 0 and "--lines must be a whole number" in r.stderr and not (tmp_path/"pwned").exists()


def test_a_changed_host_key_fails_at_once(env, instance, sshd, tmp_path):
    other = tmp_path/"other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    kh = tmp_path/"known_hosts"
    kh.write_text(f"[127.0.0.1]:{sshd['port']} {' '.join(Path(str(other) + '.pub').read_text().split()[:2])}\n")
    t0 = time.time()
    r = sh(MONITOR, "--status", env={**env["env"], "EMOREC_KNOWN_HOSTS": str(kh), "EMOREC_EC2_TIMEOUT": "60"}, timeout=120)
    assert r.returncode != 0 and time.time() - t0 < 30, r.stderr          # not retried for the whole timeout
    assert f"ssh-keygen -f '{kh}' -R '[127.0.0.1]:{sshd['port']}'" in r.stderr, r.stderr


def test_default_install_uses_the_gpu_extra_and_refuses_a_machine_without_gpu(env, instance, tmp_path):
    "No --python: the deploy installs `.[gpu]` into a venv on the instance (pip faked there) and checks for a GPU."
    remote = tmp_path/"remote"/"emorec_nb"; venv_bin = remote/".venv"/"bin"; venv_bin.mkdir(parents=True)
    log = tmp_path/"pip.log"
    (venv_bin/"python").write_text(f"""#!/bin/sh
if [ "$1" = -m ] && [ "$2" = pip ]; then echo "$*" >> {log}; exit 0; fi
exec {sys.executable} "$@"
""")
    os.chmod(venv_bin/"python", 0o755)
    e = {k: v for k, v in env["env"].items() if k != "EMOREC_EC2_PYTHON"}
    e["EMOREC_EC2_REMOTE_DIR"] = str(remote)
    r = sh(DEPLOY, "-p", "feature_dirs", "data/features/none", env=e)
    assert r.returncode != 0 and "no GPU visible to Keras on " + instance in r.stderr and "--allow-cpu" in r.stderr, r.stderr
    assert log.read_text().splitlines() == ["-m pip install -q -e .[gpu]"]
    assert not (remote/"runs"/"latest").exists()                      # nothing started
    assert instances(env, "emorec-train")[0][1] == "running"          # an instance it did not launch is never touched
    r = sh(DEPLOY, "-p", "feature_dirs", "data/features/none", "--allow-cpu", "--no-auto-stop", env=e)
    assert r.returncode == 0 and "training started on " + instance in r.stdout and "auto-stop: off" in r.stdout, r.stderr


def test_ami_auto_reads_the_ssm_parameter(env):
    "--ami auto resolves the AMI from an SSM parameter (AWS's public one by default; a test one here, as moto reserves /aws/)."
    e = {**env["env"], "EMOREC_EC2_NAME": "emorec-auto", "EMOREC_EC2_SSH_PORT": "2222", "EMOREC_EC2_TIMEOUT": "3"}
    r = sh(DEPLOY, "--launch", "--ami", "auto", "--ami-param", "/emorec/test/missing", "--key-name", "emorec-test", env=e)
    assert r.returncode != 0 and "cannot read the GPU AMI from the SSM parameter /emorec/test/missing" in r.stderr
    assert instances(env, "emorec-auto") == []
    run(["aws", "--endpoint-url", env["env"]["EMOREC_AWS_ENDPOINT_URL"], "ssm", "put-parameter", "--name", "/emorec/test/gpu-ami",
         "--value", env["ami"], "--type", "String"], env=env["env"])
    r = sh(DEPLOY, "--launch", "--ami", "auto", "--ami-param", "/emorec/test/gpu-ami", "--key-name", "emorec-test", env=e)
    assert f"launched i-" in r.stdout and f", {env['ami']})" in r.stdout, r.stdout + r.stderr
    iid = instances(env, "emorec-auto")[0][0]
    img = env["aws"]("describe-instances", "--instance-ids", iid)["Reservations"][0]["Instances"][0]["ImageId"]
    assert img == env["ami"]


@pytest.fixture(scope="module")
def demo_audio(tmp_path_factory):
    need_tool("espeak-ng")
    from emorec_nb.demo_corpus import make_demo_corpus
    d = make_demo_corpus(tmp_path_factory.mktemp("audio")/"demo", size="tiny")
    return [str(d/"ravdess"), str(d/"cremad")]


def test_the_study_runs_on_the_instance_and_the_summary_shows_its_folds(env, instance, demo_audio, tmp_path):
    e = {**env["env"], "EMOREC_EC2_REMOTE_DIR": str(tmp_path/"remote"/"emorec_nb")}
    r = sh(DEPLOY, "--study", "--audio", demo_audio[0], "--audio", demo_audio[1], "-p", "folds", "2", "-p", "epochs", "1",
           "-p", "patience", "1", "-p", "extractor_epochs", "1", "-p", "seeds", "1", "--allow-cpu", env=e)
    assert r.returncode == 0 and "training started on " + instance in r.stdout, r.stdout + r.stderr
    poll_status(e, "finished", timeout=1200)
    r = sh(MONITOR, "--summary", env=e)
    assert r.returncode == 0 and "cross-validated study" in r.stdout, r.stdout + r.stderr
    for s in ("fold", "strict", "baseline", "pooling", "bilstm", "UAR"): assert s in r.stdout, s
