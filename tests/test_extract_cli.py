"""Feature extraction as a user runs it: the console scripts in subprocesses, killed and resumed."""
import json, os, signal, subprocess, sys, time
from pathlib import Path
import numpy as np
from conftest import BIN, ROOT, run


def _random_extractor(path: Path):
    code = ("import keras; from emorec_nb.encoder import Extractor, DEFAULT_CONFIG; keras.utils.set_random_seed(0); "
            f"Extractor(DEFAULT_CONFIG).save({str(path)!r})")
    r = run([sys.executable, "-c", code]); assert r.returncode == 0, r.stderr


def test_extraction_resumes_after_a_kill_without_partial_files(shared, tmp_path):
    _random_extractor(tmp_path/"ex")
    out = tmp_path/"feat"
    cmd = [str(BIN/"emorec-extract"), str(shared/"ravdess16k"), "--out", str(out), "--extractor", str(tmp_path/"ex"), "--no-progress"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    deadline = time.time() + 120
    while time.time() < deadline and len(list(out.rglob("*.npy"))) < 150 and p.poll() is None: time.sleep(0.05)
    p.send_signal(signal.SIGKILL); p.wait()
    done = {f: f.stat().st_mtime_ns for f in out.rglob("*.npy")}
    assert 150 <= len(done) < 1200, f"kill came at {len(done)} files"
    for f in done: assert np.load(f).shape[1] == 128               # every visible file is complete
    assert not json.loads((out/"manifest.json").read_text())["complete"]
    r = run(cmd)
    assert r.returncode == 0, r.stderr
    assert f"{len(done)} already done" in r.stdout and f"extracted {1200 - len(done)} clips" in r.stdout, r.stdout
    assert all(f.stat().st_mtime_ns == m for f, m in done.items())  # finished clips were not redone
    assert len(list(out.rglob("*.npy"))) == 1200 and not list(out.rglob("*.part"))
    m = json.loads((out/"manifest.json").read_text())
    assert m["complete"] and m["stats"]["skipped_existing"] == len(done)
    assert sorted(p.name for p in out.iterdir() if p.is_dir())[:2] == ["Actor_01", "Actor_02"]   # mirrored layout


def test_extract_cli_names_bad_clips_and_skips_them_on_request(tmp_path):
    import soundfile as sf
    _random_extractor(tmp_path/"ex")
    aud = tmp_path/"aud"; aud.mkdir()
    sf.write(aud/"1001_DFA_ANG_XX.wav", np.random.default_rng(0).normal(0, .1, 16000).astype("float32"), 16000)
    sf.write(aud/"1001_DFA_SAD_XX.wav", np.zeros(16000, "float32"), 16000)
    cmd = [str(BIN/"emorec-extract"), str(aud), "--out", str(tmp_path/"f"), "--extractor", str(tmp_path/"ex"), "--no-progress"]
    r = run(cmd)
    assert r.returncode != 0 and "1001_DFA_SAD_XX.wav: audio is all zeros" in r.stderr
    assert (tmp_path/"f"/"1001_DFA_ANG_XX.npy").exists()          # the good clip was still extracted
    r = run(cmd + ["--on-bad", "skip"])
    assert r.returncode == 0 and "skipped 1 bad clips" in r.stderr


def test_download_cli_rejects_a_corrupted_archive(tmp_path):
    import zipfile, hashlib
    z = tmp_path/"Audio_Speech_Actors_01-24.zip"
    with zipfile.ZipFile(z, "w") as f: f.writestr("Actor_01/03-01-01-01-01-01-01.wav", b"RIFF")
    rec = tmp_path/"rec.json"
    rec.write_text(json.dumps({"files": [{"key": z.name, "checksum": "md5:" + "0"*32, "size": z.stat().st_size,
                                          "links": {"self": z.as_uri()}}]}))
    r = run([str(BIN/"emorec-download"), "ravdess", "--dest", str(tmp_path/"data"), "--ravdess-record", rec.as_uri()])
    assert r.returncode != 0 and "checksum mismatch" in r.stderr and "expected " + "0"*32 in r.stderr
    assert not (tmp_path/"data"/"ravdess").exists()
    r = run([str(BIN/"emorec-download"), "ravdess", "--dest", str(tmp_path/"d2"), "--ravdess-record", "http://127.0.0.1:9/rec"])
    assert r.returncode != 0 and "are you offline?" in r.stderr
