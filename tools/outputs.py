#!/usr/bin/env python3
"""Execute notebooks in place so that their outputs are saved, then clean them (`nbdev_clean` keeps outputs).

    python tools/outputs.py nbs/40_cli.ipynb ...

Run from the repository root with the project's environment. Only for notebooks whose outputs are deterministic
(no timings, no temporary paths, seeded randomness): `tools/dev.sh test` checks that `nbdev_clean` leaves the
committed notebooks unchanged, and `nbdev_test` re-runs every cell."""
import os, subprocess, sys
from pathlib import Path

def main(paths):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    bindir = Path(sys.executable).parent
    for p in map(Path, paths):
        print(f"== {p}", flush=True)
        subprocess.run([str(bindir/"exec_nb"), p.name, "--dest", p.name, "--exc_stop"], cwd=p.parent, env=env, check=True,
                       stderr=subprocess.DEVNULL)
        subprocess.run([str(bindir/"nbdev_clean"), "--fname", str(p)], check=True)

if __name__ == "__main__": main(sys.argv[1:])
