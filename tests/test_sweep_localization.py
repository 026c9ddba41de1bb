"""The localization task of the sweep runner: rows equal single ``localize()``
runs on the same inputs, an interrupted sweep resumes, stale rows are refused,
mistakes in a study are named.

The study runs on the ``clean`` UCF Sports world of
``tests/test_localization_pipeline.py`` (the same spec, so the same input
shapes and the same compiled programs), with that file's config.
"""

import json
import os

import numpy as np
import pytest

from tests.test_localization_pipeline import CFG, CLEAN_SPEC, THR, grid_of, loc, run_grid, worlds
from upt_jax.cli import main
from upt_jax.errors import UPTError
from upt_jax.sweep import StaleResultsError, Study, read_rows, run_study

LAM = (0.0, 0.5, 1.0)  # chunk_rows=24: two calls of 2 lam values (the second padded), 36 rows
GRIDS = {"top_objects": [0, 1, 2], "iou_weight": [0.8, 2.0], "max_dist": [30.0, 10.0]}
BASE = {"tubes": CFG.tubes, "thresholds": list(THR), "solver": CFG.solver, "video_batch": CFG.video_batch}

STUDY_FILE = f'''
"""A tiny localization study (test)."""
from upt_jax.sweep import Study


def get_config():
    return Study(name="loc_test", datasets=({CLEAN_SPEC!r},), protocol="all", task="localization",
                 base={BASE!r}, chunk_rows=24)


def sweep():
    return {{"lam": {list(LAM)!r}, "grids": {GRIDS!r}}}
'''


def test_sweep_rows_equal_localize_and_resume(tmp_path, capsys):
    study_file = tmp_path / "loc_study.py"
    study_file.write_text(STUDY_FILE)
    out = tmp_path / "run"
    cmd = ["--no-compile-cache", "sweep", str(study_file), "--out", str(out), "--no-progress"]
    # interrupted after the first call (lam 0 and 0.5: 24 rows), then resumed
    assert main(cmd + ["--max-chunks", "1"]) == 0
    assert "24 rows computed" in capsys.readouterr().out
    first = read_rows(str(out))
    assert len(first) == 24 and {r["lam"] for r in first} == {0.0, 0.5}
    assert main(cmd) == 0
    printed = capsys.readouterr().out
    assert "12 rows computed" in printed and "24 already done" in printed
    rows = read_rows(str(out))
    assert len(rows) == 36 and rows[:24] == first  # the first rows were kept, not recomputed
    assert main(cmd) == 0  # nothing left to do
    assert "0 rows computed" in capsys.readouterr().out and len(read_rows(str(out))) == 36

    (data, _), (clean, x) = worlds()
    names = [f"{t:g}" for t in THR]
    grid = run_grid(x, grid_of(lam=(1.0, 1.0), **{k: tuple(v) for k, v in GRIDS.items()}))  # what the padded call ran
    n_localize = 0
    for r in rows:
        assert r["dataset"] == CLEAN_SPEC and r["task"] == "localization" and r["split"] == "test"
        assert list(r["map"]) == names and r["map_at_0.5"] == r["map"]["0.5"]
        assert r["map_mean"] == pytest.approx(np.mean(list(r["map"].values())))
        assert r["config"]["top_objects"] == r["top_objects"] and r["config"]["tubes"] == CFG.tubes
        assert r["n_videos"] == len(clean.videos) and all(len(v) == r["top_objects"] for v in r["objects_per_action"].values())
        assert r["transport_converged"] and r["converged"] and "median_moved_angle_deg" in r  # summarize_diagnostics names
        at = (0, GRIDS["top_objects"].index(r["top_objects"]), GRIDS["iou_weight"].index(r["iou_weight"]),
              GRIDS["max_dist"].index(r["max_dist"]))
        if r["lam"] == 1.0:  # rows equal localize_grid called directly
            np.testing.assert_array_equal(list(r["map"].values()), np.asarray(grid.map[at], np.float64))
            assert r["classification_top1"] == float(grid.top1[at])
        if r["top_objects"] == CFG.top_objects:  # the very localize() the pipeline tests compiled (same shapes)
            ref = loc(x, r["lam"], iou_weight=r["iou_weight"], max_dist=r["max_dist"])[1]
            np.testing.assert_allclose(list(r["map"].values()), ref.metrics.map, atol=1e-4)
            assert r["classification_top1"] == pytest.approx(float(ref.metrics.top1), rel=1e-6)
            ap5 = ref.metrics.ap[THR.index(0.5)]
            got5 = np.array([np.nan if v is None else v for v in r["ap_at_0.5_per_class"].values()])
            np.testing.assert_allclose(got5, ap5, atol=1e-4)
            names_ref = [[clean.object_names[o] for o in row] for row in ref.object_indices]
            assert list(r["objects_per_action"].values()) == names_ref
            n_localize += 1
    assert n_localize == 12
    assert os.path.getsize(out / "plots" / os.listdir(out / "plots")[0]) > 1000
    summary = (out / "summary.md").read_text()
    assert "Best mean mAP" in summary and "| base | - | 0.50 | 2 | 0.8 | 30 |" in summary
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["grids"]["top_objects"] == [0, 1, 2] and cfg["datasets"][CLEAN_SPEC]["videos"] == len(clean.videos)

    # rows from other data are refused (before anything is computed); --force-new starts over
    study = Study(name="loc_test", datasets=(CLEAN_SPEC,), protocol="all", task="localization", base=BASE,
                  lam=LAM, grids=GRIDS, chunk_rows=24)
    with pytest.raises(StaleResultsError, match="computed from other data"):
        run_study(study, str(out), datasets={CLEAN_SPEC: data}, progress=False)
    stats = run_study(study.replace(lam=(0.0, 0.5)), str(out), force_new=True, progress=False, datasets={CLEAN_SPEC: clean})
    assert stats.rows_computed == 24 and len(read_rows(str(out))) == 24
    assert any(p.startswith("previous-") for p in os.listdir(out))


