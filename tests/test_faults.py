"""Faults as users meet them: processes killed with SIGKILL at every point of a training run, a full and a read-only
disk (a small tmpfs), bad feature files planted among good ones, an extractor that is not the run's. Each ends in
one clean `error:` line (never a traceback), leaves nothing half-written, and the same work resumes once the cause
is gone. All on the synthetic demo corpus."""
import json, os, shutil, signal, subprocess, time
from pathlib import Path
import numpy as np, pandas as pd
import pytest
from conftest import BIN, ROOT, run, need_tool, strict

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    "A tiny demo corpus, its extractor and its features, made once for this module."
    need_tool("espeak-ng")
    from emorec_nb.demo import run_demo
    d = tmp_path_factory.mktemp("demo")
    r = run_demo(d/"demo", size="tiny", extractor_epochs=2)
    return dict(audio=d/"demo"/"ravdess", extractor=r["extractor"], features=[str(p) for p in r["feature_dirs"].values()])


@pytest.fixture
def tmpfs(tmp_path):
    "Mount a small tmpfs (root only); `resize(mb)` changes its size and keeps its files. Unmounted afterwards."
    mnt = tmp_path/"mnt"; mnt.mkdir()
    def mount(opts): return subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(mnt)], capture_output=True, text=True)
    def remount(opts): return subprocess.run(["mount", "-o", f"remount,{opts}", str(mnt)], capture_output=True, text=True)
    r = mount("size=1m") if os.geteuid() == 0 else None
    if r is None or r.returncode != 0:
        why = f"cannot mount a tmpfs ({'not root' if r is None else r.stderr.strip()})"
        if strict(): pytest.fail(why + " and EMOREC_REQUIRE_SHARED is set")
        pytest.skip(why)
    class T:
        path = mnt
        def resize(self, mb): assert remount(f"size={mb}m").returncode == 0
        def read_only(self): assert remount("ro").returncode == 0
    yield T()
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def one_error_line(r) -> str:
    "The process failed with exactly one `error:` line and no traceback; return that line."
    assert r.returncode != 0, r.stdout[-2000:]
    assert "Traceback" not in r.stderr and "Exception ignored" not in r.stderr, r.stderr[-3000:]
    errs = [l for l in r.stderr.splitlines() if l.startswith("error:")]
    assert len(errs) == 1, r.stderr[-3000:]
    return errs[0]


def debris(d: Path) -> list:
    "Half-written files: our temporary names (hidden, with .part or a random infix)."
    return [p for p in d.rglob(".*") if p.is_file() and (p.name.endswith(".part") or p.name.count(".") >= 3)]


def train_cmd(demo, out, name, model="both", epochs=3, *extra):
    return [str(BIN/"emorec-train"), "--feature-dirs", *demo["features"], "--model", model, "--epochs", str(epochs),
            "--patience", "50", "--out", str(out), "--run-name", name, *extra]


def start_and_kill(cmd, log: Path, when, timeout=300):
    "Start `cmd`, SIGKILL it as soon as `when(stdout so far)` holds."
    with open(log, "w") as f:
        p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=ENV)
        deadline = time.time() + timeout
        while time.time() < deadline and p.poll() is None and not when(log.read_text()): time.sleep(0.02)
        alive = p.poll() is None
        p.send_signal(signal.SIGKILL); p.wait()
    assert alive, "the run ended before the kill: " + log.read_text()[-2000:]


