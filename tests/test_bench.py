"""The benchmark command in tiny mode, so that it cannot rot (figures are printed, never asserted on speed)."""
import json
from conftest import BIN, ROOT, run, need_tool


def test_emorec_bench_tiny_writes_every_section(tmp_path):
    need_tool("espeak-ng")
    out = tmp_path/"bench"
    r = run([str(BIN/"emorec-bench"), "--tiny", "--out", str(out)], cwd=ROOT, timeout=900)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    md = (out/"results.md").read_text()
    for s in ["## 1. Padding efficiency", "## 2. Training time per epoch", "## 3. Data-pipeline overhead",
              "## 4. Feature extraction", "## 5. Single-clip prediction latency", "## 6. Memory of a training epoch", "Tiny mode"]:
        assert s in md, s
    res = json.loads((out/"results.json").read_text())
    assert {r["strategy"] for r in res["training"]} == {"global", "shuffled", "bucket"}
    assert res["latency"]["latency_ms_median"] > 0 and res["extraction"]["real_time_factor"] > 0
    assert (out/"results.csv").exists() and (out/"bench.png").exists()
    assert not (ROOT/"BENCHMARKS.md").exists() or "Tiny mode" not in (ROOT/"BENCHMARKS.md").read_text()
