"Every console script: help with defaults and an example, --version, and usage mistakes as one line with exit status 2."
import configparser, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
cfg = configparser.ConfigParser(); cfg.read(ROOT/"settings.ini")
SCRIPTS = [s.split("=")[0] for s in cfg["DEFAULT"]["console_scripts"].split()]
VERSION = cfg["DEFAULT"]["version"]


def run(*args):
    return subprocess.run([str(BIN/args[0]), *args[1:]], capture_output=True, text=True, timeout=120, cwd=ROOT)


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_and_version(script):
    h = run(script, "--help")
    assert h.returncode == 0 and h.stderr == "", h.stderr
    assert "example:" in h.stdout and f"{script} " in h.stdout.split("example:")[1]
    v = run(script, "--version")
    assert v.returncode == 0 and v.stdout.strip() == f"{script} {VERSION}"


@pytest.mark.parametrize("args, message", [
    (("emorec-demo", "--policy", "all9"), "argument --policy: invalid choice: 'all9'"),
    (("emorec-demo", "--size", "huge"), "argument --size: invalid choice: 'huge'"),
    (("emorec-train", "--feature-dirs", "/no/such/features"), "feature folder /no/such/features does not exist"),
    (("emorec-train", "--model", "lstm"), "argument --model: invalid choice: 'lstm'"),
    (("emorec-extract", "/no/such/audio", "--out", "x", "--extractor", "y"), "audio folder /no/such/audio does not exist"),
    (("emorec-study", "/no/such/audio"), "audio folder /no/such/audio does not exist"),
    (("emorec-study", ".", "--folds", "five"), "--folds must be a number ≥ 2 or 'emobox', not 'five'"),
    (("emorec-study", ".", "--models", "svm"), "--models: unknown svm"),
    (("emorec-study", ".", "--speaker-norm-cnns", "strict,strict"), "--speaker-norm-cnns: speaker_norm, strict or both"),
    (("emorec-predict", "/no/such/run", "clip.wav"), "model /no/such/run does not exist"),
    (("emorec-bench", "--only", "speed"), "--only: unknown section(s) speed"),
    (("emorec-download", "timit"), "argument corpus: invalid choice: 'timit'"),
])
def test_usage_mistakes_are_one_line_and_exit_2(args, message):
    r = run(*args)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stderr.count("\n") == 1 and r.stderr.startswith(f"{args[0]}: error: ") and message in r.stderr, r.stderr
    assert r.stdout == ""
