"""Documentation sources, without quarto.

    python tools/docs.py readme   # write README.md from nbs/index.ipynb
    python tools/docs.py check    # exit 1 if README.md is not what nbs/index.ipynb generates
    python tools/docs.py proc     # nbdev's docs preprocessing into _proc/ (what `quarto render` reads), then
                                  # render with quarto if it is installed

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
    return HEADER + "\n\n".join(parts) + "\n"


def proc():
    sys.path.insert(0, str(ROOT))
    import os; os.chdir(ROOT)
    from nbdev.quarto import refresh_quarto_yml, nbdev_sidebar
    from nbdev.serve import proc_nbs
    import nbdev.doclinks
    refresh_quarto_yml()
    nbdev.doclinks._build_modidx()
    nbdev_sidebar.__wrapped__()
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
