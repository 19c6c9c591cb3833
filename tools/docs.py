"""Documentation sources, without quarto.

    python tools/docs.py readme   # write README.md from nbs/index.ipynb
    python tools/docs.py check    # exit 1 if README.md is not what nbs/index.ipynb generates
    python tools/docs.py proc     # nbdev's docs preprocessing into _proc/ (what `quarto render` reads), with the
                                  # grouped sidebar; then render with quarto if it is installed

nbdev's own `nbdev_readme` and `nbdev_proc_nbs` call quarto, and install it (with sudo) when it is missing; on
machines without internet access neither works. The README is therefore generated here from the same notebook with
a plain converter (markdown cells as they are, code cells as fenced Python, `#|` directives and hidden cells left
out), and the docs preprocessing runs nbdev's steps except the quarto install. The GitHub workflow renders the site
with quarto.
"""
import json, shutil, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEADER = "<!-- Generated from nbs/index.ipynb by tools/docs.py: edit the notebook, not this file. -->\n\n"


def readme_text(nb_path=ROOT/"nbs"/"index.ipynb") -> str:
    nb = json.loads(Path(nb_path).read_text())
    parts = []
    for c in nb["cells"]:
        src = "".join(c["source"]).rstrip()
        if c["cell_type"] == "markdown" and src:
            parts.append(src)
        elif c["cell_type"] == "code":
            lines = src.split("\n")
            if any(l.strip() in ("#| hide", "#|hide") for l in lines): continue
            code = "\n".join(l for l in lines if not l.startswith("#|")).strip()
            if code: parts.append(f"```python\n{code}\n```")
            shown = [("".join(o["text"]) if o["output_type"] == "stream" else "".join(o.get("data", {}).get("text/plain", "")))
                     for o in c.get("outputs", [])]
            if code and any(s.strip() for s in shown): parts.append("```\n" + "\n".join(s.rstrip() for s in shown if s.strip()) + "\n```")
    return HEADER + "\n\n".join(parts) + "\n"


# The docs sidebar, grouped: the pipeline's stages in order, how to run it, the reports, the explorations.
# A notebook not named here goes to the group its number says (stages below 20, running it from 20 on).
SIDEBAR_GROUPS = {"Reports": ["train.ipynb", "benchmarks.ipynb"], "Exploration": ["explore_lengths.ipynb"]}


def sidebar_groups(nbs=ROOT/"nbs") -> dict:
    "Section title -> notebooks, for every notebook of `nbs` but the index."
    named = {n for ns in SIDEBAR_GROUPS.values() for n in ns}
    stages, running = [], []
    for p in sorted(Path(nbs).glob("*.ipynb")):
        if p.name == "index.ipynb" or p.name in named: continue
        (stages if p.name[:2].isdigit() and int(p.name[:2]) < 20 else running).append(p.name)
    return {"Pipeline stages": stages, "Running it": running,
            **{k: [n for n in v if (Path(nbs)/n).exists()] for k, v in SIDEBAR_GROUPS.items()}}


def sidebar_yml(nbs=ROOT/"nbs") -> str:
    "quarto's sidebar.yml with the notebooks in sections."
    lines = ["website:", "  sidebar:", "    contents:", "      - index.ipynb"]
    for title, names in sidebar_groups(nbs).items():
        lines += [f"      - section: {title}", "        contents:"] + [f"          - {n}" for n in names]
    return "\n".join(lines) + "\n"


def proc():
    sys.path.insert(0, str(ROOT))
    import os; os.chdir(ROOT)
    from nbdev.quarto import refresh_quarto_yml
    from nbdev.serve import proc_nbs
    import nbdev.doclinks
    refresh_quarto_yml()
    nbdev.doclinks._build_modidx()
    (ROOT/"nbs"/"sidebar.yml").write_text(sidebar_yml())     # settings.ini: custom_sidebar = True, so nbdev keeps it
    cache = proc_nbs(ROOT/"nbs")
    print(f"docs sources ready in {cache}")
    if shutil.which("quarto"):
        subprocess.run(["quarto", "render", str(cache)], check=True)
    else:
        print("quarto is not installed: render with `quarto render _proc` where it is (the deploy workflow does)")
    return cache


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else "readme"
    if cmd == "readme":
        (ROOT/"README.md").write_text(readme_text()); print("wrote README.md")
    elif cmd == "check":
        ok = (ROOT/"README.md").exists() and (ROOT/"README.md").read_text() == readme_text()
        print("README.md is in sync with nbs/index.ipynb" if ok else "README.md is stale: run `python tools/docs.py readme`")
        sys.exit(0 if ok else 1)
    elif cmd == "proc":
        proc()
    else:
        sys.exit(__doc__)
