"""The portable localization folder (round trip, padding, validate messages),
the ICCV 2017 detection files (NMS, importer) and the simulated worlds."""

import json
import os

import numpy as np
import pytest

from upt_jax.cli import main
from upt_jax.errors import DataError
from upt_jax.localization import data as D
from upt_jax.localization import world as W

pytestmark = pytest.mark.fast


@pytest.fixture(scope="module")
def small():
    return W.generate_world(W.make_world_config("jhmdb", "default", n_videos=5, n_frames=8))


def test_round_trip_and_padding(small, tmp_path):
    D.save_localization(small, tmp_path / "w")
    back = D.load_localization(tmp_path / "w")
    assert back.action_names == small.action_names and back.object_names == small.object_names
    for a, b in zip(small.videos, back.videos):
        assert (a.name, a.label, a.n_frames) == (b.name, b.label, b.n_frames)
        for k in D._ARRAYS:
            np.testing.assert_array_equal(getattr(a, k), getattr(b, k))
    x = D.to_inputs(back)
    v = back.videos[2]
    # every person row lands in its frame, in file order within the frame
    for t in range(v.n_frames):
        rows = v.person_boxes[v.person_boxes[:, 0] == t, 1:]
        n = len(rows)
        np.testing.assert_array_equal(x.person_boxes[2, t, :n], rows)
        assert x.person_mask[2, t, :n].all() and not x.person_mask[2, t, n:].any()
    assert x.frame_mask[2].sum() == v.n_frames and x.labels[2] == v.label


def test_ground_truth_rows_with_negative_coordinates_are_unannotated():
    v = D.LocVideo("a/v1", 0, 4, 100, 100, np.array([[0, 1, 1, 5, 5]], np.float32), np.array([0.9], np.float32),
                   np.zeros((0, 5), np.float32), np.zeros(0, np.int32), np.zeros(0, np.float32),
                   np.array([[7, 0, 1, 1, 5, 5], [7, 1, -1, -1, -1, -1], [9, 2, 2, 2, 6, 6]], np.float32))
    data = D.LocalizationData("t", ["a", "b"], ["o"], np.eye(2, 3, dtype=np.float32), np.ones((1, 3), np.float32),
                              np.full((1, 9), 1 / 9, np.float32), [v])
    assert D.check_localization(data) == []
    x = D.to_inputs(data)
    assert x.gt_tube_mask[0].tolist() == [True, True]
    assert x.gt_mask[0, 0].tolist() == [True, False, False, False]
    assert x.gt_mask[0, 1].tolist() == [False, False, True, False]


def test_validate_lists_every_problem(small, tmp_path, capsys):
    d = tmp_path / "w"
    D.save_localization(small, d)
    assert main(["--no-compile-cache", "validate", str(d)]) == 0
    assert capsys.readouterr().out.startswith("OK: localization, 21 actions, 80 objects, 5 videos")
    v0, v1 = small.videos[0].name, small.videos[1].name
    f0 = d / "videos" / (v0 + ".npz")
    z = dict(np.load(f0))
    z["person_boxes"][0, 3] = z["person_boxes"][0, 1] - 1  # x2 <= x1
    z["person_scores"][1] = np.nan
    z["object_boxes"][0, 0] = 99  # frame outside [0, n_frames)
    z["object_labels"][2] = 80  # label out of range
    np.savez(f0, **z)
    f1 = d / "videos" / (v1 + ".npz")
    z = dict(np.load(f1))
    z["person_boxes"] = np.zeros((0, 5), np.float32)
    z["person_scores"] = np.zeros(0, np.float32)
    np.savez(f1, **z)
    pri = np.load(d / "spatial_priors.npy")
    pri[3] *= 2
    np.save(d / "spatial_priors.npy", pri)
    meta = json.loads((d / "meta.json").read_text())
    meta["videos"][2]["label"] = 21
    (d / "meta.json").write_text(json.dumps(meta))
    assert main(["--no-compile-cache", "validate", str(d)]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].endswith("(localization): 7 problems")
    body = "\n".join(lines[1:])
    assert len(lines) == 8
    assert f"videos/{v0}.npz: person_boxes has boxes with x2 <= x1 or y2 <= y1 in 1 row(s) (first: [0])" in body
    assert f"videos/{v0}.npz: person_scores has NaN/Inf in 1 row(s) (first: [1])" in body
    assert f"videos/{v0}.npz: object_boxes has frames outside [0, n_frames=" in body
    assert f"videos/{v0}.npz: object_labels outside [0, 80) in 1 row(s) (first: [2])" in body
    assert f"videos/{v1}.npz: no person box at all" in body
    assert "spatial_priors.npy: 1 row(s) are not distributions" in body and "'motorcycle'" in body
    assert f"meta.json: video {small.videos[2].name!r} has label 21, outside [0, 21)" in body
    with pytest.raises(DataError, match="7 problems"):
        D.load_localization(d)
    os.remove(f1)
    assert main(["--no-compile-cache", "validate", str(d)]) == 1
    assert f"videos/{v1}.npz: missing file" in capsys.readouterr().out


