"""The EXPECTED numbers of studies: validation, matching, and `upt sweep --check`."""

import os
import textwrap

import jax
import numpy as np
import pytest

import upt_jax as U
from upt_jax import protocols
from upt_jax import sweep as S
from upt_jax.sweep import expected as X

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SUMMARY = [
    {"dataset": "world:ucf101:default:seed=0", "protocol": "half", "static": "base", "epsilon": 0.01, "lam": 0.5,
     "top1": 51.44, "unreachable": 0.3},
    {"dataset": "world:ucf101:default:seed=0", "protocol": "half", "static": "base", "epsilon": 0.01, "lam": 0.0,
     "top1": 40.59, "unreachable": 6.6},
    {"dataset": "world:ucf101:default:seed=0", "protocol": "all", "static": "base", "epsilon": 0.01, "lam": 0.5,
     "top1": 38.60, "unreachable": 1.0},
]


@pytest.mark.fast
def test_check_expected_matches_mismatches_and_ambiguity():
    res = X.check_expected(SUMMARY, [
        {"protocol": "half", "lam": 0.5, "top1": 51.40, "unreachable": 0.3},  # within the default tol 0.05
        {"protocol": "half", "lam": 0.0, "top1": 40.0, "tol": 0.5},  # off by 0.59 > 0.5
        {"protocol": "half", "lam": 0.3, "top1": 45.0},  # no such row
        {"lam": 0.5, "top1": 40.0},  # two rows: ambiguous
        {"dataset": "ucf101", "protocol": "all", "lam": 0.5, "top1": 38.6},  # substring match of the dataset
    ])
    assert [(r["metric"], r["ok"]) for r in res] == [
        ("top1", True), ("unreachable", True), ("top1", False), ("top1", False), ("top1", False), ("top1", True)]
    assert res[2]["measured"] == pytest.approx(40.59) and res[3]["n_rows"] == 0 and res[4]["n_rows"] == 2
    table = X.format_check(res)
    assert "no row" in table and "2 rows: be more specific" in table and table.count("| NO |") == 3


@pytest.mark.fast
def test_check_run_selects_grid_fields_with_where_and_refuses_pooled_rows(tmp_path):
    """Rows of a task with its own grid (localization: top_objects, ...) in
    one split: ``where`` picks one grid point; without it the summary would
    average different grid points, so the entry is ambiguous."""
    from upt_jax.sweep.store import append_rows

    rows = [
        {"dataset": "world:jhmdb:default:seed=0", "protocol": "all", "static": "base", "cfg_hash": "h",
         "epsilon": 0.01, "lam": lam, "split": "test", "top_objects": n, "iou_weight": w,
         "map_mean": 10 * lam + n + w, "classification_top1": 20.0 + n, "converged": True,
         "row_key": f"lam={lam}|n={n}|iou={w}"}
        for lam in (0.0, 0.5) for n in (0, 1, 10) for w in (0.5, 1.0)
    ]
    append_rows(str(tmp_path), rows + rows[:1])  # a row written twice counts once
    res = X.check_run(str(tmp_path), [
        {"lam": 0.5, "where": {"top_objects": 1, "iou_weight": 0.5}, "map_mean": 6.5, "classification_top1": 21.0},
        {"lam": 0.5, "where": {"top_objects": 10, "iou_weight": 1.0}, "map_mean": 15.9, "tol": 0.2},  # 16.0 +- 0.2
        {"lam": 0.0, "where": {"top_objects": 1, "iou_weight": 0.5}, "map_mean": 2.0},  # measured 1.5
        {"lam": 0.0, "where": {"top_objects": 2, "iou_weight": 0.5}, "map_mean": 2.5},  # no such grid point
        {"dataset": "jhmdb", "lam": 0.0, "where": {"top_objects": 1}, "map_mean": 1.5},  # pools iou_weight 0.5 and 1
    ])
    assert [(r["metric"], r["ok"], r["n_rows"]) for r in res] == [
        ("map_mean", True, 1), ("classification_top1", True, 1), ("map_mean", True, 1), ("map_mean", False, 1),
        ("map_mean", False, 0), ("map_mean", False, 2)]
    # measured values = the one row of that grid point, computed here from the definition of the rows
    assert res[0]["measured"] == pytest.approx(6.5) and res[2]["measured"] == pytest.approx(16.0)
    assert res[3]["measured"] == pytest.approx(1.5) and res[5]["measured"] is None
    assert res[0]["entry"] == {"lam": 0.5, "top_objects": 1, "iou_weight": 0.5}
    table = (tmp_path / "expected_check.md").read_text()
    assert "top_objects=1, iou_weight=0.5" in table and "2 rows: be more specific" in table and "no row" in table
    # no entry tells the IoU weights apart: every summary row pools two grid points of one split
    res = X.check_run(str(tmp_path), [{"lam": 0.0, "where": {"top_objects": 1}, "map_mean": 1.75, "tol": 1.0}])
    assert [(r["ok"], r["n_rows"], r["measured"]) for r in res] == [(False, 2, None)]
    res = X.check_run(str(tmp_path), [{"lam": 0.0, "where": {"top_objects": 1, "iou_weight": 1.0}, "map_mean": 2.0}])
    assert [(r["ok"], r["n_rows"]) for r in res] == [(True, 1)]


