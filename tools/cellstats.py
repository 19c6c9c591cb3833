#!/usr/bin/env python3
"""How the exported cells of `nbs/` read: lines and top-level definitions per exported cell, cells with outputs.

    python tools/cellstats.py            # the totals, and a line per notebook
    python tools/cellstats.py --cells    # also the longest exported cells
    python tools/cellstats.py --unshown  # also the public definitions no example, test or show_doc names
    python tools/cellstats.py --check    # exit 1 unless median ≤ 12 lines, ≤ 1.5 definitions per exported cell,
                                         # and every module notebook (NN_*.ipynb) has outputs

Counted as in issue #15: an exported cell is a code cell whose first directive is `#| export` or `#| exporti`;
its lines are the non-blank lines other than directives; its definitions are the top-level `def`, `async def`,
`class` and assignments to UPPER_CASE names (constants). A public function or class is *shown* when a later,
non-exported code cell of its notebook names it (an example, a test or `show_doc`)."""
import ast, json, re, statistics, sys
from pathlib import Path

DIRECTIVE = re.compile(r"^\s*#\s*\|\s*(\w+)")

def directives(src: str) -> list[str]:
    return [m.group(1) for l in src.splitlines() if (m := DIRECTIVE.match(l))]

def exported(cell) -> bool:
    return cell["cell_type"] == "code" and any(d in ("export", "exporti", "exports") for d in directives("".join(cell["source"])))

def lines(src: str) -> int:
    return sum(1 for l in src.splitlines() if l.strip() and not DIRECTIVE.match(l))

def definitions(src: str) -> int:
    code = "\n".join(l for l in src.splitlines() if not l.lstrip().startswith("%"))
    try: tree = ast.parse(code)
    except SyntaxError: return 1
    n = 0
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)): n += 1
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id.isupper() for t in targets): n += 1
    return n

def public_names(src: str) -> list[str]:
    try: tree = ast.parse("\n".join(l for l in src.splitlines() if not l.lstrip().startswith("%")))
    except SyntaxError: return []
    return [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and not n.name.startswith("_")]

def unshown(cells) -> tuple[int, list[str]]:
    "Public definitions of the exported cells, and those no later non-exported code cell names."
    n, missing = 0, []
    for i, c in enumerate(cells):
        if not exported(c): continue
        later = [("".join(d["source"])) for d in cells[i+1:] if d["cell_type"] == "code" and not exported(d)]
        for name in public_names("".join(c["source"])):
            n += 1
            if not any(re.search(rf"\b{name}\b", s) for s in later): missing.append(name)
    return n, missing

def stats(nbs_dir="nbs"):
    rows = []
    for nb in sorted(Path(nbs_dir).glob("*.ipynb")):
        cells = json.loads(nb.read_text())["cells"]
        ex = [c for c in cells if exported(c)]
        code = [c for c in cells if c["cell_type"] == "code"]
        rows.append(dict(notebook=nb.name, exported=[("".join(c["source"])) for c in ex],
                         with_output=sum(bool(c.get("outputs")) for c in code), code=len(code),
                         hide=sum("hide" in directives("".join(c["source"])) for c in code),
                         show_doc=sum("show_doc(" in "".join(c["source"]) for c in code), shown=unshown(cells)))
    return rows

def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    rows = stats()
    allsrc = [s for r in rows for s in r["exported"]]
    L, D = [lines(s) for s in allsrc], [definitions(s) for s in allsrc]
    defcells = [d for d in D if d]
    print(f"{len(allsrc)} exported cells in {sum(bool(r['exported']) for r in rows)} notebooks")
    print(f"median exported cell: {statistics.median(L):g} lines; over 30 lines: {sum(l > 30 for l in L)/len(L):.0%}")
    print(f"definitions per exported cell: {sum(D)/len(D):.2f} (per cell that defines something: {sum(defcells)/len(defcells):.2f})")
    pub = sum(r["shown"][0] for r in rows); miss = [(r["notebook"], m) for r in rows for m in r["shown"][1]]
    print(f"public functions and classes shown in their notebook (example, test or show_doc): {pub - len(miss)}/{pub}")
    print(f"{'notebook':24s} {'exported':>8s} {'median':>6s} {'defs/cell':>9s} {'outputs':>9s} {'hide':>4s} {'show_doc':>8s}")
    for r in rows:
        if not r["code"]: continue
        l = [lines(s) for s in r["exported"]]; d = [definitions(s) for s in r["exported"]]
        print(f"{r['notebook']:24s} {len(l):8d} {statistics.median(l) if l else 0:6g} {sum(d)/len(d) if d else 0:9.2f} "
              f"{r['with_output']:4d}/{r['code']:<4d} {r['hide']:4d} {r['show_doc']:8d}")
    if "--unshown" in argv:
        for nb, m in miss: print(f"  not shown: {nb} {m}")
    if "--check" in argv:
        bad = [f"median exported cell {statistics.median(L):g} lines > 12"] if statistics.median(L) > 12 else []
        bad += [f"{sum(D)/len(D):.2f} definitions per exported cell > 1.5"] if sum(D)/len(D) > 1.5 else []
        bad += [f"{r['notebook']}: no outputs" for r in rows if r["notebook"][:2].isdigit() and not r["with_output"]]
        if bad: print("\n".join(["FAILED:"] + bad)); sys.exit(1)
        print("ok: cells small, one definition each, outputs in every module notebook")
    if "--cells" in argv:
        for n, s in sorted(((lines(s), s) for s in allsrc), reverse=True)[:15]:
            print(f"--- {n} lines, {definitions(s)} definitions: {s.splitlines()[1][:90] if len(s.splitlines()) > 1 else s[:90]}")

if __name__ == "__main__": main()
