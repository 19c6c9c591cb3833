"""The benchmark command in tiny mode, so that it cannot rot (figures are printed, never asserted on speed)."""
import json, sys
import pytest
from conftest import BIN, ROOT, run, need_tool


def test_emorec_bench_tiny_writes_every_section(tmp_path):
    need_tool("espeak-ng")
    out = tmp_path/"bench"
    r = run([str(BIN/"emorec-bench"), "--tiny", "--threads", "1,2", "--out", str(out)], cwd=ROOT, timeout=900)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    md = (out/"results.md").read_text()
    for s in ["## 1. Padding efficiency", "## 2. Training time per epoch", "## 3. Data-pipeline overhead",
              "## 4. Feature extraction", "## 5. Single-clip prediction latency", "## 6. Memory of a training epoch", "Tiny mode"]:
        assert s in md, s
    assert "CPU threads pinned: 1 per operation, 2 operations at once" in md
    res = json.loads((out/"results.json").read_text())
    assert res["machine"]["threads"] == "1 per operation, 2 operations at once"
    assert {r["strategy"] for r in res["training"]} == {"global", "shuffled", "bucket"}
    assert {r["lstm_kernel"] for r in res["training"] if r["model"] == "bilstm"} == {"generic"}   # no GPU in the tests
    assert res["latency"]["latency_ms_median"] > 0 and res["extraction"]["real_time_factor"] > 0
    assert (out/"results.csv").exists() and (out/"bench.png").exists()
    assert not (ROOT/"BENCHMARKS.md").exists() or "Tiny mode" not in (ROOT/"BENCHMARKS.md").read_text()


_NO_TENSORFLOW = """
import sys
class _NoTensorFlow:
    "Stands for a GPU machine that has JAX and no TensorFlow: any import of it fails."
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "tensorflow": raise ImportError("tensorflow is blocked in this test")
sys.meta_path.insert(0, _NoTensorFlow())
from emorec_nb.cli import bench as main
rc = main(sys.argv[1:])
assert not any(m.split(".")[0] == "tensorflow" for m in sys.modules), "tensorflow was imported"
sys.exit(rc)
"""


def test_training_benchmark_runs_under_jax_without_tensorflow(tmp_path):
    "The GPU section must run under Keras's JAX (or PyTorch) backend, where TensorFlow may be absent."
    try: import jax  # noqa: F401  (a dev dependency: settings.ini)
    except ImportError:
        pytest.fail("jax is not installed: run `bash tools/dev.sh setup` (it is a dev dependency)")
    out = tmp_path/"bench"
    r = run([sys.executable, "-c", _NO_TENSORFLOW, "--tiny", "--only", "efficiency,training,pipeline", "--out", str(out)],
            cwd=ROOT, timeout=900, env={"KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"})
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    res = json.loads((out/"results.json").read_text())
    assert res["machine"]["backend"] == "jax"
    tr = res["training"]
    assert {(t["model"], t["strategy"]) for t in tr} == {(m, s) for m in ("bilstm", "pooling") for s in ("global", "shuffled", "bucket")}
    assert all(t["backend"] == "jax" and t["epoch_s"] > 0 and t["cpu_s"] > 0 for t in tr)
    assert {t["lstm_kernel"] for t in tr if t["model"] == "bilstm"} == {"generic"}  # JAX has no fused LSTM in Keras
    assert res["pipeline"]["overhead_pct"] > 0
    md = (out/"results.md").read_text()
    assert "## 2. Training time per epoch" in md and "## 4." not in md and "## 6." not in md


def test_bench_refuses_unknown_sections_and_partial_publish():
    r = run([str(BIN/"emorec-bench"), "--only", "training,speed"], cwd=ROOT, timeout=120)
    assert r.returncode == 2 and "unknown section(s) speed" in r.stderr, r.stderr[-2000:]
    r = run([str(BIN/"emorec-bench"), "--only", "training", "--publish"], cwd=ROOT, timeout=120)
    assert r.returncode == 2 and "--publish needs every section" in r.stderr, r.stderr[-2000:]
    for bad in ("0", "1,2,3", "two"):
        r = run([str(BIN/"emorec-bench"), "--only", "efficiency", "--threads", bad], cwd=ROOT, timeout=120)
        assert r.returncode == 2 and f"--threads: expected N or N,INTER (positive integers), got '{bad}'" in r.stderr, r.stderr[-2000:]
