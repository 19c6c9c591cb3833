"""The cross-validated study as users run it: `emorec-study` and papermill on the demo corpus (2 folds, 1 epoch),
`emorec-predict --speaker-norm` on its final models, and a study killed between folds then resumed."""
import json, os, signal, subprocess, time
from pathlib import Path
import pandas as pd
import pytest
from conftest import BIN, ROOT, run, need_tool
from emorec_nb.study import study_timings

QUICK = ["--folds", "2", "--epochs", "1", "--patience", "1", "--extractor-epochs", "1"]
STUDY_FILES = ["params.json", "status.json", "folds.csv", "cv_results.csv", "summary.json", "per_actor_uar.csv",
               "paired_differences.png", "confusion_pooled.png", "per_actor_uar.png", "fold_1", "fold_2", "final"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    "A tiny synthetic demo corpus (audio only), made once for this module: both naming schemes."
    need_tool("espeak-ng")
    from emorec_nb.demo_corpus import make_demo_corpus
    d = make_demo_corpus(tmp_path_factory.mktemp("demo")/"demo", size="tiny")
    return [str(d/"ravdess"), str(d/"cremad")]


def check_folds(sdir: Path):
    "Actor-disjoint folds, each actor tested once, validation actors among the training actors, extractors blind to both."
    plan = pd.read_csv(sdir/"folds.csv", dtype=str)
    test = plan[plan.role == "test"]
    assert sorted(test.speaker) == sorted(plan.speaker.unique())                 # every actor tested exactly once
    for f, g in plan.groupby("fold"):
        fold = json.loads((sdir/f"fold_{f}"/"fold.json").read_text())
        assert set(fold["test"]) == set(g.speaker[g.role == "test"]) and fold["val"]
        assert not set(fold["test"]) & (set(fold["val"]) | set(fold["fit"]))      # actor-disjoint
        assert set(fold["val"]) <= set(plan.speaker) - set(fold["test"])          # validation ⊂ training actors
        extractors = sorted((sdir/f"fold_{f}").glob("extractor*/config.json"))
        assert extractors, f"fold {f} has no extractor"
        for ex in extractors:
            seen = json.loads(ex.read_text())["trained"]["speakers"]
            assert set(seen) == set(fold["fit"]), (ex, seen)                      # never a val or test actor
            assert not set(seen) & (set(fold["val"]) | set(fold["test"]))


def test_emorec_study_writes_the_whole_study(demo, tmp_path):
    r = run([str(BIN/"emorec-study"), *demo, *QUICK, "--speaker-norm", "--out", str(tmp_path)], cwd=ROOT, timeout=1500)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert not [l for l in r.stderr.splitlines() if "WARNING" in l], r.stderr[-3000:]      # papermill, the report's kernel and its HTML export kept quiet
    last = r.stdout.strip().splitlines()[-1]
    assert last.startswith("final run: "), last
    sdir = next(tmp_path.glob("study_*"))
    names = {p.name for p in sdir.iterdir()}
    assert set(STUDY_FILES) <= names and {"report.ipynb", "report.html"} <= names, names
    check_folds(sdir)
    assert (sdir/"fold_1"/"extractor_speaker_norm"/"config.json").exists()       # speaker_norm has an extractor of its own
    seeds = {"strict": 2, "speaker_norm": 3}                # the BiLSTM trains twice strict (seeds 0, 1), three times normalised: every training's curves are kept
    for v, n in seeds.items():
        assert {f.name for f in (sdir/"fold_1").glob(f"history_{v}_bilstm*.csv")} == {f"history_{v}_bilstm.csv", *(f"history_{v}_bilstm_seed{i}.csv" for i in range(1, n))}
    cv = pd.read_csv(sdir/"cv_results.csv")
    assert len(cv[cv.model != "ensemble"]) == 2*3*2 and set(cv.variant) == {"strict", "speaker_norm"}                 # folds × models × variants
    assert set(cv.model) == {"baseline", "pooling", "bilstm", "ensemble"} and cv.uar.between(0, 1).all()
    s = json.loads((sdir/"summary.json").read_text())
    assert "strict/bilstm" in s["models"] and len(s["models"]["strict/bilstm"]["uar_ci95"]) == 2
    assert len(s["verdicts"]) == 6 and all(("better" in v) or ("worse" in v) or ("No detectable" in v) for v in s["verdicts"])
    for png in sdir.glob("*.png"): assert png.read_bytes()[:4] == b"\x89PNG"
    st = json.loads((sdir/"status.json").read_text()); runs = st["final_runs"]
    assert last == f"final run: {runs['strict']}" and Path(runs["speaker_norm"]).name.endswith("_spknorm")
    assert st["background_extractors"] and (study_timings(sdir) >= 0).all()        # the extractors trained beside the models, by default
    from emorec_nb.models import read_spec
    for v in runs: assert read_spec(Path(runs[v])/"lstm_model.h5")["members"] == seeds[v]    # the final runs average what the folds averaged
    for v in runs.values(): assert {"lstm_model.h5", "pooling_model.h5", "metrics.json"} <= {p.name for p in Path(v).iterdir()}
    for v, run_dir in runs.items():         # the final models train on every actor, as a fold's on all its training actors; predict uses the folds' better model
        met = json.loads((Path(run_dir)/"metrics.json").read_text())
        assert met["trained_on"]["clips"] == len(pd.read_csv(Path(run_dir)/"split.csv")) == json.loads((sdir/"params.json").read_text())["clips"]
        assert met["trained_on"]["speakers"] == pd.read_csv(sdir/"folds.csv").speaker.nunique() and "not an estimate" in met["note"]
        cv_uar = {m: s["models"][f"{v}/{m}"]["uar"] for m in ("pooling", "bilstm", "ensemble", "baseline")}
        assert met["best_model_from"] == "best_model, given" and cv_uar[met["best_model"]] == max(cv_uar.values()), (v, met["best_model"], cv_uar)
        assert (Path(run_dir)/"baseline.json").exists() and met.get("ensemble", ["baseline", "pooling", "bilstm"]) == ["baseline", "pooling", "bilstm"]
        assert json.loads((Path(run_dir)/"status.json").read_text())["best_model"] == met["best_model"]
        comp = pd.read_csv(Path(run_dir)/"comparison.csv", index_col=0)      # its comparison marks what emorec-predict uses (no row for the ensemble)
        assert comp.index[comp["best"]].tolist() == ([] if met["best_model"] in ("ensemble", "baseline") else [met["best_model"]]), (v, comp["best"])
    man = json.loads((Path(runs["speaker_norm"])/"params.json").read_text())["feature_manifests"][0]
    assert [Path(e["path"]).name for e in man["extractors"]] == ["extractor_speaker_norm", "extractor"]   # both CNNs' features, side by side
    assert read_spec(Path(runs["speaker_norm"])/"pooling_model.h5")["n_features"] == 2*read_spec(Path(runs["strict"])/"pooling_model.h5")["n_features"]
    report = json.loads((sdir/"report.ipynb").read_text())
    outputs = json.dumps([c.get("outputs", []) for c in report["cells"]])
    assert outputs.count("image/png") >= 4 and "Verdict" in outputs and "emorec-predict" in outputs
    assert "Traceback" not in outputs
    # the speaker-normalised final models predict a speaker's clips as a group, and refuse a group that is too small
    clips = sorted(str(p) for p in (Path(demo[0])/"Actor_01").iterdir())                   # actor 01
    r = run([str(BIN/"emorec-predict"), runs["speaker_norm"], *clips, "--speaker-norm", "--json", "--score"], cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    *lines, last = [json.loads(x) for x in r.stdout.splitlines()]
    assert len(lines) == len(clips) >= 8 and f"speaker ravdess:01: {len(clips)} clips" in r.stderr
    # --score: the predictions against the emotions in the clips' names, as the study scores a fold
    from emorec_nb.corpora import parse_name
    from emorec_nb.metrics import uar
    classes = json.loads((sdir/"params.json").read_text())["classes"]
    y, pred = [classes.index(parse_name(l["clip"])["emotion"]) for l in lines], [classes.index(l["emotion"]) for l in lines]
    sc = last["score"]
    assert (sc["clips"], list(sc["uar_per_speaker"]), sc["no_class"], sc["not_predicted"]) == (len(clips), ["ravdess:01"], 0, 0), sc
    assert abs(sc["uar"] - uar(y, pred, len(classes))) < 1e-12 and sum(map(sum, sc["confusion"])) == len(clips)
    r = run([str(BIN/"emorec-predict"), runs["strict"], *clips, "--score"], cwd=ROOT)       # in words, after the predictions
    assert r.returncode == 0 and r.stdout.splitlines()[-3].startswith(f"score: {len(clips)} clips, 1 speaker: UAR "), r.stdout[-2000:] + r.stderr[-2000:]
    r = run([str(BIN/"emorec-predict"), runs["speaker_norm"], *clips[:3], "--speaker-norm"], cwd=ROOT)
    assert r.returncode == 1 and "3 clips are too few to normalise a speaker (at least 8)" in r.stderr
    r = run([str(BIN/"emorec-predict"), runs["speaker_norm"], *clips, "--speaker-norm", "--extractor", man["extractors"][0]["path"]], cwd=ROOT)
    assert r.returncode == 1 and "one extractor cannot stand in for them" in r.stderr and "Traceback" not in r.stderr
    r = run([str(BIN/"emorec-predict"), runs["strict"], clips[0], "--json"], cwd=ROOT)     # the strict final run: its best model, or its ensemble
    assert r.returncode == 0 and set(json.loads(r.stdout)["probabilities"]) == set(json.loads((sdir/"params.json").read_text())["classes"]), r.stderr[-2000:]
    met = json.loads((Path(runs["strict"])/"metrics.json").read_text())       # and says on stderr which it used
    from emorec_nb.models import MODEL_FILES
    said = {"ensemble": f"the ensemble of baseline, pooling, bilstm in {runs['strict']}", "baseline": f"the linear baseline in {runs['strict']}"
            }.get(met["best_model"]) or str(Path(runs["strict"])/MODEL_FILES[met["best_model"]])
    assert f"model: {said}" in r.stderr.splitlines(), r.stderr[-2000:]
    r = run([str(BIN/"emorec-predict"), runs["speaker_norm"], clips[0]], cwd=ROOT)
    assert r.returncode != 0 and "use --speaker-norm" in r.stderr and "Traceback" not in r.stderr


def test_papermill_runs_the_same_study(demo, tmp_path):
    out_nb = tmp_path/"study.ipynb"
    r = run([str(BIN/"papermill"), "nbs/train.ipynb", str(out_nb), "-p", "split", "folds", "-p", "audio_dirs", ",".join(demo),
             "-p", "folds", "2", "-p", "epochs", "1", "-p", "patience", "1", "-p", "extractor_epochs", "1",
             "-p", "speaker_norm", "True", "-p", "speaker_norm_cnns", "speaker_norm", "-p", "speaker_norm_seeds", "1",
             "-p", "out", str(tmp_path)], cwd=ROOT, timeout=1500)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    sdir = next(tmp_path.glob("study_*"))
    assert set(STUDY_FILES) <= {p.name for p in sdir.iterdir()}
    check_folds(sdir)
    assert json.loads((sdir/"status.json").read_text())["state"] == "finished"
    # -p speaker_norm_cnns speaker_norm: the normalised models read that CNN alone (the setting before both), as wide as the strict ones
    assert json.loads((sdir/"params.json").read_text())["speaker_norm_cnns"] == ["speaker_norm"]
    from emorec_nb.models import read_spec
    runs = json.loads((sdir/"status.json").read_text())["final_runs"]
    man = json.loads((Path(runs["speaker_norm"])/"params.json").read_text())["feature_manifests"][0]
    assert "extractors" not in man and Path(man["extractor"]["path"]).name == "extractor_speaker_norm"
    assert read_spec(Path(runs["speaker_norm"])/"pooling_model.h5")["n_features"] == read_spec(Path(runs["strict"])/"pooling_model.h5")["n_features"]
    # -p speaker_norm_seeds 1: the normalised BiLSTM trained once, the strict one twice (the default `seeds`)
    assert json.loads((sdir/"params.json").read_text())["speaker_norm_seeds"] == 1
    assert [read_spec(Path(runs[v])/"lstm_model.h5").get("members", 1) for v in ("strict", "speaker_norm")] == [2, 1]
    outputs = json.dumps([c.get("outputs", []) for c in json.loads(out_nb.read_text())["cells"]])
    assert outputs.count("image/png") >= 4 and "SYNTHETIC DEMO CORPUS" in outputs and "Verdict" in outputs


def test_a_study_killed_between_folds_resumes(demo, tmp_path):
    cmd = [str(BIN/"emorec-study"), demo[0], *QUICK, "--models", "baseline,pooling", "--no-final", "--no-report", "--out", str(tmp_path)]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    deadline = time.time() + 600
    while time.time() < deadline and p.poll() is None and not list(tmp_path.glob("study_*/fold_1/done.json")): time.sleep(0.05)
    p.send_signal(signal.SIGKILL); p.wait()
    sdir = next(tmp_path.glob("study_*"))
    assert (sdir/"fold_1"/"done.json").exists() and not (sdir/"fold_2"/"done.json").exists()
    assert json.loads((sdir/"status.json").read_text())["state"] == "running"
    fold1 = {f.name: f.read_bytes() for f in (sdir/"fold_1").glob("pred_*.csv")}
    r = run([str(BIN/"emorec-study"), "--resume", str(sdir), "--no-report"], cwd=ROOT, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "fold 1: done before" in r.stdout
    assert {f.name: f.read_bytes() for f in (sdir/"fold_1").glob("pred_*.csv")} == fold1          # kept, not redone
    st = json.loads((sdir/"status.json").read_text())
    assert st["state"] == "finished" and st["resumed"]
    t = study_timings(sdir)                        # stage times, but no wall-time remainder for a study run in parts
    assert "features, files, results" not in t and (t >= 0).all() and t["fold extractors"] > 0, t
    assert sorted(pd.read_csv(sdir/"cv_results.csv").fold.unique()) == [1, 2]
    check_folds(sdir)
    # the extractors trained in a process of their own (the default on a CPU, as above) or in the study's (--serial): the same predictions
    r = run([*cmd[:-1], str(tmp_path/"serial"), "--serial"], cwd=ROOT, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    serial = next((tmp_path/"serial").glob("study_*"))
    assert not json.loads((serial/"status.json").read_text())["background_extractors"]
    for f in sorted(sdir.glob("fold_*/pred_*.csv")):
        pd.testing.assert_frame_equal(pd.read_csv(f).drop(columns="seconds"), pd.read_csv(serial/f.parent.name/f.name).drop(columns="seconds"))


def _processes_with(text: str) -> list:
    "Pids of live processes whose command line contains `text`."
    found = []
    for d in Path("/proc").iterdir():
        try:
            if d.name.isdigit() and text in (d/"cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"): found.append(int(d.name))
        except OSError: pass
    return found


def test_a_study_killed_outright_takes_its_extractor_process_with_it(demo, tmp_path):
    "SIGKILL leaves the study no time to stop its background extractors: their process sees its parent gone and ends (`--resume` trains the rest)."
    cmd = [str(BIN/"emorec-study"), demo[0], *QUICK, "--extractor-epochs", "40", "--models", "baseline", "--no-final", "--no-report", "--out", str(tmp_path)]
    log = tmp_path/"study.log"
    with open(log, "w") as out:
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        deadline = time.time() + 300
        while time.time() < deadline and p.poll() is None and "fold 2: training the strict CNN extractor" not in log.read_text(): time.sleep(0.05)
        sdir = next(tmp_path.glob("study_*"))
        workers = _processes_with(f"train_extractors({str(sdir)!r}")
        p.send_signal(signal.SIGKILL); p.wait()
    assert len(workers) == 1 and not (sdir/"fold_2"/"extractor"/"config.json").exists(), (workers, log.read_text()[-2000:])
    deadline = time.time() + 10
    while time.time() < deadline and _processes_with(f"train_extractors({str(sdir)!r}"): time.sleep(0.1)
    assert not _processes_with(f"train_extractors({str(sdir)!r}"), "the extractor process outlived its study"


def test_bad_invocations_leave_nothing(tmp_path):
    r = run([str(BIN/"emorec-study"), str(tmp_path/"missing"), "--out", str(tmp_path/"out")], cwd=ROOT)
    assert r.returncode == 2 and f"audio folder {tmp_path/'missing'} does not exist" in r.stderr and "Traceback" not in r.stderr
    r = run([str(BIN/"emorec-study"), str(tmp_path), "--folds", "many", "--out", str(tmp_path/"out")], cwd=ROOT)
    assert r.returncode == 2 and "--folds must be a number ≥ 2 or 'emobox'" in r.stderr
    assert not (tmp_path/"out").exists()
