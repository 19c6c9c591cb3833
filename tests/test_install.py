"What each command installs: the demo's Python packages hold nothing that only the tests use."
import json, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEST_ONLY = {"jax", "jaxlib", "moto", "awscli", "pytest", "pytest-xdist", "nbdev", "execnb", "ghapi", "jupyterlab"}


def resolve(extras: str, tmp_path) -> set[str]:
    "The distributions `pip install -e .[extras]` would install into an empty environment (resolved, not installed)."
    report = tmp_path/f"{extras}.json"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", "--report",
                        str(report), "-e", f".[{extras}]"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return {i["metadata"]["name"].lower().replace("_", "-") for i in json.loads(report.read_text())["install"]}


def test_the_demo_installs_no_test_only_package(tmp_path):
    demo, test = resolve("cpu", tmp_path), resolve("cpu,dev", tmp_path)
    assert "tensorflow-cpu" in demo and "papermill" in demo, sorted(demo)
    assert not demo & TEST_ONLY, sorted(demo & TEST_ONLY)
    assert {"nbdev", "pytest", "pytest-xdist", "moto", "jax"} <= test, sorted(test)