@pytest.mark.fast
@pytest.mark.parametrize(
    "bad, msg",
    [
        ({"top1": 1.0}, "must be a list"),
        ([3], "must be a dict"),
        ([{"lam": 0.5}], "names no metric"),
        ([{"lam": 0.5, "top1": "51"}], "finite number"),
        ([{"lam": 0.5, "top1": 51.0, "tol": -1}], "tol"),
        ([{"lam": 0.5, "top1": 51.0, "where": [("top_objects", 1)]}], "must be a dict of row fields"),
        ([{"lam": 0.5, "top1": 51.0, "where": {"lam": 0.5}}], "selectors or metrics"),
        ([{"lam": 0.5, "where": {"top_objects": 1}}], "names no metric"),
    ],
)
def test_validate_expected_refuses_malformed_entries(bad, msg):
    with pytest.raises(U.UPTError, match=msg):
        X.validate_expected(bad)


def _protocol_families(spec) -> set:
    return {p.partition(":")[0] for p in str(spec).split("+")}


@pytest.mark.fast
def test_every_ready_study_expected_entry_names_a_row_of_its_grid():
    """Each EXPECTED entry must select values the study actually runs (its
    numbers are then asserted by `upt sweep CONFIG --check`)."""
    cfg_dir = os.path.join(ROOT, "experiments", "configs")
    checked = 0
    for f in sorted(os.listdir(cfg_dir)):
        if not f.endswith(".py") or f.startswith("_"):
            continue
        path = os.path.join(cfg_dir, f)
        entries = X.load_expected(path)
        study = S.load_study(path)
        for e in entries:
            assert "seconds" not in e, f"{f}: timings do not belong in EXPECTED"
            if "lam" in e:
                assert any(abs(float(e["lam"]) - float(x)) < 1e-9 for x in study.lam), (f, e)
            if "epsilon" in e and e["epsilon"] is not None:
                assert any(abs(float(e["epsilon"]) - float(x)) < 1e-12 for x in study.epsilon), (f, e)
            if "protocol" in e:
                assert e["protocol"] in _protocol_families(study.protocol), (f, e)
            if "static" in e:
                labels = {v.label for v in S.expand_static(study, 13320, np.array([50] * 10))}
                assert e["static"] in labels, (f, e, labels)
            if "dataset" in e:
                assert any(e["dataset"] in str(d) for d in study.datasets), (f, e)
            for k, v in e.get("where", {}).items():  # a field of the task's own grids (sweep() -> "grids")
                assert k in study.grids and any(abs(float(v) - float(x)) < 1e-9 for x in study.grids[k]), (f, e)
            checked += 1
    assert checked > 0


