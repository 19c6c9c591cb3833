"""The foundation checked on the real reference data (the notebooks check the same; this runs from the package)."""
import numpy as np, pandas as pd
from emorec_nb.corpora import build_index, index_names, load_cremad_demographics, apply_policy
from emorec_nb.splits import actor_split, split_report
from emorec_nb.batches import true_lengths, efficiency_table


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
