"""The foundation checked on the real reference data (the notebooks check the same; this runs from the package)."""
import numpy as np, pandas as pd
from emorec_nb.corpora import build_index, index_names, load_cremad_demographics, apply_policy
from emorec_nb.splits import actor_split, split_report
from emorec_nb.bucketing import true_lengths, efficiency_table


def test_ravdess_index(shared):
    df = build_index(shared/"ravdess16k")
    assert len(df) == 1200 and df["actor"].nunique() == 20
    assert df.groupby("actor").size().eq(60).all()
    assert df["emotion"].value_counts().to_dict() == {"neutral": 80, **{e: 160 for e in
        ["calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"]}}
    assert len(apply_policy(df, "shared6")) == 1200 - 320


def test_cremad_names_and_actor_split(shared):
    meta = shared/"cremad_meta"
    cre = index_names(pd.read_csv(meta/"SentenceFilenames.csv")["Filename"], load_cremad_demographics(meta/"VideoDemographics.csv"))
    assert len(cre) == 7442 and cre["actor"].nunique() == 91
    assert cre["emotion"].value_counts().to_dict() == {"angry": 1271, "disgust": 1271, "fearful": 1271,
                                                       "happy": 1271, "sad": 1271, "neutral": 1087}
    rep = split_report(actor_split(cre, seed=7))
    assert rep["actors_in_both"].sum() == 0 and rep.loc["cremad", "val_actors"] == 19


def test_bucketing_reaches_097_on_true_lengths(shared):
    tl = true_lengths(shared)
    assert len(tl) == 8882
    eff = efficiency_table(tl["frames"].to_numpy(), batch_sizes=(32,))
    assert eff.loc["bucket", 32] >= 0.97
    assert eff.loc["global", 32] < 0.55 and eff.loc["shuffled", 32] < 0.7


def test_study_folds_on_real_ravdess(shared):
    from emorec_nb.study import fold_plan, make_folds, speaker_table
    df = apply_policy(build_index(shared/"ravdess16k"), "all8")
    plan = fold_plan(df, 5)
    test = plan[plan.role == "test"]
    assert sorted(test.speaker) == sorted(df.speaker.unique()) and test.groupby("fold").size().tolist() == [4]*5
    sex = speaker_table(df)["sex"]
    assert all(sorted(sex[g.speaker]) == ["female"]*2 + ["male"]*2 for _, g in test.groupby("fold"))
    val = plan[plan.role == "val"]
    assert val.groupby("fold").size().tolist() == [2]*5 and all(sorted(sex[g.speaker]) == ["female", "male"] for _, g in val.groupby("fold"))
    fe, note = make_folds(df, "emobox")
    assert fe.nunique() == 6 and "actors 21, 22, 23, 24 are absent, so folds 1, 3, 4, 6 test fewer actors" in note
