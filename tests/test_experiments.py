"""The sweep runner: equals one-by-one core runs, devices, resume, outputs."""

import json
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

import upt_jax as U

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from experiments import run as R  # noqa: E402

DATA = "synthetic:K=12:N=240:d=16:seed=0"
STUDY_SRC = textwrap.dedent(
    f"""
    from experiments.run import Study

    def get_config():
        return Study(
            name="tiny",
            datasets=("{DATA}",),
            protocol="half:3",
            base={{"n_clusters": 20, "kmeans_restarts": 2, "kmeans_max_iter": 30}},
            chunk_rows=4,
            compact=False,
        )

    def sweep():
        return {{"lam": [0.0, 0.5, 1.0], "epsilon": [1e-2]}}
    """
)
COMPARE = ("top1", "top5", "mean_class_accuracy", "unreachable", "n_videos", "n_classes", "converged", "n_iters")

DEVICE_SCRIPT = textwrap.dedent(
    """
    import os, sys
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
    os.environ["JAX_PLATFORMS"] = "cpu"
    sys.path.insert(0, sys.argv[1])
    import jax
    assert len(jax.devices()) == 8, jax.devices()
    from experiments import run as R
    study = R.load_study(sys.argv[2])
    st = R.run_study(study, sys.argv[3], devices=8, progress=False, write_reports=False)
    print("ROWS", st.rows_computed)
    """
)


@pytest.fixture(scope="module")
def study_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("cfg") / "tiny.py"
    path.write_text(STUDY_SRC)
    return str(path)


