"""Tests of the data layouts (upt_jax.data): round-trips and every validation error."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from upt_jax.data import (
    Dataset,
    detect_layout,
    load_dataset,
    load_object_scores,
    load_official,
    load_portable,
    save_portable,
    validate_folder,
    write_official,
)
from upt_jax.errors import DataError

pytestmark = pytest.mark.fast

K, D, N, O = 5, 8, 23, 7
EMB = "embeddings"


def make_dataset(seed: int = 0, objects: bool = True) -> Dataset:
    rng = np.random.default_rng(seed)
    classes = ["ApplyEyeMakeup", "Basketball", "YoYo", "Rowing", "Surfing"]
    labels = (np.arange(N) % K).astype(np.int32)
    names = [f"{classes[c]}/v_{classes[c]}_g{i:02d}_c01.avi" for i, c in enumerate(labels)]
    return Dataset(
        name="ucf101",
        class_names=classes,
        prototypes=rng.normal(size=(K, D)).astype(np.float32),
        videos=rng.normal(size=(N, D)).astype(np.float32),
        labels=labels,
        video_names=names,
        object_names=[f"object {i}" for i in range(O)] if objects else None,
        object_prototypes=rng.normal(size=(O, D)).astype(np.float32) if objects else None,
        object_probs=rng.dirichlet(np.ones(O), size=N).astype(np.float32) if objects else None,
        targets={"transductive_ucf101_0_1000-kmeans_EMD": rng.normal(size=(K, D)).astype(np.float32)},
        meta={"source": "test", "generator": {"seed": np.int64(seed), "eta": 3.0}},
    )


def assert_same(a: Dataset, b: Dataset, *, objects: bool = True, names: bool = True) -> None:
    assert a.class_names == b.class_names
    np.testing.assert_array_equal(a.prototypes, b.prototypes)
    np.testing.assert_array_equal(a.videos, b.videos)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.labels.dtype == np.int32 and b.videos.dtype == np.float32
    assert a.video_names == b.video_names
    assert sorted(a.targets) == sorted(b.targets)
    for k in a.targets:
        np.testing.assert_array_equal(a.targets[k], b.targets[k])
    if objects:
        np.testing.assert_array_equal(a.object_prototypes, b.object_prototypes)
        np.testing.assert_array_equal(a.object_probs, b.object_probs)
        if names:
            assert a.object_names == b.object_names


@pytest.fixture
def official(tmp_path):
    path = tmp_path / "ucf-101"
    write_official(make_dataset(), path)
    return path


@pytest.fixture
def portable(tmp_path):
    path = tmp_path / "portable"
    save_portable(make_dataset(), path)
    return path


# ---------------------------------------------------------------- round-trips


def test_official_layout_file_names(official):
    emb = official / EMB
    for f in [
        "ucf101_videofiles.txt",
        "ucf101_actions.npy",
        "ucf101_video_embeddings_r2plus1d18.npy",
        "ucf101_action_embeddings.npy",
        f"imagenet{O}_embeddings.npy",
    ]:
        assert (emb / f).is_file(), f
    lines = (emb / "ucf101_videofiles.txt").read_text().splitlines()
    assert lines[0] == "ApplyEyeMakeup/v_ApplyEyeMakeup_g00_c01.avi" and len(lines) == N
    assert (official / "objectscores" / "v_ApplyEyeMakeup_g00_c01" / "avg-features.npy").is_file()
    assert (official / "ot" / "transductive_ucf101_0_1000-kmeans_EMD.npy").is_file()
    # the example code reads the class list without pickle
    assert np.load(emb / "ucf101_actions.npy").dtype.kind == "U"


@pytest.mark.parametrize("sub", ["", EMB])
def test_official_roundtrip(official, sub):
    ds = make_dataset()
    path = official / sub if sub else official
    assert validate_folder(path) == []
    assert detect_layout(path) == "official"
    lazy = load_official(path)
    assert lazy.object_probs is None and lazy.meta["objectscores_dir"] is not None
    assert lazy.meta["prefix"] == "ucf101" and lazy.meta["video_model"] == "r2plus1d18"
    assert_same(ds, lazy, objects=False)
    full = load_dataset(path, load_objects=True)
    assert_same(ds, full)
    assert full.meta["object_probs_bytes"] == N * O * 4
    # lazily read scores of a subset equal the eager ones
    np.testing.assert_array_equal(load_object_scores(lazy, [3, 0, 7]), full.object_probs[[3, 0, 7]])


def test_official_float64_and_models(official):
    v2 = np.random.default_rng(5).normal(size=(N, D))
    np.save(official / EMB / "ucf101_video_embeddings_i3d.npy", v2)
    assert validate_folder(official) == []  # both models are checked
    ds = load_official(official, video_model="i3d", dtype=np.float64)
    assert ds.videos.dtype == np.float64
    np.testing.assert_array_equal(ds.videos, v2)
    assert load_official(official).meta["video_model"] == "r2plus1d18"  # the example's default wins


def test_official_without_optional_parts(tmp_path):
    ds = make_dataset(objects=False)
    ds.targets = {}
    write_official(ds, tmp_path / "d")
    assert not (tmp_path / "d" / "objectscores").exists()
    back = load_official(tmp_path / "d")
    assert back.object_prototypes is None and back.targets == {}
    assert_same(ds, back, objects=False)
    with pytest.raises(DataError, match="objectscores/: missing folder"):
        load_official(tmp_path / "d", load_objects=True)


def test_portable_roundtrip(portable, tmp_path):
    ds = make_dataset()
    assert validate_folder(portable) == []
    assert detect_layout(portable) == "portable"
    back = load_dataset(portable)
    assert_same(ds, back)
    assert back.name == "ucf101" and back.meta["generator"] == {"seed": 0, "eta": 3.0}
    meta = json.loads((portable / "meta.json").read_text())
    assert meta["format"] == "upt_jax-portable" and meta["version"] == 1 and meta["source"] == "test"
    # save again from the loaded dataset: identical folder content
    save_portable(back, tmp_path / "again")
    again = load_portable(tmp_path / "again")
    assert_same(back, again)
    assert {k: v for k, v in again.meta.items() if k != "root"} == {
        k: v for k, v in back.meta.items() if k != "root"
    }


def test_official_to_portable(official, tmp_path):
    ds = load_official(official, load_objects=True)
    save_portable(ds, tmp_path / "p")
    back = load_portable(tmp_path / "p")
    assert_same(ds, back)
    assert back.meta["source"] == str(official.resolve()) or back.meta["source"] == os.path.abspath(official)


# ---------------------------------------------------------------- official errors


def _one_problem(path, *words):
    problems = validate_folder(path)
    assert len(problems) == 1, problems
    for w in words:
        assert w in problems[0], (w, problems[0])
    with pytest.raises(DataError) as err:
        load_official(path, load_objects=True)
    assert problems[0] in str(err.value)
    return problems[0]


@pytest.mark.parametrize(
    "fname",
    [
        "ucf101_videofiles.txt",
        "ucf101_actions.npy",
        "ucf101_action_embeddings.npy",
        "ucf101_video_embeddings_r2plus1d18.npy",
    ],
)
def test_missing_file(official, fname):
    os.remove(official / EMB / fname)
    problems = validate_folder(official)
    assert any(p.startswith(f"{fname}: missing file") for p in problems), problems
    with pytest.raises(DataError, match=fname):
        load_dataset(official)


def test_class_count_mismatch(official):
    np.save(official / EMB / "ucf101_actions.npy", np.asarray(make_dataset().class_names + ["Extra"]))
    _one_problem(official, "ucf101_actions.npy lists 6 classes", "ucf101_action_embeddings.npy has 5 rows")


def test_video_count_mismatch(official):
    f = official / EMB / "ucf101_video_embeddings_r2plus1d18.npy"
    np.save(f, np.load(f)[:-2])
    _one_problem(official, "ucf101_video_embeddings_r2plus1d18.npy has 21 rows", f"lists {N} videos")


def test_dimension_mismatch_videos(official):
    f = official / EMB / "ucf101_video_embeddings_r2plus1d18.npy"
    np.save(f, np.ones((N, D + 1), np.float32))
    _one_problem(official, "dimension mismatch", f"d={D + 1}", f"d={D}", "ucf101_action_embeddings.npy")


def test_dimension_mismatch_objects(official):
    np.save(official / EMB / f"imagenet{O}_embeddings.npy", np.ones((O, D + 2), np.float32))
    _one_problem(official, "dimension mismatch", f"imagenet{O}_embeddings.npy", f"d={D + 2}")


def test_class_in_path_not_in_list(official):
    f = official / EMB / "ucf101_videofiles.txt"
    lines = f.read_text().splitlines()
    lines[4] = "Skydiving/v_Skydiving_g01_c01.avi"
    lines[9] = "Skydiving/v_Skydiving_g02_c01.avi"
    f.write_text("\n".join(lines) + "\n")
    msg = validate_folder(official)
    assert any("'Skydiving'" in p and "ucf101_videofiles.txt" in p and "2 videos" in p for p in msg), msg
    with pytest.raises(DataError, match="Skydiving"):
        load_official(official)


def test_line_without_class_folder(official):
    f = official / EMB / "ucf101_videofiles.txt"
    lines = f.read_text().splitlines()
    lines[2] = "v_YoYo_g02_c01.avi"
    f.write_text("\n".join(lines) + "\n")
    msg = validate_folder(official)
    assert any("without a class folder" in p and "line numbers: 3" in p for p in msg), msg


def test_nan_rows(official):
    f = official / EMB / "ucf101_video_embeddings_r2plus1d18.npy"
    v = np.load(f)
    v[[3, 11], 2] = np.nan
    v[15, 0] = np.inf
    np.save(f, v)
    _one_problem(official, "ucf101_video_embeddings_r2plus1d18.npy", "3 of 23 videos contain NaN/Inf", "3, 11, 15")


def test_nan_rows_in_prototypes(official):
    f = official / EMB / "ucf101_action_embeddings.npy"
    p = np.load(f)
    p[1, 1] = np.nan
    np.save(f, p)
    _one_problem(official, "ucf101_action_embeddings.npy", "1 of 5 class prototypes contain NaN/Inf", ": 1)")


def test_zero_rows(official):
    f = official / EMB / "ucf101_video_embeddings_r2plus1d18.npy"
    v = np.load(f)
    v[[0, 7]] = 0
    np.save(f, v)
    _one_problem(official, "ucf101_video_embeddings_r2plus1d18.npy", "2 of 23 videos are all zero", "0, 7")
    # check_values=False loads anyway
    assert load_official(official, check_values=False).n_videos == N


def test_objectscores_wrong_length(official):
    f = official / "objectscores" / "v_YoYo_g02_c01" / "avg-features.npy"
    np.save(f, np.ones(O + 3, np.float32))
    _one_problem(official, "objectscores/", f"holding {O} object scores", "v_YoYo_g02_c01", f"{O + 3} scores")


def test_objectscores_missing(official):
    os.remove(official / "objectscores" / "v_Rowing_g03_c01" / "avg-features.npy")
    _one_problem(official, "objectscores/", f"1 of {N} videos have no", "v_Rowing_g03_c01")
    # without load_objects the loader does not touch the scores
    assert load_official(official).n_videos == N


def test_targets_wrong_shape(official):
    np.save(official / "ot" / "bad.npy", np.ones((K - 1, D), np.float32))
    _one_problem(official, "ot/bad.npy", f"[{K}, {D}]", f"[{K - 1}, {D}]")


def test_pickled_class_list(official):
    np.save(official / EMB / "ucf101_actions.npy", np.asarray(make_dataset().class_names, dtype=object))
    msg = validate_folder(official)
    assert any("ucf101_actions.npy" in p and "pickled" in p for p in msg), msg


def test_all_problems_listed(official):
    os.remove(official / EMB / "ucf101_actions.npy")
    f = official / EMB / "ucf101_video_embeddings_r2plus1d18.npy"
    v = np.load(f)[:-1]
    v[0] = np.nan
    np.save(f, v)
    problems = validate_folder(official)
    assert len(problems) == 3, problems
    with pytest.raises(DataError) as err:
        load_dataset(official)
    for p in problems:
        assert p in str(err.value)
    assert "3 problems" in str(err.value)


def test_neither_layout(tmp_path):
    (tmp_path / "x.txt").write_text("hello")
    problems = validate_folder(tmp_path)
    assert len(problems) == 1 and "not a upt_jax data folder" in problems[0]
    with pytest.raises(DataError, match="FORMAT.md"):
        load_dataset(tmp_path)
    with pytest.raises(DataError, match="no such folder"):
        load_dataset(tmp_path / "nope")


# ---------------------------------------------------------------- portable errors


def _meta(path):
    return json.loads((path / "meta.json").read_text())


def _write_meta(path, meta):
    (path / "meta.json").write_text(json.dumps(meta))


def _one_portable_problem(path, *words):
    problems = validate_folder(path)
    assert len(problems) == 1, problems
    for w in words:
        assert w in problems[0], (w, problems[0])
    with pytest.raises(DataError) as err:
        load_portable(path)
    assert problems[0] in str(err.value)


def test_portable_missing_file(portable):
    os.remove(portable / "videos.npy")
    _one_portable_problem(portable, "videos.npy: missing file")


def test_portable_class_count(portable):
    meta = _meta(portable)
    meta["class_names"] = meta["class_names"][:-1]
    _write_meta(portable, meta)
    _one_portable_problem(portable, "meta.json class_names lists 4 classes", "prototypes.npy has 5 rows")


def test_portable_video_count(portable):
    meta = _meta(portable)
    meta["video_names"].append("Extra/v.avi")
    _write_meta(portable, meta)
    _one_portable_problem(portable, f"lists {N + 1} videos", f"videos.npy has {N} rows")


def test_portable_dimension_mismatch(portable):
    np.save(portable / "object_prototypes.npy", np.ones((O, D - 1), np.float32))
    _one_portable_problem(portable, "dimension mismatch", "object_prototypes.npy", f"d={D - 1}")


def test_portable_labels_out_of_range(portable):
    lab = np.load(portable / "labels.npy")
    lab[[2, 5]] = K
    np.save(portable / "labels.npy", lab)
    _one_portable_problem(portable, "labels.npy", "2 labels outside [0, 5)", "2, 5")


def test_portable_nan_and_zero_rows(portable):
    p = np.load(portable / "prototypes.npy")
    p[0] = 0
    p[2, 0] = np.nan
    np.save(portable / "prototypes.npy", p)
    problems = validate_folder(portable)
    assert len(problems) == 2, problems
    assert "NaN/Inf" in problems[0] and "(first row indices: 2)" in problems[0]
    assert "all zero" in problems[1] and "(first row indices: 0)" in problems[1]


def test_portable_object_probs_shape(portable):
    np.save(portable / "object_probs.npy", np.ones((N, O + 1), np.float32))
    _one_portable_problem(portable, "object_probs.npy", f"[{N}, {O}]", f"[{N}, {O + 1}]")


def test_portable_wrong_format(portable):
    meta = _meta(portable)
    meta["format"] = "something-else"
    _write_meta(portable, meta)
    _one_portable_problem(portable, "meta.json", "something-else")


def test_save_rejects_inconsistent_dataset(tmp_path):
    ds = make_dataset()
    ds.labels = ds.labels[:-1]
    with pytest.raises(DataError, match=r"labels: expected shape \[23\]"):
        save_portable(ds, tmp_path / "p")
    with pytest.raises(DataError, match="labels"):
        write_official(ds, tmp_path / "o")
    assert not (tmp_path / "p").exists() and not (tmp_path / "o").exists()


def test_duplicate_class_names(tmp_path):
    ds = make_dataset()
    ds.class_names[1] = ds.class_names[0]
    with pytest.raises(DataError, match="duplicate class names"):
        save_portable(ds, tmp_path / "p")
