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
    e = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
         "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": str(d/"aws_config"),
         "AWS_SHARED_CREDENTIALS_FILE": str(d/"aws_credentials"), "EMOREC_AWS_ENDPOINT_URL": moto,
         "EMOREC_TEST_HOST_OVERRIDE": "127.0.0.1", "EMOREC_KNOWN_HOSTS": str(d/"known_hosts"),
         "EMOREC_EC2_KEY": str(sshd["key"]), "EMOREC_EC2_USER": sshd["user"], "EMOREC_EC2_SSH_PORT": str(sshd["port"]),
         "EMOREC_EC2_REMOTE_DIR": str(d/"remote"/"emorec_nb"), "EMOREC_EC2_PYTHON": sys.executable, "EMOREC_MY_IP": MY_IP,
         "EMOREC_EC2_TIMEOUT": "60"}
    e.pop("AWS_PROFILE", None)
    aws = lambda *a: json.loads(run(["aws", "--endpoint-url", moto, "--output", "json", "ec2", *a], env=e).stdout or "{}")
    aws("import-key-pair", "--key-name", "emorec-test", "--public-key-material", f"fileb://{sshd['key']}.pub")
    ami = aws("describe-images", "--owners", "amazon")["Images"][0]["ImageId"]
    return dict(env=e, aws=aws, ami=ami, dir=d, remote=d/"remote"/"emorec_nb")


@pytest.fixture(scope="module")
def features(tmp_path_factory):
    need_tool("espeak-ng")
    from emorec_nb.pipeline import run_demo
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


def test_deploy_launch_train_monitor_fetch(env, features, tmp_path):
    e = env["env"]
    r = sh(DEPLOY, "--launch", "--ami", env["ami"], "--key-name", "emorec-test", "--features", features[0],
           "--features", features[1], "-p", "epochs", "2", "-p", "patience", "2", env=e)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "training started on i-" in r.stdout and "--status" in r.stdout
    inst = env["aws"]("describe-instances")["Reservations"][0]["Instances"][0]
    assert {"Key": "Name", "Value": "emorec-train"} in inst["Tags"] and inst["InstanceType"] == "g4dn.xlarge"
    # the security group opens port 22 to the caller's /32 and nothing else
    sg = env["aws"]("describe-security-groups", "--group-ids", inst["SecurityGroups"][0]["GroupId"])["SecurityGroups"][0]
    assert [(p["IpProtocol"], p["FromPort"], p["ToPort"], [x["CidrIp"] for x in p["IpRanges"]]) for p in sg["IpPermissions"]] \
        == [("tcp", 22, 22, [f"{MY_IP}/32"])]
    # never .git, models or caches on the instance
    remote = env["remote"]
    assert (remote/"nbs"/"train.ipynb").exists() and not (remote/".git").exists() and not (remote/".venv").exists()
    assert sorted(p.name for p in (remote/"data"/"features").iterdir()) == sorted(Path(f).name for f in features)
    seen, _ = poll_status(e, "running", timeout=120)
    seen2, _ = poll_status(e, "finished", timeout=900)
    assert any(s.startswith("status: running") for s in seen + seen2)
    r = sh(MONITOR, "--summary", env=e)
    assert r.returncode == 0 and "bilstm" in r.stdout and "pooling" in r.stdout and "UAR" in r.stdout, r.stdout + r.stderr
    assert "SYNTHETIC" in r.stdout
    r = sh(MONITOR, "--gpu", env=e)
    assert r.returncode == 0 and ("no GPU" in r.stdout or "utilization" in r.stdout)
    r = sh(MONITOR, "--log", "--lines", "5", env=e)
    assert r.returncode == 0 and r.stdout.strip()
    dest = tmp_path/"back"
    r = sh(MONITOR, "--fetch", str(dest), env=e)
    assert r.returncode == 0, r.stderr
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


def test_refuses_a_second_training_while_one_runs(env):
    e = env["env"]
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        (env["remote"]/"runs"/"train.pid").write_text(str(sleeper.pid))
        r = sh(DEPLOY, "-p", "epochs", "1", env=e)
        assert r.returncode != 0 and "a training is still running" in r.stderr
    finally: sleeper.kill(); sleeper.wait()


def test_a_crashed_run_is_reported(env):
    e = env["env"]
    r = sh(DEPLOY, "-p", "feature_dirs", "data/features/does-not-exist", "-p", "epochs", "1", env=e)
    assert r.returncode == 0, r.stderr
    _, res = poll_status(e, "crashed", timeout=300)
    assert res.returncode == 2 and "exit status 1" in res.stdout and "does-not-exist" in res.stdout


def test_bad_key_and_unreachable_host_give_clear_messages(env, tmp_path):
    e = env["env"]
    r = sh(DEPLOY, "--key", str(tmp_path/"missing.pem"), env=e)
    assert r.returncode != 0 and "SSH key not found" in r.stderr
    loose = tmp_path/"loose.pem"; loose.write_text("x"); os.chmod(loose, 0o644)
    r = sh(MONITOR, "--status", "--key", str(loose), env=e)
    assert r.returncode != 0 and "mode 644; it must be 0600" in r.stderr
    r = sh(MONITOR, "--status", "--ssh-port", str(free_port()), "--timeout", "4", env=e)
    assert r.returncode != 0 and "cannot reach" in r.stderr and "over SSH within 4s" in r.stderr