def np_nms(dets, thr):
    """Greedy NMS straight from its definition (+1 pixel areas), one box at a time."""
    order = sorted(range(len(dets)), key=lambda i: (dets[i, 4], i), reverse=True)
    keep, removed = [], set()
    for i in order:
        if i in removed:
            continue
        keep.append(i)
        for j in order:
            if j in removed or j == i or j in keep:
                continue
            a, b = dets[i], dets[j]
            w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]) + 1)
            h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]) + 1)
            inter = w * h
            ov = inter / ((a[2] - a[0] + 1) * (a[3] - a[1] + 1) + (b[2] - b[0] + 1) * (b[3] - b[1] + 1) - inter)
            if ov > thr:
                removed.add(j)
    return keep


def test_iccv_nms_matches_definition():
    rng = np.random.default_rng(0)
    for _ in range(5):
        xy = rng.uniform(0, 50, size=(25, 2))
        dets = np.concatenate([xy, xy + rng.uniform(5, 30, size=(25, 2)), rng.random((25, 1)).round(1)], axis=1)
        assert D.iccv_nms(dets, 0.5).tolist() == np_nms(dets, 0.5)


def iccv_frame(rows):
    """One ICCV 2017 frame: rows of (class, score, box) -> [N, 405] (other classes score 0)."""
    out = np.zeros((len(rows), 81 * 5))
    for i, (cls, score, box) in enumerate(rows):
        out[i, cls] = score
        out[i, 81 + 4 * cls: 81 + 4 * cls + 4] = box
    return out


def write_iccv(root):
    """Two videos of 3 frames; video 1 has two overlapping person proposals in frame 0."""
    frames = {
        "diving/Diving-Side/001": [
            [(1, 0.9, [10, 10, 50, 90]), (1, 0.8, [12, 11, 52, 91]), (38, 0.7, [55, 20, 70, 40])],  # second person suppressed
            [(1, 0.95, [11, 10, 51, 90]), (38, 0.005, [55, 20, 70, 40])],  # object below --min-score
            [(1, 0.9, [12, 10, 52, 90]), (1, 0.6, [100, 10, 140, 90])],
        ],
        "kicking/Kicking-Front/002": [
            [(1, 0.7, [5, 5, 40, 80]), (33, 0.6, [30, 70, 40, 80])],
            [(1, 0.7, [6, 5, 41, 80])],
            [(1, 0.7, [7, 5, 42, 80]), (33, 0.5, [31, 70, 41, 80]), (33, 0.4, [31, 70, 41, 81])],  # NMS keeps one ball
        ],
    }
    for name, fr in frames.items():
        os.makedirs(root / name)
        for t, rows in enumerate(fr):
            np.save(root / name / f"{t + 1:05d}.npy", iccv_frame(rows))
    gt = root.parent / "gt"
    os.makedirs(gt / "diving" / "Diving-Side")
    np.save(gt / "diving" / "Diving-Side" / "001.npy", np.array([[0, 10, 10, 50, 90], [2, 12, 10, 52, 90]], float))
    return list(frames), gt


