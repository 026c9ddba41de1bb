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
@pytest.mark.parametrize(
    "bad, msg",
    [
        ({"top1": 1.0}, "must be a list"),
        ([3], "must be a dict"),
        ([{"lam": 0.5}], "names no metric"),
        ([{"lam": 0.5, "top1": "51"}], "finite number"),
        ([{"lam": 0.5, "top1": 51.0, "tol": -1}], "tol"),
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
            if "static" in e and study.task == "classification":
                labels = {v.label for v in S.expand_static(study, 13320, np.array([50] * 10))}
                assert e["static"] in labels, (f, e, labels)
            if "dataset" in e:
                assert any(e["dataset"] in str(d) for d in study.datasets), (f, e)
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