@pytest.fixture(scope="module")
def eight_devices(study_file, tmp_path_factory):
    """Start the 8-fake-device run early (a subprocess: XLA_FLAGS must be set
    before jax starts); the test collects it."""
    out = str(tmp_path_factory.mktemp("dev8"))
    script = tmp_path_factory.mktemp("script") / "dev8.py"
    script.write_text(DEVICE_SCRIPT)
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    proc = subprocess.Popen(
        [sys.executable, str(script), ROOT, study_file, out],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    yield proc, out
    if proc.poll() is None:
        proc.kill()


@pytest.fixture(scope="module")
def one_device(study_file, eight_devices, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("dev1"))
    study = R.load_study(study_file)
    stats = R.run_study(study, out, devices=1, progress=False)
    return study, out, stats


def _by_key(rows):
    return {r["row_key"]: r for r in rows}


def test_sweep_equals_one_by_one_core_runs(one_device):
    study, out, stats = one_device
    assert stats.rows_computed == 9 and stats.kmeans_computed == 3 and stats.chunks_computed == 3
    rows = R.read_rows(out)
    assert len(rows) == 9
    data = R.resolve_dataset(DATA)
    from upt_jax import protocols

    splits = protocols.from_spec(study.protocol, data.labels, 12)
    cfg = U.UPTConfig(**study.base)
    run = jax.jit(U.make_upt(cfg))
    got = {(r["split"], r["lam"]): r for r in rows}
    for s in range(3):
        key = R.split_key(study.seed, f"half:{s}")
        cm, vm = splits.class_mask[s], splits.video_mask[s]
        for lam in (0.0, 0.5, 1.0):
            new, diag = run(data.prototypes, data.videos, key, U.UPTHyper(lam=lam, epsilon=1e-2), cm, vm)
            m = U.evaluate(new, data.videos, data.labels, class_mask=cm, video_mask=vm)
            r = got[(f"half:{s}", lam)]
            ref = {**U.metrics.summarize(m), "converged": bool(diag.converged), "n_iters": int(diag.n_iters)}
            for f in COMPARE:
                np.testing.assert_allclose(r[f], ref[f], rtol=1e-5, atol=1e-4, err_msg=f"{f} split {s} lam {lam}")
    # lam = 0 is the baseline: the raw prototypes' accuracy
    for s in range(3):
        base = U.evaluate(
            data.prototypes, data.videos, data.labels, class_mask=splits.class_mask[s], video_mask=splits.video_mask[s]
        )
        assert got[(f"half:{s}", 0.0)]["top1"] == pytest.approx(float(base.top1), abs=1e-4)
    # UPT does something on this biased toy world
    assert any(got[(f"half:{s}", 0.5)]["top1"] != got[(f"half:{s}", 0.0)]["top1"] for s in range(3))


def test_rows_carry_config_versions_and_reports(one_device):
    study, out, _ = one_device
    rows = R.read_rows(out)
    r = rows[0]
    for f in ("cfg_hash", "jax_version", "ott_version", "device_kind", "marginal_error", "frechet_iters_max", "config"):
        assert f in r, f
    assert r["config"]["n_clusters"] == 20 and r["jax_version"] == jax.__version__
    assert len({x["row_key"] for x in rows}) == 9
    import csv

    with open(os.path.join(out, "results.csv")) as f:
        csv_rows = list(csv.DictReader(f))
    assert len(csv_rows) == 9 and "config.n_clusters" in csv_rows[0]
    summary = open(os.path.join(out, "summary.md")).read()
    assert "| base | 0.01 | 0.50 | 3 |" in summary
    tab = R.summary_table(rows)
    t = [t for t in tab if t["lam"] == 0.5][0]
    vals = [x["top1"] for x in rows if x["lam"] == 0.5]
    assert t["top1"] == pytest.approx(np.mean(vals)) and t["top1_std"] == pytest.approx(np.std(vals, ddof=1))
    assert os.path.getsize(os.path.join(out, "plots", os.listdir(os.path.join(out, "plots"))[0])) > 1000
    cfg = json.load(open(os.path.join(out, "config.json")))
    assert cfg["study"]["lam"] == [0.0, 0.5, 1.0]


def test_eight_devices_give_the_same_rows(one_device, eight_devices):
    _, out1, _ = one_device
    proc, out8 = eight_devices
    text, _ = proc.communicate(timeout=240)
    assert proc.returncode == 0, text[-3000:]
    assert "ROWS 9" in text
    r1, r8 = _by_key(R.read_rows(out1)), _by_key(R.read_rows(out8))
    assert r1.keys() == r8.keys()
    assert {r["n_devices"] for r in r8.values()} == {8}
    for k in r1:
        for f in COMPARE + ("marginal_error", "moved_angle_deg"):
            np.testing.assert_allclose(r8[k][f], r1[k][f], rtol=1e-5, atol=1e-5, err_msg=f"{f} {k}")


def test_interrupt_and_resume(study_file, one_device, tmp_path):
    study = R.load_study(study_file).replace(compact=True)
    out = str(tmp_path / "resume")
    seen = []

    def stop_after_first(info):
        seen.append(info)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        R.run_study(study, out, devices=1, progress=False, on_chunk=stop_after_first)
    first = R.read_rows(out)
    assert len(first) == 4 and [r["row_key"] for r in first] == seen[0]["keys"]
    # a torn line (crash mid-write) is dropped on resume
    with open(os.path.join(out, "results.jsonl"), "a") as f:
        f.write('{"row_key": "torn')
    stats = R.run_study(study, out, devices=1, progress=False)
    assert stats.rows_skipped == 4 and stats.rows_computed == 5 and stats.chunks_computed == 2
    assert stats.kmeans_computed == 0 and stats.kmeans_loaded == 3  # centres from the cache
    rows = R.read_rows(out)
    keys = [r["row_key"] for r in rows]
    assert len(keys) == 9 == len(set(keys))
    assert rows[:4] == first  # finished rows untouched
    again = R.run_study(study, out, devices=1, progress=False)
    assert again.rows_computed == 0 and again.rows_skipped == 9 and again.kmeans_computed == 0
    # same results as an uninterrupted run
    out2 = str(tmp_path / "straight")
    R.run_study(study, out2, devices=1, progress=False, write_reports=False)
    a, b = _by_key(rows), _by_key(R.read_rows(out2))
    for k in a:
        for f in COMPARE:
            assert a[k][f] == pytest.approx(b[k][f], abs=1e-5), (k, f)


def test_cli_sweep_resumes_the_same_study(study_file, one_device, tmp_path, capsys):
    import argparse

    from upt_jax.cli import sweep as cli_sweep

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    cli_sweep.register(sub)
    out = str(tmp_path / "cli")
    args = parser.parse_args(["sweep", study_file, "--out", out, "--devices", "1", "--no-progress", "--max-chunks", "1"])
    assert args.func(args) == 0
    assert len(R.read_rows(out)) == 4
    args = parser.parse_args(["sweep", study_file, "--out", out, "--no-progress"])
    assert args.func(args) == 0
    assert "5 rows computed, 4 already done" in capsys.readouterr().out
    with pytest.raises(FileNotFoundError):
        args = parser.parse_args(["sweep", str(tmp_path / "missing.py")])
        args.func(args)


@pytest.mark.fast
def test_ready_studies_load_and_expand():
    cfg_dir = os.path.join(ROOT, "experiments", "configs")
    names = sorted(f[:-3] for f in os.listdir(cfg_dir) if f.endswith(".py") and not f.startswith("_"))
    assert {"lam", "clusters", "solver", "cost", "masses", "top_t", "smoke"} <= set(names)
    for name in names:
        st = R.load_study(os.path.join(cfg_dir, name + ".py"))
        assert st.name == name and st.datasets and st.lam
        variants = R.expand_static(st, 13320, np.array([50] * 10))
        assert variants and all(isinstance(v[0], U.UPTConfig) for v in variants)
        mod_doc = open(os.path.join(cfg_dir, name + ".py")).read()
        assert "upt sweep experiments/configs/" + name + ".py" in mod_doc


@pytest.mark.fast
def test_static_expansion_and_emd_rows():
    st = R.Study(
        base={"n_clusters": 100},
        static=({"n_clusters": "K"}, {"n_clusters": "N"}, {"solver": "emd"}),
        epsilon=(1e-2, 1e-1),
    )
    v = R.expand_static(st, 500, np.array([6, 6]))
    assert [c.n_clusters for c, _, _ in v] == [6, 0, 100]
    assert [lb for _, _, lb in v] == ["n_clusters=K,solver=sinkhorn", "n_clusters=N,solver=sinkhorn", "n_clusters=100,solver=emd"]
    with pytest.raises(ValueError, match="one class count"):
        R.expand_static(st, 500, np.array([6, 7]))
    assert R.row_key("d", "all", "h", 0.5, None).endswith("eps=None")
