"""`upt validate DIR` through the dispatcher (upt_jax.cli.main)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from upt_jax.cli import main
from upt_jax.data import Dataset, save_portable, write_official

pytestmark = pytest.mark.fast

K, D, N, O = 4, 6, 12, 3
EMB = "embeddings"


def make_dataset(objects: bool = True) -> Dataset:
    rng = np.random.default_rng(0)
    classes = ["Archery", "Bowling", "Diving", "Fencing"]
    labels = (np.arange(N) % K).astype(np.int32)
    return Dataset(
        name="ucf101",
        class_names=classes,
        prototypes=rng.normal(size=(K, D)).astype(np.float32),
        videos=rng.normal(size=(N, D)).astype(np.float32),
        labels=labels,
        video_names=[f"{classes[c]}/v_{classes[c]}_g{i:02d}_c01.avi" for i, c in enumerate(labels)],
        object_prototypes=rng.normal(size=(O, D)).astype(np.float32) if objects else None,
        object_probs=rng.random((N, O)).astype(np.float32) if objects else None,
    )


def test_validate_ok_official(tmp_path, capsys):
    write_official(make_dataset(), tmp_path / "ucf")
    assert main(["validate", str(tmp_path / "ucf")]) == 0
    out = capsys.readouterr().out.strip()
    assert out == f"OK: official, {K} classes, {N} videos, {D} dims, {O} objects"
    # the embeddings/ folder itself works too
    assert main(["validate", str(tmp_path / "ucf" / EMB)]) == 0
    assert capsys.readouterr().out.startswith("OK: official")


def test_validate_ok_portable_without_objects(tmp_path, capsys):
    save_portable(make_dataset(objects=False), tmp_path / "p")
    assert main(["validate", str(tmp_path / "p")]) == 0
    assert capsys.readouterr().out.strip() == f"OK: portable, {K} classes, {N} videos, {D} dims"


def test_validate_lists_every_problem(tmp_path, capsys):
    write_official(make_dataset(), tmp_path / "ucf")
    os.remove(tmp_path / "ucf" / EMB / "ucf101_actions.npy")
    f = tmp_path / "ucf" / EMB / "ucf101_video_embeddings_r2plus1d18.npy"
    v = np.load(f)
    v[4] = 0
    np.save(f, v)
    assert main(["validate", str(tmp_path / "ucf")]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].endswith("(official): 2 problems")
    assert lines[1].strip().startswith("ucf101_actions.npy: missing file")
    assert "all zero" in lines[2] and "(first row indices: 4)" in lines[2]
    assert len(lines) == 3


def test_validate_not_a_data_folder(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "missing")]) == 1
    out = capsys.readouterr().out
    assert "no such folder" in out
    assert main(["validate", str(tmp_path)]) == 1
    assert "not a upt_jax data folder" in capsys.readouterr().out
