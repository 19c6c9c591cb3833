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
    sidebar = (proc/"sidebar.yml").read_text()
    for section in ("Pipeline stages", "Running it", "Reports", "Exploration"): assert f"section: {section}" in sidebar
    listed = [l.strip()[2:] for l in sidebar.splitlines() if l.strip().startswith("- ") and l.strip().endswith(".ipynb")]
    assert sorted(listed) == sorted(p.name for p in (ROOT/"nbs").glob("*.ipynb")), listed      # each notebook once
    import json
    def outputs(name): return [o for c in json.loads((proc/name).read_text())["cells"] for o in c.get("outputs", [])]
    for nb in sorted((ROOT/"nbs").glob("[0-9][0-9]_*.ipynb")):
        assert outputs(nb.name), f"{nb.name}: the processed page has no outputs"
    assert any("image/png" in o.get("data", {}) for o in outputs("explore_lengths.ipynb")), "no figure in explore_lengths"


def test_notebooks_keep_small_cells_with_outputs():
    "Exported cells stay small (median ≤ 12 lines, ≤ 1.5 definitions each) and every module notebook shows outputs."
    r = run([sys.executable, "tools/cellstats.py", "--check"], cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_readme_study_table_is_the_published_study():
    "Every number of the README's results table is the one in docs/study/summary.json (the study it cites)."
    import json
    s = json.loads((ROOT/"docs"/"study"/"summary.json").read_text())["models"]
    variants = {"strict": "strict", "speaker-normalised": "speaker_norm"}
    models = {"linear baseline": "baseline", "pooling": "pooling", "BiLSTM": "bilstm", "ensemble of the three": "ensemble"}
    rows = re.findall(r"^\| (strict|speaker-normalised) \| ([^|]+?) \| (.+) \|$", (ROOT/"README.md").read_text(), re.M)
    assert len(rows) == len(s) == 8, rows
    for variant, model, cells in rows:
        m = s[f"{variants[variant]}/{models[model]}"]
        uar, acc, f1, ci = [c.strip().strip("*") for c in cells.split("|")]
        assert uar == f"{m['uar']:.3f} ± {m['uar_std']:.3f}", (variant, model, uar)
        assert acc == f"{m['accuracy']:.3f} ± {m['accuracy_std']:.3f}", (variant, model, acc)
        assert f1 == f"{m['macro_f1']:.3f} ± {m['macro_f1_std']:.3f}", (variant, model, f1)
        assert ci == f"{m['uar_ci95'][0]:.3f}–{m['uar_ci95'][1]:.3f}", (variant, model, ci)