def resume(run_dir):
    r = run([str(BIN/"emorec-train"), "--resume", str(run_dir)], timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads((run_dir/"status.json").read_text())["state"] == "finished"
    return r


# -- SIGKILL at every point of a run ------------------------------------------------------------------------------

def test_killed_in_the_first_epoch_then_between_models_then_in_the_second_models_first_epoch(demo, tmp_path):
    rd = tmp_path/"r"
    # 1. in the BiLSTM's first epoch: nothing of it is saved yet
    start_and_kill(train_cmd(demo, tmp_path, "r"), tmp_path/"1.log", lambda out: "training bilstm" in out)
    assert not (rd/".backup"/"bilstm"/"state.json").exists() and not (rd/"history_bilstm.csv").exists()
    assert json.loads((rd/"status.json").read_text())["state"] == "running"
    # 2. resumed, and killed again between the two models (lstm_model.h5 written, the pooling model not started)
    start_and_kill([str(BIN/"emorec-train"), "--resume", str(rd)], tmp_path/"2.log", lambda out: (rd/"lstm_model.h5").exists())
    assert (rd/"lstm_model.h5").exists() and not (rd/".backup"/"pooling"/"state.json").exists()
    # 3. resumed, and killed in the pooling model's first epoch
    start_and_kill([str(BIN/"emorec-train"), "--resume", str(rd)], tmp_path/"3.log", lambda out: "training pooling" in out)
    assert not (rd/".backup"/"pooling"/"state.json").exists()
    # 4. resumed to the end: both models, every epoch once, no resume state or half-written file left
    resume(rd)
    for k in ("bilstm", "pooling"): assert pd.read_csv(rd/f"history_{k}.csv")["epoch"].tolist() == [0, 1, 2]
    assert (rd/"lstm_model.h5").exists() and (rd/"pooling_model.h5").exists() and (rd/"comparison.csv").exists()
    assert not (rd/".backup").exists() and not debris(rd)
    # finished files have the usual modes (0644 files, 0755 folders under umask 022)
    for p in [rd, *rd.rglob("*")]:
        assert p.stat().st_mode & 0o777 == (0o755 if p.is_dir() else 0o644), (p, oct(p.stat().st_mode))


def test_a_resumed_run_is_the_run_it_would_have_been(demo, tmp_path):
    "Killed after epoch 2 and resumed, a run uses the same batch plans and reaches the same numbers as one never killed."
    r = run(train_cmd(demo, tmp_path, "a", "bilstm", 6), timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    state = tmp_path/"b"/".backup"/"bilstm"/"state.json"
    start_and_kill(train_cmd(demo, tmp_path, "b", "bilstm", 6), tmp_path/"b.log",
                   lambda out: state.exists() and json.loads(state.read_text())["epoch"] >= 2)
    killed_at = json.loads(state.read_text())["epoch"]
    assert 2 <= killed_at < 6
    resume(tmp_path/"b")
    a, b = pd.read_csv(tmp_path/"a"/"history_bilstm.csv"), pd.read_csv(tmp_path/"b"/"history_bilstm.csv")
    assert b["epoch"].tolist() == list(range(6))
    assert b["plan"].tolist() == a["plan"].tolist()                   # the same batches in the same order, every epoch
    assert a["plan"].nunique() == 6                                   # (and the plans do change from epoch to epoch)
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-5)   # same losses: weights, optimizer, dropout RNG, LR



def test_a_model_averaged_over_seeds_resumes_inside_its_second_training(demo, tmp_path):
    """Killed in the second of a BiLSTM's two trainings (`seeds=2`) and resumed: the first is not trained again, the
    second goes on from its last epoch, and both histories are an uninterrupted run's."""
    code = ("import sys; from emorec_nb.trainer import train; "
            "train(run_dir=sys.argv[1], feature_dirs=sys.argv[2:], model='bilstm', epochs=3, patience=50, seeds=2)")
    cmd = lambda d: [str(BIN/"python"), "-c", code, str(d), *demo["features"]]
    r = run(cmd(tmp_path/"a"), timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    b, state = tmp_path/"b", tmp_path/"b"/".backup"/"bilstm_seed1"/"state.json"
    start_and_kill(cmd(b), tmp_path/"b.log", lambda out: state.exists())
    assert json.loads(state.read_text())["epoch"] < 3 and not (b/"lstm_model.h5").exists()
    first = (b/"history_bilstm.csv").stat().st_mtime_ns
    resume(b)
    assert (b/"history_bilstm.csv").stat().st_mtime_ns == first                  # the first training was not run again
    for h in ("history_bilstm.csv", "history_bilstm_seed1.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(tmp_path/"a"/h), pd.read_csv(b/h), check_exact=False, rtol=1e-5)
    from emorec_nb.models import read_spec
    assert read_spec(b/"lstm_model.h5")["members"] == 2 and not (b/".backup").exists()

# -- full and read-only disks ---------------------------------------------------------------------------------------

def test_training_on_a_full_disk_fails_cleanly_and_resumes_once_there_is_space(demo, tmpfs):
    tmpfs.resize(14)                                   # room for the first epoch's state, not for the run
    r = run(train_cmd(demo, tmpfs.path, "r", "bilstm", 3), timeout=900)
    line = one_error_line(r)
    assert "no space left on the device" in line and "emorec-train --resume" in line, line
    rd = tmpfs.path/"r"
    st = json.loads((rd/"status.json").read_text())
    assert st["state"] == "failed" and "No space left" in st["error"]
    assert not debris(rd)
    tmpfs.resize(64)                                    # space freed: the same run resumes to the end
    resume(rd)
    assert pd.read_csv(rd/"history_bilstm.csv")["epoch"].tolist() == [0, 1, 2] and (rd/"lstm_model.h5").exists()


def test_extraction_on_a_full_disk_fails_cleanly_and_the_same_command_resumes(demo, tmpfs):
    tmpfs.resize(4)                                    # the 180 clips' features need about 10 MB
    out = tmpfs.path/"feats"
    cmd = [str(BIN/"emorec-extract"), str(demo["audio"]), "--out", str(out), "--extractor", str(demo["extractor"]), "--no-progress"]
    r = run(cmd, timeout=600)
    line = one_error_line(r)
    assert "no space left on the device" in line and "run the same command again" in line, line
    assert not debris(out)
    done = len(list(out.rglob("*.npy")))
    assert 0 < done < 180 and not json.loads((out/"manifest.json").read_text())["complete"]
    tmpfs.resize(64)
    r = run(cmd, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"{done} already done" in r.stdout and len(list(out.rglob("*.npy"))) == 180
    assert json.loads((out/"manifest.json").read_text())["complete"]


def test_a_read_only_output_folder_gives_one_clean_line(demo, tmpfs):
    tmpfs.read_only()
    r = run(train_cmd(demo, tmpfs.path/"models", "r", "pooling", 1))
    assert "read-only" in one_error_line(r)
    r = run([str(BIN/"emorec-extract"), str(demo["audio"]), "--out", str(tmpfs.path/"feats"), "--extractor", str(demo["extractor"])])
    assert "read-only" in one_error_line(r)


# -- bad feature files: named before any training step, no run directory left behind ---------------------------------

def _bad_copy(demo, tmp_path, make_bad):
    "A copy of the demo's RAVDESS features with one file spoiled by `make_bad(path)`."
    d = tmp_path/"feats"; shutil.copytree(demo["features"][0], d)
    victim = sorted(d.rglob("*.npy"))[7]
    make_bad(victim)
    return d, victim


def _lying_header(p):
    raw = p.read_bytes()
    with open(p, "wb") as f:
        np.lib.format.write_array_header_1_0(f, dict(descr="<f4", fortran_order=False, shape=(10**9, 128)))
        f.write(raw[128:])


SPOILERS = {
    "nan": (lambda p: np.save(p, np.where(np.arange(np.load(p).size).reshape(np.load(p).shape) == 5, np.nan, np.load(p)).astype("float32")),
            "NaN or infinite"),
    "inf": (lambda p: np.save(p, np.full(np.load(p).shape, np.inf, "float32")), "NaN or infinite"),
    "complex": (lambda p: np.save(p, np.load(p).astype("complex64")), "real floating point"),
    "lying_header": (_lying_header, "but the file has"),
    "truncated_after_header": (lambda p: p.write_bytes(p.read_bytes()[:128]), "truncated"),
}


@pytest.mark.parametrize("kind", list(SPOILERS))
def test_bad_feature_files_are_named_before_training(demo, tmp_path, kind):
    spoil, why = SPOILERS[kind]
    d, victim = _bad_copy(demo, tmp_path, spoil)
    r = run([str(BIN/"emorec-train"), "--feature-dirs", str(d), "--epochs", "1", "--out", str(tmp_path/"models")])
    assert r.returncode == 1
    assert "Traceback" not in r.stderr and victim.name in r.stderr and why in r.stderr, r.stderr[-2000:]
    assert "--on-bad skip" in r.stderr                                # the hint names the CLI flag
    assert not (tmp_path/"models").exists() or not any((tmp_path/"models").iterdir())   # no empty run directory


def test_on_bad_skip_trains_without_the_bad_files(demo, tmp_path):
    d, victim = _bad_copy(demo, tmp_path, SPOILERS["nan"][0])
    r = run([str(BIN/"emorec-train"), "--feature-dirs", str(d), "--model", "pooling", "--epochs", "1", "--on-bad", "skip",
             "--out", str(tmp_path/"models"), "--run-name", "r"], timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "skipped 1 bad feature files" in r.stderr and victim.name in r.stderr
    assert victim.stem not in pd.read_csv(tmp_path/"models"/"r"/"split.csv")["clip_id"].tolist()


def test_bad_invocations_leave_no_run_directory(demo, tmp_path):
    out = tmp_path/"models"
    for args in (["--feature-dirs", str(tmp_path/"missing")], ["--feature-dirs", str(demo["audio"])],
                 ["--feature-dirs", *demo["features"], "--policy", "all9"]):
        r = run([str(BIN/"emorec-train"), *args, "--epochs", "1", "--out", str(out)])
        assert r.returncode != 0 and "Traceback" not in r.stderr and "error:" in r.stderr, (args, r.stderr[-2000:])
        assert not out.exists() or not any(out.iterdir()), (args, list(out.iterdir()))


def test_extraction_resume_redoes_a_file_cut_short_after_its_header(demo, tmp_path):
    out = tmp_path/"feats"
    cmd = [str(BIN/"emorec-extract"), str(demo["audio"]), "--out", str(out), "--extractor", str(demo["extractor"]), "--no-progress"]
    assert run(cmd).returncode == 0
    victim = sorted(out.rglob("*.npy"))[3]; good = np.load(victim)
    victim.write_bytes(victim.read_bytes()[:128])             # the header survives, the data does not
    r = run(cmd)
    assert r.returncode == 0 and "extracted 1 clips" in r.stdout and "179 already done" in r.stdout, r.stdout
    np.testing.assert_array_equal(np.load(victim), good)
    assert json.loads((out/"manifest.json").read_text())["complete"]


# -- a different extractor at prediction time ----------------------------------------------------------------------------

def test_predict_refuses_another_extractor_unless_forced(demo, tmp_path):
    r = run(train_cmd(demo, tmp_path, "r", "pooling", 1), timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    from emorec_nb.encoder import load_extractor
    other = load_extractor(demo["extractor"]); other.mean = other.mean + 0.5; other.save(tmp_path/"other")
    clip = str(sorted(demo["audio"].rglob("*.flac"))[0])
    r = run([str(BIN/"emorec-predict"), str(tmp_path/"r"), clip, "--extractor", str(tmp_path/"other")])
    line = one_error_line(r)
    assert "is not the one that made the training features" in line and "--force-extractor" in line
    r = run([str(BIN/"emorec-predict"), str(tmp_path/"r"), clip, "--extractor", str(tmp_path/"other"), "--force-extractor"])
    assert r.returncode == 0 and "warning: --force-extractor" in r.stderr
    assert f"model: {tmp_path/'r'/'pooling_model.h5'}" in r.stderr.splitlines()          # which of the run's models it used
    assert other.sha256() in r.stderr and load_extractor(demo["extractor"]).sha256() in r.stderr