def test_study_mistakes_are_named(tmp_path):
    base = Study(name="bad", datasets=(CLEAN_SPEC,), protocol="all", task="localization")
    with pytest.raises(UPTError, match="protocol='all'"):
        run_study(base.replace(protocol="half"), str(tmp_path / "a"), progress=False)
    with pytest.raises(UPTError, match=r"unknown key\(s\) \['tubes'\]"):
        run_study(base.replace(grids={"tubes": [1, 2]}), str(tmp_path / "b"), progress=False)
    with pytest.raises(UPTError, match="sets top_objects"):
        run_study(base.replace(static=({"top_objects": 2},)), str(tmp_path / "c"), progress=False)
    with pytest.raises(UPTError, match="the localization worlds are"):
        run_study(base.replace(datasets=("world:ucf101:default",)), str(tmp_path / "d"), progress=False)
    with pytest.raises(UPTError, match="not LocalizationConfig fields"):
        run_study(base.replace(base={"n_clusters": 10}), str(tmp_path / "e"), progress=False)


@pytest.mark.fast
def test_localization_study_expands_with_its_own_config_type():
    """``expand_static`` builds the task's LocalizationConfig (not a UPTConfig)
    from the study's base; the runner's variants are those, with top_objects
    = the grid's largest n."""
    from upt_jax.localization import LocalizationConfig
    from upt_jax.sweep import expand_static, load_study
    from upt_jax.sweep.task_localization import _variants, resolve_grids

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    st = load_study(os.path.join(root, "experiments", "configs", "localization.py"))
    (v,) = expand_static(st, 47, np.zeros(1, np.int64))
    assert v.config == LocalizationConfig(**st.base) and v.label == "base"
    (run,) = _variants(st, resolve_grids(st), 80)
    assert run.config == v.config.replace(top_objects=3, video_batch=run.config.video_batch) and run.label == "base"
    two = st.replace(static=({"tubes": 2}, {"tubes": 5, "solver": "emd"}))
    labels = [x.label for x in _variants(two, resolve_grids(two), 80)]
    assert labels == [x.label for x in expand_static(two, 47, np.zeros(1, np.int64))] == [
        "solver=sinkhorn,tubes=2", "solver=emd,tubes=5"]