def test_import_iccv_reads_hand_made_files(tmp_path):
    names, gt = write_iccv(tmp_path / "dets")
    assets = W.load_assets("ucf-sports")
    data = D.import_iccv(tmp_path / "dets", video_names=names, action_names=assets["action_names"],
                         action_prototypes=assets["action_prototypes"], object_names=assets["object_names"],
                         object_prototypes=assets["object_prototypes"], priors=assets["priors"], gt=gt, stride=2)
    v0, v1 = data.videos
    assert (v0.label, v1.label) == (0, 1) and v0.n_frames == 5  # frames 0, 2, 4 (stride 2)
    np.testing.assert_array_equal(v0.person_boxes, [[0, 10, 10, 50, 90], [2, 11, 10, 51, 90], [4, 12, 10, 52, 90], [4, 100, 10, 140, 90]])
    np.testing.assert_allclose(v0.person_scores, [0.9, 0.95, 0.9, 0.6])
    # persons are objects of class "person" too; the surfboard (column 38 -> class 37) of frame 0 only
    assert [assets["object_names"][o] for o in v0.object_labels] == ["person", "surfboard", "person", "person", "person"]
    assert v0.object_boxes[:, 0].tolist() == [0, 0, 2, 4, 4]
    np.testing.assert_array_equal(v0.gt_boxes, [[0, 0, 10, 10, 50, 90], [0, 2, 12, 10, 52, 90]])
    balls = v1.object_boxes[v1.object_labels == assets["object_names"].index("sports ball")]
    assert balls[:, 0].tolist() == [0, 4]
    assert len(v1.gt_boxes) == 0 and (v0.width, v0.height) == (140, 90)
    with pytest.raises(DataError, match="no detection folder for video 'diving/none'"):
        D.import_iccv(tmp_path / "dets", video_names=["diving/none"], action_names=assets["action_names"],
                      action_prototypes=assets["action_prototypes"], object_names=assets["object_names"],
                      object_prototypes=assets["object_prototypes"], priors=assets["priors"])
    with pytest.raises(DataError, match=r"expected \[proposals, 405\]"):
        D.read_iccv_frame(np.zeros((3, 400)), where="f.npy")


def test_worlds_are_seeded_valid_and_close_to_the_real_sizes():
    for ds, frames in (("ucf-sports", 60), ("jhmdb", 35), ("ucf101-24", 180)):
        cfg = W.make_world_config(ds, "hard", n_videos=4)
        a, b = W.generate_world(cfg), W.generate_world(cfg)
        assert D.check_localization(a) == []
        for va, vb in zip(a.videos, b.videos):
            np.testing.assert_array_equal(va.person_boxes, vb.person_boxes)
            assert 0.7 * frames <= va.n_frames <= 1.3 * frames
        x = D.to_inputs(a)
        assert x.person_mask.sum(-1).max() <= 10 and x.object_mask.sum(-1).max() <= 30
    full = W.generate_world(W.make_world_config("ucf-sports", "clean", n_frames=8))
    assert len(full.videos) == 47 and len(full.action_names) == 10 and full.priors.shape == (80, 9)
    # the true objects are only partly the encoder's nearest ones
    top = np.argmax(full.action_prototypes @ full.object_prototypes.T, axis=1)
    agree = [full.object_names[t] in objs for t, objs in zip(top, full.meta["true_objects"].values())]
    assert 0 < sum(agree) < len(agree)


def _fake_tubes(data):
    x = D.to_inputs(data)
    v, t = x.person_boxes.shape[:2]
    a = len(data.action_names)
    tubes = np.where(x.person_mask[:, None, None, :, 0], 0, -1) * np.ones((v, a, 2, t), int)
    return x, tubes


def test_hdf5_tubes_need_h5py_or_are_written_in_the_iccv_layout(small, tmp_path):
    x, tubes = _fake_tubes(small)
    scores_fn = lambda i: np.asarray(x.person_scores[i])[None].repeat(len(small.action_names), 0)  # noqa: E731
    try:
        import h5py
    except ImportError:
        from upt_jax.errors import MissingDependencyError

        with pytest.raises(MissingDependencyError, match="h5py"):
            D.write_tubes_hdf5(tmp_path, small, x, tubes, scores_fn)
        return
    root = D.write_tubes_hdf5(tmp_path, small, x, tubes, scores_fn)
    v = small.videos[0]
    with h5py.File(os.path.join(root, small.action_names[0], v.name, "tubes.hdf5")) as h:
        rows = h["1"][:]
        assert rows.shape[1] == 5 and set(h) == {"0", "1", "scores-0", "scores-1"}
        np.testing.assert_allclose(rows[:, 1:], x.person_boxes[0, rows[:, 0].astype(int), 0])


def test_write_tubes_npz(small, tmp_path):
    x, tubes = _fake_tubes(small)
    folder = D.write_tubes(tmp_path, small, x, tubes, np.zeros(tubes.shape[:3]))
    z = np.load(os.path.join(folder, small.videos[1].name + ".npz"))
    f = z["boxes"][0, 0, :, 0].astype(int)
    np.testing.assert_allclose(z["boxes"][0, 0, :, 1:], x.person_boxes[1, f, 0])
    assert json.load(open(os.path.join(folder, "index.json")))["videos"][1] == small.videos[1].name
