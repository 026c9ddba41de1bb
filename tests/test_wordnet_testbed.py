"""Tests of scripts/wordnet_testbed.py on a generated mini WordNet (no encoder, no real WordNet)."""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from upt_jax import data

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("wordnet_testbed", ROOT / "scripts" / "wordnet_testbed.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _line(offset, words, hypernyms, gloss, symbol="@"):
    ptrs = [f"{symbol if i == 0 else '@'} {h:08d} n 0000" for i, h in enumerate(hypernyms)]
    ptrs.append("~ 00000099 n 0000")  # a hyponym pointer, to be ignored
    w = " ".join(f"{x} 0" for x in words)
    return f"{offset:08d} 03 n {len(words):02x} {w} {len(ptrs):03d} {' '.join(ptrs)} | {gloss}  \n"


def _mini_wordnet(folder: Path):
    """entity (1) -> 2 -> 3 -> 4 -> 5 -> 6 -> depth-6 categories 10 (plant), 20 (plant), 30 (rock)."""
    lines = ["  1 This software and database is being provided to you, the LICENSEE, by  \n"]
    lines.append(_line(1, ["entity"], [], 'that which exists; "an example"'))
    for o in range(2, 7):
        lines.append(_line(o, [f"level_{o}"], [o - 1], f"level {o}"))
    for cat, lemma in ((10, "plant"), (20, "plant"), (30, "rock")):
        lines.append(_line(cat, [lemma, "other_name"], [6], f"category {cat}"))
    # category 10: 5 members, one an instance (@i), one two levels down, one with a second hypernym in 20
    for i in range(4):
        lines.append(_line(100 + i, [f"a_member_{i}"], [10], f'member {i} of a; "example {i}"; "another"'))
    lines.append(_line(104, ["Instance_A"], [10], "an instance of a", symbol="@i"))
    lines.append(_line(105, ["deep_a"], [100], 'below member 0: "quoted" text'))
    lines.append(_line(106, ["two_parents"], [10, 20], "first parent a, second parent b"))
    # category 20: 3 members; category 30: 2 members (below the threshold of 3)
    for i in range(3):
        lines.append(_line(200 + i, [f"b_member_{i}"], [20], f"member {i} of b"))
    for i in range(2):
        lines.append(_line(300 + i, [f"c_member_{i}"], [30], f"member {i} of c"))
    lines.append(_line(400, ["orphan"], [], "no hypernym"))
    lines.sort(key=lambda s: (not s.startswith("  "), s))
    (folder / "data.noun").write_text("".join(lines))
    (folder / "index.noun").write_text(
        "  1 license line\nentity n 1 1 ~ 1 1 00000001  \nplant n 2 1 @ 2 0 00000010 00000020  \n"
    )


def _fake_encoder(calls):
    def encode(texts, desc):
        calls.append(desc)
        out = []
        for t in texts:
            seed = int(hashlib.sha256(t.encode()).hexdigest()[:8], 16)
            v = np.random.default_rng(seed).normal(size=8)
            out.append(v / np.linalg.norm(v))
        return np.asarray(out, np.float32)

    return encode


@pytest.mark.fast
def test_selection_rules_on_a_mini_wordnet(tmp_path):
    W = _script()
    _mini_wordnet(tmp_path)
    assert W.root_offset(tmp_path / "index.noun") == "00000001"
    syn = W.parse_data_noun(tmp_path / "data.noun")
    assert syn["00000104"]["hypernyms"] == ["00000010"]  # @i counts as a hypernym
    assert syn["00000106"]["hypernyms"] == ["00000010", "00000020"]
    assert W.strip_examples(syn["00000100"]["gloss"]) == "member 0 of a"
    assert W.strip_examples(syn["00000105"]["gloss"]) == "below member 0"
    task = W.build_task(tmp_path, depth=6, min_members=3, max_per_category=4, seed=0)
    # categories strictly below depth 6 with >= 3 members: 10 (6 members, capped at 4) and 20 (3)
    assert task["categories"] == ["00000010", "00000020"]
    assert task["class_names"] == ["plant.00000010", "plant.00000020"]  # duplicate lemma disambiguated
    assert task["class_texts"] == ["plant", "plant"]
    members_a = ["00000100", "00000101", "00000102", "00000103", "00000104", "00000105", "00000106"]
    idx = np.sort(np.random.default_rng(0).choice(7, 4, replace=False))
    want = [members_a[i] for i in idx] + ["00000200", "00000201", "00000202"]
    assert task["members"] == want
    assert task["labels"] == [0] * 4 + [1] * 3
    assert all('"' not in t for t in task["texts"])
    assert len(set(task["video_names"])) == 7
    # without the cap every member of a is kept, including the instance, the deep one and the two-parent one
    full = W.build_task(tmp_path, depth=6, min_members=3, max_per_category=100)
    assert full["members"][:7] == members_a


@pytest.mark.fast
def test_build_folder_writes_and_reuses_a_portable_folder(tmp_path):
    W = _script()
    _mini_wordnet(tmp_path)
    out = tmp_path / "testbed"
    calls = []
    kw = {"depth": 6, "min_members": 3, "max_per_category": 4}
    meta = W.build_folder(str(tmp_path), str(out), encode=_fake_encoder(calls), **kw)
    assert calls == ["classes", "glosses"]
    ds = data.load_dataset(out)
    assert ds.summary() == "2 classes, 7 videos, 8 dims"
    assert ds.class_names == ["plant.00000010", "plant.00000020"]
    np.testing.assert_array_equal(ds.labels, [0, 0, 0, 0, 1, 1, 1])
    np.testing.assert_allclose(np.linalg.norm(ds.videos, axis=1), 1.0, atol=1e-6)
    # both classes embed the same lemma text: identical prototypes
    np.testing.assert_array_equal(ds.prototypes[0], ds.prototypes[1])
    assert ds.meta["testbed"]["n_glosses"] == 7 and meta["testbed"]["selection_hash"] == ds.meta["testbed"]["selection_hash"]
    # a second build of the same selection does not embed again
    W.build_folder(str(tmp_path), str(out), encode=_fake_encoder(calls), **kw)
    assert calls == ["classes", "glosses"]
    # another selection does
    W.build_folder(str(tmp_path), str(out), encode=_fake_encoder(calls), **{**kw, "max_per_category": 5})
    assert calls == ["classes", "glosses"] * 2
    assert data.load_dataset(out).n_videos == 8