STUDY = textwrap.dedent(
    """
    from upt_jax.sweep import Study

    EXPECTED = [{{"protocol": "half", "lam": 0.5, "top1": {top1!r}, "tol": 1e-3}}]

    def get_config():
        return Study(name="expected_tiny", datasets=("synthetic:K=12:N=240:d=16:seed=0",), protocol="half:2",
                     base={{"n_clusters": 0}}, lam=(0.5,), epsilon=(1e-2,))
    """
)


def test_sweep_check_asserts_expected_against_an_independent_run(tmp_path, capsys):
    from upt_jax.cli import main

    # the promised number, computed without the runner: upt() + evaluate() per split, mean over splits
    ds = S.resolve_dataset("synthetic:K=12:N=240:d=16:seed=0")
    splits = protocols.from_spec("half:2", ds.labels, 12, ds.class_names)
    run = jax.jit(U.make_upt(U.UPTConfig(n_clusters=0)))
    top1 = []
    for s in range(len(splits)):
        new, _ = run(ds.prototypes, ds.videos, jax.random.PRNGKey(0), U.UPTHyper(0.5, 1e-2),
                     splits.class_mask[s], splits.video_mask[s])
        m = U.evaluate(new, ds.videos, ds.labels, class_mask=splits.class_mask[s], video_mask=splits.video_mask[s])
        top1.append(float(m.top1))
    promised = float(np.mean(top1))

    cfg = tmp_path / "study.py"
    cfg.write_text(STUDY.format(top1=round(promised, 4)))
    argv = ["--no-compile-cache", "sweep", str(cfg), "--out", str(tmp_path / "out"), "--no-progress",
            "--devices", "1", "--no-cache", "--check"]
    assert main(argv) == 0
    assert "all 1 expected numbers match" in capsys.readouterr().err
    assert "| yes |" in (tmp_path / "out" / "expected_check.md").read_text()

    cfg.write_text(STUDY.format(top1=round(promised + 1.0, 4)))  # a promise the run does not keep
    assert main(argv) == 4  # resumes (nothing to compute) and checks again
    assert "1 of 1 expected numbers differ" in capsys.readouterr().err
    # --check-only compares the rows already there and computes nothing (here: rows of the run above)
    only = ["sweep", str(cfg), "--out", str(tmp_path / "out"), "--check-only"]
    assert main(only) == 4 and "1 of 1 expected numbers differ" in capsys.readouterr().err
    cfg.write_text(STUDY.format(top1=round(promised, 4)))
    assert main(only) == 0 and "all 1 expected numbers match" in capsys.readouterr().err
    assert main(["sweep", str(cfg), "--out", str(tmp_path / "empty"), "--check-only"]) == 2
    assert "no rows in" in capsys.readouterr().err


@pytest.mark.fast
def test_dataset_selector_matches_whole_parts_of_the_spec():
    spec = "world:ucf101:default:seed=0:imbalance=1.5"
    assert X.dataset_matches("ucf101:default", spec) and X.dataset_matches(spec, spec)
    assert X.dataset_matches("imbalance=1.5", spec) and not X.dataset_matches("imbalance=1", spec)
    assert not X.dataset_matches("ucf101:seed=0", spec)  # parts must be adjacent
    assert not X.dataset_matches("ucf", spec) and not X.dataset_matches("", spec)
    assert X.dataset_matches("wordnet-nouns", "data/wordnet-nouns") and not X.dataset_matches("nouns", "data/wordnet-nouns")
    rows = [{"dataset": f"world:ucf101:default:seed=0:imbalance={s}", "protocol": "all", "static": "base",
             "epsilon": 0.01, "lam": 0.5, "top1": 10.0 * s} for s in (1, 1.5)]
    res = X.check_expected(rows, [{"dataset": "ucf101:default:seed=0:imbalance=1", "top1": 10.0}])
    assert [(r["ok"], r["n_rows"]) for r in res] == [(True, 1)]
