"""The README's main job, as a user runs it: the `emorec-demo` console script in a subprocess."""
from pathlib import Path
from conftest import BIN, ROOT, run, need_tool


def test_emorec_demo_runs_on_a_fresh_corpus(tmp_path):
    need_tool("espeak-ng")
    base = tmp_path/"demo"; out = base/"data"/"demo"
    r = run([str(BIN/"emorec-demo"), "--out", str(base), "--size", "tiny", "--epochs", "1"], cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "WARNING" not in r.stderr, r.stderr[-3000:]          # nor papermill's, nor the report kernel's
    # everything under --out: corpus, extractor and features, the report and the models
    assert len(list((base/"runs").glob("train-*.ipynb"))) == 1
    runs = list((base/"models").glob("cnn_lstm_fixed_*"))
    assert len(runs) == 1 and (runs[0]/"lstm_model.h5").exists() and (runs[0]/"pooling_model.h5").exists()
    assert (base/"data"/"features"/"demo_extractor"/"config.json").exists()
    assert "SYNTHETIC DEMO CORPUS" in r.stdout
    assert "corpus summary" in r.stdout and "actor split" in r.stdout and "padding efficiency" in r.stdout
    summary = r.stdout.split("corpus summary")[1]
    assert "cremad" in summary and "ravdess" in summary
    assert (out/"manifest.json").exists() and len(list(out.rglob("*.flac"))) == 180
    # a second run reuses the corpus, and a different size refuses to touch it
    r2 = run([str(BIN/"emorec-demo"), "--out", str(base), "--size", "tiny", "--epochs", "0"], cwd=ROOT)
    assert r2.returncode == 0, r2.stderr
    r3 = run([str(BIN/"emorec-demo"), "--out", str(base), "--size", "small"], cwd=ROOT)
    assert r3.returncode != 0 and "is not a demo corpus made with" in r3.stderr and "Traceback" not in r3.stderr
    assert len(list(out.rglob("*.flac"))) == 180

