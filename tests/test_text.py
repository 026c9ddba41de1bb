"""Tests of upt_jax.text: shipped class names, prototypes, seen-class filtering."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from upt_jax import text
from upt_jax.errors import DataError, MissingDependencyError, UPTError

pytestmark = pytest.mark.fast


@pytest.mark.parametrize("dataset,count", sorted(text.DATASETS.items()))
def test_name_lists_have_official_counts(dataset, count):
    names = text.load_class_names(dataset)
    assert len(names) == count
    assert len(set(names)) == count
    assert all(n == n.strip() and n for n in names)
    # the encoder is uncased: the readable forms must stay distinct too
    assert len({text.readable_name(n) for n in names}) == count


def test_name_lists_official_order():
    ucf = text.load_class_names("ucf101")
    assert (
        ucf[0] == "ApplyEyeMakeup"
        and ucf[36] == "HandstandPushups"
        and ucf[-1] == "YoYo"
    )
    hmdb = text.load_class_names("hmdb51")
    assert hmdb[0] == "brush_hair" and hmdb == sorted(hmdb) and hmdb[-1] == "wave"
    kin = text.load_class_names("kinetics400")
    assert kin[0] == "abseiling" and kin[-1] == "zumba"
    imnet = text.load_class_names("imagenet1k")
    assert imnet[0] == "tench" and imnet[-1] == "toilet tissue"


@pytest.mark.parametrize("dataset,count", sorted(text.DATASETS.items()))
def test_prototypes_shape_dtype_unit_norm(dataset, count):
    protos = text.load_prototypes(dataset)
    assert protos.shape == (count, text.EMBED_DIM)
    assert protos.dtype == np.float32
    assert np.all(np.isfinite(protos))
    np.testing.assert_allclose(np.linalg.norm(protos, axis=1), 1.0, atol=1e-5)
    # distinct names give distinct vectors
    gram = protos @ protos.T
    assert np.max(gram - 2 * np.eye(count)) < 0.999


def test_prototypes_follow_name_order():
    # the same action named in two datasets must be each other's nearest neighbour
    ucf, kin = text.load_class_names("ucf101"), text.load_class_names("kinetics400")
    pu, pk = text.load_prototypes("ucf101"), text.load_prototypes("kinetics400")
    for u_name, k_name in [
        ("PlayingGuitar", "playing guitar"),
        ("Archery", "archery"),
        ("TaiChi", "tai chi"),
        ("BrushingTeeth", "brushing teeth"),
    ]:
        u = ucf.index(u_name)
        assert kin[int(np.argmax(pk @ pu[u]))] == k_name


@pytest.mark.parametrize(
    "name,expected",
    [
        ("ApplyEyeMakeup", "apply eye makeup"),
        ("brush_hair", "brush hair"),
        ("YoYo", "yo yo"),
        ("HandstandPushups", "handstand pushups"),
        ("playing guitar", "playing guitar"),
        ("massaging person's head", "massaging person's head"),
        ("HTTPServer", "http server"),
        ("Rock3D_climb", "rock3 d climb"),
        ("  shoot__gun ", "shoot gun"),
        ("German shepherd", "german shepherd"),
    ],
)
def test_readable_name(name, expected):
    assert text.readable_name(name) == expected


def _filter_seen_loop(seen, test, min_distance):
    keep = []
    for s in seen:
        s = s / np.linalg.norm(s)
        ok = True
        for t in test:
            t = t / np.linalg.norm(t)
            if 1.0 - float(np.dot(s, t)) < min_distance:
                ok = False
        keep.append(ok)
    return np.array(keep)


@pytest.mark.parametrize("min_distance", [0.0, 0.05, 0.3, 0.6])
def test_filter_seen_matches_numpy_loop(min_distance):
    rng = np.random.default_rng(0)
    test = rng.normal(size=(7, 5))
    near = test[:3] + 0.2 * rng.normal(size=(3, 5))
    seen = np.concatenate([rng.normal(size=(20, 5)) * 3.0, near])
    mask = text.filter_seen(seen, test, min_distance)
    assert mask.dtype == bool and mask.shape == (23,)
    np.testing.assert_array_equal(mask, _filter_seen_loop(seen, test, min_distance))


def test_filter_seen_real_prototypes():
    kin = text.load_prototypes("kinetics400")
    for test_set, expected in [("ucf101", 376), ("hmdb51", 396)]:
        mask = text.filter_seen(kin, text.load_prototypes(test_set), 0.05)
        assert int(mask.sum()) == expected
    # a test set filters itself out entirely
    ucf = text.load_prototypes("ucf101")
    assert not text.filter_seen(ucf, ucf).any()


def test_filter_seen_rejects_bad_shapes():
    with pytest.raises(UPTError, match="same d"):
        text.filter_seen(np.ones((3, 4)), np.ones((2, 5)))


def test_embed_names_needs_optional_extra(monkeypatch):
    # None in sys.modules makes `import sentence_transformers` raise ImportError
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(MissingDependencyError, match=r"upt_jax\[embed\]"):
        text.embed_names(["ApplyEyeMakeup"])
    with pytest.raises(UPTError, match="empty"):
        text.embed_names([])


def test_embed_names_does_not_import_torch(monkeypatch):
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    before = "torch" in sys.modules
    with pytest.raises(MissingDependencyError):
        text.embed_names(["x"])
    assert ("torch" in sys.modules) == before


def test_read_names_errors(tmp_path):
    p = tmp_path / "names.txt"
    p.write_text("a\n\nb\n")
    assert text.read_names(p) == ["a", "b"]
    p.write_text("a\nb\na\n")
    with pytest.raises(DataError, match="duplicate"):
        text.read_names(p)
    p.write_text("\n\n")
    with pytest.raises(DataError, match="no class names"):
        text.read_names(p)
    with pytest.raises(UPTError, match="not shipped"):
        text.load_class_names("ucf102")


def test_cli_embed_names_missing_dependency(tmp_path, monkeypatch, capsys):
    from upt_jax.cli import main

    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    names = tmp_path / "names.txt"
    names.write_text("ApplyEyeMakeup\nbrush_hair\n")
    code = main(
        [
            "--no-compile-cache",
            "embed-names",
            str(names),
            "--out",
            str(tmp_path / "p.npy"),
        ]
    )
    assert code == 2
    assert "upt_jax[embed]" in capsys.readouterr().err
    assert not (tmp_path / "p.npy").exists()
