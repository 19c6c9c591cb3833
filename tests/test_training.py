"""Training as users run it: papermill on nbs/train.ipynb, MirroredStrategy on two
logical CPUs, and runs that are never overwritten. All on the synthetic demo corpus's features."""
import json, os, signal, subprocess, sys, time
from pathlib import Path
import numpy as np, pandas as pd
import pytest
from conftest import BIN, ROOT, run, need_tool

RUN_FILES = ["lstm_model.h5", "pooling_model.h5", "history_bilstm.csv", "history_pooling.csv", "split.csv", "params.json",
             "metrics.json", "comparison.csv", "confusion_bilstm.png", "confusion_pooling.png"]


@pytest.fixture(scope="module")
def demo_features(tmp_path_factory):
    "Features of a tiny demo corpus (synthetic), made once for this module."
    need_tool("espeak-ng")
    from emorec_nb.demo import run_demo
    d = tmp_path_factory.mktemp("demo")
    r = run_demo(d/"demo", size="tiny", extractor_epochs=2)
    return [str(p) for p in r["feature_dirs"].values()]


def test_papermill_two_epochs_writes_every_file(demo_features, tmp_path):
    out_nb = tmp_path/"report.ipynb"
    r = run([str(BIN/"papermill"), "nbs/train.ipynb", str(out_nb), "-p", "epochs", "2", "-p", "out", str(tmp_path/"models"),
             "-p", "feature_dirs", ",".join(demo_features), "-p", "run_name", "cnn_lstm_fixed_test",
             "-p", "schedule", "cosine", "-p", "lstm", "16"], cwd=ROOT, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "Unable to parse" not in r.stderr and "unknown parameter" not in r.stderr, r.stderr[-3000:]   # papermill reads every parameter
    assert "WARNING" not in r.stderr, r.stderr[-3000:]      # the venv's kernels start quietly (tools/dev.sh: no unencrypted-sockets warning)
    run_dir = tmp_path/"models"/"cnn_lstm_fixed_test"
    p = json.loads((run_dir/"params.json").read_text())        # the report's parameters reach the trainer
    assert (p["schedule"], p["bilstm"], p["label_smoothing"], p["seeds"]) == ("cosine", {"lstm": [16]}, 0.0, 1)
    names = {p.name for p in run_dir.iterdir()}
    assert set(RUN_FILES) <= names, names
    m = json.loads((run_dir/"metrics.json").read_text())
    assert m["synthetic"] and {"bilstm", "pooling"} == set(m["models"]) and m["best_model"] in m["models"]
    for k in m["models"]:
        o = m["models"][k]["overall"]
        assert 0 <= o["uar"] <= 1 and set(o) >= {"accuracy", "uar", "macro_f1", "recall"}
        assert len(pd.read_csv(run_dir/f"history_{k}.csv")) == 2
    # the executed report holds the sections a reader needs
    nb = json.loads(out_nb.read_text())
    text = json.dumps(nb["cells"])
    for s in ["SYNTHETIC DEMO CORPUS", "Split: ", "image/png", "Better on the validation actors", "its epochs fixed beforehand", "lstm_model.h5"]:
        assert s in text, s
    # the .h5 files load through the public loader and reproduce the run's validation predictions
    from emorec_nb.models import load_model
    from emorec_nb.corpora import build_index
    idx = pd.concat([build_index(d) for d in demo_features]).set_index("clip_id")
    for k, f in [("bilstm", "lstm_model.h5"), ("pooling", "pooling_model.h5")]:
        model = load_model(run_dir/f)
        saved = pd.read_csv(run_dir/f"val_predictions_{k}.csv").set_index("clip_id").iloc[:4]
        x = [np.load(idx.loc[c, "path"])[None] for c in saved.index]
        got = np.concatenate([model.predict(a, verbose=0) for a in x])
        np.testing.assert_allclose(got, saved[model.meta["classes"]].to_numpy(float), atol=1e-5)


def test_emorec_train_runs_the_studys_recipe_on_one_split(demo_features, tmp_path):
    "The study's schedule, smoothing, seed averaging and BiLSTM shape through `emorec-train`'s flags, into one run."
    r = run([str(BIN/"emorec-train"), "--feature-dirs", *demo_features, "--model", "bilstm", "--schedule", "cosine", "--epochs", "2",
             "--label-smoothing", "0.1", "--seeds", "2", "--lstm", "16", "--out", str(tmp_path), "--run-name", "recipe"], timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    run_dir = tmp_path/"recipe"
    p = json.loads((run_dir/"params.json").read_text())
    assert (p["schedule"], p["label_smoothing"], p["seeds"], p["bilstm"], p["epochs"]) == ("cosine", 0.1, 2, {"lstm": [16]}, 2)
    for h in ("history_bilstm.csv", "history_bilstm_seed1.csv"):     # two trainings, each its two fixed epochs
        assert len(pd.read_csv(run_dir/h)) == 2, h
    from emorec_nb.models import read_spec
    spec = read_spec(run_dir/"lstm_model.h5")
    assert spec["members"] == 2 and spec["lstm"] == [16], spec
    bad = run([str(BIN/"emorec-train"), "--feature-dirs", *demo_features, "--seeds", "bilstm=2", "--out", str(tmp_path)])
    assert bad.returncode == 2 and "--seeds: give both pooling=N and bilstm=M" in bad.stderr and len(list(tmp_path.iterdir())) == 1


def test_mirrored_strategy_on_two_logical_cpus(demo_features, tmp_path):
    code = f"""
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()]*2)
from emorec_nb.trainer import train
import json
run = train(run_dir={str(tmp_path/'m')!r}, feature_dirs={demo_features!r}, epochs=2, patience=5, verbose=0,
            devices=["/cpu:0", "/cpu:1"])
print(json.dumps({{k: v["replicas"] for k, v in json.loads((run/"metrics.json").read_text())["models"].items()}}))
"""
    r = run([sys.executable, "-c", code], timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads(r.stdout.strip().splitlines()[-1]) == {"bilstm": 2, "pooling": 2}
    assert (tmp_path/"m"/"lstm_model.h5").exists() and (tmp_path/"m"/"pooling_model.h5").exists()


def test_a_run_directory_is_never_overwritten(demo_features, tmp_path):
    target = tmp_path/"existing"; target.mkdir(); (target/"notes.txt").write_text("mine")
    r = run([str(BIN/"emorec-train"), "--feature-dirs", *demo_features, "--epochs", "1", "--out", str(tmp_path), "--run-name", "existing"])
    assert r.returncode != 0 and "already exists" in r.stderr
    assert [p.name for p in target.iterdir()] == ["notes.txt"] and (target/"notes.txt").read_text() == "mine"
    from emorec_nb.core import new_run_dir
    a, b = new_run_dir(tmp_path, stamp="x"), new_run_dir(tmp_path, stamp="x")
    assert a != b and a.exists() and b.exists()


def test_a_report_that_fails_before_training_leaves_no_empty_run(tmp_path):
    "`run_train_notebook` makes the run folder before papermill starts; a report that fails first removes it again."
    import papermill as pm
    from emorec_nb.demo import run_train_notebook
    with pytest.raises(pm.PapermillExecutionError, match="missing"):
        run_train_notebook([tmp_path/"missing"], epochs=1, root=tmp_path)
    assert not any((tmp_path/"models").iterdir())
    assert len(list((tmp_path/"runs").glob("train-*.ipynb"))) == 1     # the failed report stays: it says what went wrong
