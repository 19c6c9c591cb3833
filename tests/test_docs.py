"""README comes from nbs/index.ipynb; the docs sources build up to quarto; CI runs the README's test command."""
import re, sys
from conftest import ROOT, run


def test_readme_is_generated_from_index():
    r = run([sys.executable, "tools/docs.py", "check"], cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr


def test_readme_gives_the_two_commands_and_ci_runs_the_test_one():
    readme = (ROOT/"README.md").read_text()
    assert "bash tools/dev.sh demo" in readme and "bash tools/dev.sh test" in readme
    ci = (ROOT/".ci"/"run").read_text()
    assert re.search(r"^bash tools/dev.sh test\b", ci, re.M) and "EMOREC_REQUIRE_SHARED=1" in ci


def test_docs_sources_build_without_quarto(tmp_path):
    r = run([sys.executable, "tools/docs.py", "proc"], cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    proc = ROOT/"_proc"
    assert (proc/"_quarto.yml").exists() and (proc/"index.ipynb").exists() and (proc/"01_corpora.ipynb").exists()
