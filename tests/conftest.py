"""Shared fixtures. Real reference data lives in ../shared/data (read-only, never copied into the project)."""
import os, shutil, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def strict() -> bool:
    return os.environ.get("EMOREC_REQUIRE_SHARED", "") not in ("", "0")


@pytest.fixture(scope="session")
def shared() -> Path:
    "The shared reference data: skipped where absent, a failure under EMOREC_REQUIRE_SHARED=1 (CI)."
    p = Path(os.environ.get("EMOREC_SHARED_DATA", ROOT.parent/"shared"/"data"))
    if not p.is_dir():
        if strict(): pytest.fail(f"shared reference data not found at {p} and EMOREC_REQUIRE_SHARED is set")
        pytest.skip(f"shared reference data not found at {p}")
    return p


def need_tool(name: str):
    "Skip (fail under EMOREC_REQUIRE_SHARED=1) when a system tool is missing."
    if shutil.which(name) or Path(f"/usr/sbin/{name}").exists(): return
    if strict(): pytest.fail(f"{name} is not installed and EMOREC_REQUIRE_SHARED is set: run `bash tools/dev.sh setup`")
    pytest.skip(f"{name} is not installed")


def run(cmd, timeout=600, **kw):
    "Run a command, returning the CompletedProcess; output is kept for assertion messages."
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **kw.pop("env", {})}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, **kw)


def _repo_files() -> set:
    "Untracked and ignored files in the repository; bytecode, caches and the docs build's own folders aside."
    r = subprocess.run(["git", "status", "--porcelain", "--ignored", "--untracked-files=all"], cwd=ROOT, capture_output=True, text=True)
    # the docs build (tools/docs.py proc, tested in test_docs.py) writes where nbdev and quarto read: _proc/ and the
    # generated nbs/nbdev.yml, nbs/sidebar.yml; all ignored by git, like bytecode
    skip = ("__pycache__", ".pytest_cache", ".venv/", ".egg-info", ".ipynb_checkpoints", "_proc/", "nbs/nbdev.yml", "nbs/sidebar.yml")
    return {l[3:] for l in r.stdout.splitlines() if l[:2] in ("??", "!!") and not any(s in l for s in skip)}


@pytest.fixture(scope="session", autouse=True)
def tests_write_only_to_temporary_folders():
    "The test session must leave the repository as it found it: tests and benchmarks write only to temporary folders."
    before = _repo_files()
    yield
    new = sorted(_repo_files() - before)
    assert not new, f"the tests wrote into the repository: {new[:20]}"
