"""The sweep runner (upt_jax.sweep): rows equal upt() + evaluate(), one transport
per split, stacked datasets, devices, resume, stale rows, the CLI."""

import json
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

import upt_jax as U
from upt_jax import data as D
from upt_jax import protocols, records
from upt_jax import sweep as S
from upt_jax.sweep import centres as C
from upt_jax.sweep import execute as E
from upt_jax.sweep import plan as P
from upt_jax.sweep import report as R
from upt_jax.sweep import store

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = "synthetic:K=12:N=240:d=16:seed=0"
LAMS = [0.0, 0.5, 1.0]
BASE = {"n_clusters": 20, "kmeans_restarts": 2, "kmeans_max_iter": 30}


def study_source(static: str = "[{}]") -> str:
    return textwrap.dedent(
        f"""
        from upt_jax.sweep import Study

        def get_config():
            return Study(
                name="tiny",
                datasets=("{DATA}",),
                protocol="half:3",
                base={BASE!r},
                chunk_rows=6,
                compact=False,
            )

        def sweep():
            return {{"static": {static}, "lam": {LAMS!r}, "epsilon": [1e-2]}}
        """
    )


DEVICE_SCRIPT = textwrap.dedent(
    """
    import os, sys
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8 --xla_backend_optimization_level=0"
    os.environ["JAX_PLATFORMS"] = "cpu"
    import jax
    assert len(jax.devices()) == 8, jax.devices()
    from upt_jax import sweep as S
    study = S.load_study(sys.argv[1])
    st = S.run_study(study, sys.argv[2], devices=8, progress=False, write_reports=False)
    print("ROWS", st.rows_computed, "TRANSPORTS", st.transports_solved)
    """
)


@pytest.fixture(scope="module")
def study_file(tmp_path_factory):
    """A config file outside the repository (Sinkhorn only)."""
    path = tmp_path_factory.mktemp("cfg") / "tiny.py"
    path.write_text(study_source())
    return str(path)


@pytest.fixture(scope="module")
def eight_devices(study_file, tmp_path_factory):
    """Start the 8-fake-device run early (XLA_FLAGS must be set before jax
    starts, so a subprocess); the test collects it."""
    out = str(tmp_path_factory.mktemp("dev8"))
    script = tmp_path_factory.mktemp("script") / "dev8.py"
    script.write_text(DEVICE_SCRIPT)
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    proc = subprocess.Popen(
        [sys.executable, str(script), study_file, out],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=str(tmp_path_factory.mktemp("cwd")),
    )
    yield proc, out
    if proc.poll() is None:
        proc.kill()


@pytest.fixture(scope="module")
def one_device(study_file, eight_devices, tmp_path_factory):
    """The tiny study (+ an EMD variant) on one device, full masked k-means input."""
    out = str(tmp_path_factory.mktemp("dev1"))
    study = S.load_study(study_file).replace(static=({}, {"solver": "emd"}))
    stats = S.run_study(study, out, devices=1, progress=False)
    return study, out, stats


def _key(r):
    return (r["dataset"], r["split"], r["static"], r["lam"], r["epsilon"])


def _by_key(rows):
    return {_key(r): r for r in rows}


def _reference_rows(study, compact: bool):
    """upt() + evaluate() on the same inputs, one call per (split, static, lam)."""
    ds = S.resolve_dataset(DATA)
    splits = protocols.from_spec(study.protocol, ds.labels, 12, ds.class_names)
    out = {}
    for static in study.static or ({},):
        cfg = U.UPTConfig(**{**study.base, **static})
        run = jax.jit(U.make_upt(cfg))
        label = "base" if len(study.static) <= 1 else f"solver={cfg.solver}"
        eps = None if cfg.solver == "emd" else 1e-2
        for s, name in enumerate(splits.names):
            cm, vm = splits.class_mask[s], splits.video_mask[s]
            if compact:  # the split's videos gathered and padded, as the runner feeds k-means
                n = int(vm.sum())
                m = C.compact_length(n, ds.videos.shape[0])
                idx = np.zeros(m, np.int64)
                idx[:n] = np.flatnonzero(vm)
                videos, vmask = ds.videos[idx], np.arange(m) < n
            else:
                videos, vmask = ds.videos, vm
            for lam in LAMS:
                new, diag = run(ds.prototypes, videos, C.split_key(study.seed, name), U.UPTHyper(lam, 1e-2), cm, vmask)
                m_ = U.evaluate(new, ds.videos, ds.labels, class_mask=cm, video_mask=vm)
                ref = U.metrics.summarize(m_, ds.class_names)
                ref.update(U.api.summarize_diagnostics(diag, ds.class_names))
                out[(DATA, name, label, lam, eps)] = ref
    return out


COMPARE = (
    "top1", "top5", "mean_class_accuracy", "unreachable", "n_videos", "n_classes", "transport_converged",
    "transport_iterations", "marginal_error", "transport_cost", "median_moved_angle_deg", "median_target_angle_deg",
    "kmeans_inertia", "kmeans_iterations", "frechet_not_converged", "frechet_iterations_max", "empty_rows", "n_centres",
    "converged",
)
NAMES = ("unreachable_classes", "frechet_not_converged_classes", "empty_row_classes")


def _assert_rows_match(rows, ref):
    assert set(_by_key(rows)) == set(ref)
    for r in rows:
        want = ref[_key(r)]
        for f in COMPARE:
            np.testing.assert_allclose(r[f], want[f], rtol=1e-4, atol=2e-4, err_msg=f"{f} {_key(r)}")
        np.testing.assert_allclose(r["frechet_grad_norm_max"], want["frechet_grad_norm_max"], atol=1e-5)
        for f in NAMES:
            assert r[f] == want[f], (f, _key(r))


def test_rows_equal_upt_and_evaluate_one_transport_per_split(one_device):
    study, out, stats = one_device
    # 3 splits x 2 static variants = 6 transports for 18 rows; k-means once per split
    assert (stats.rows_computed, stats.transports_solved, stats.kmeans_computed) == (18, 6, 3)
    assert stats.compilations == 2  # one program per static config
    rows = S.read_rows(out)
    assert len(rows) == 18
    _assert_rows_match(rows, _reference_rows(study, compact=False))
    # lam = 0 is the baseline: the raw prototypes' accuracy
    ds = S.resolve_dataset(DATA)
    splits = protocols.from_spec(study.protocol, ds.labels, 12, ds.class_names)
    got = _by_key(rows)
    for s, name in enumerate(splits.names):
        base = U.evaluate(ds.prototypes, ds.videos, ds.labels, class_mask=splits.class_mask[s], video_mask=splits.video_mask[s])
        assert got[(DATA, name, "solver=sinkhorn", 0.0, 1e-2)]["top1"] == pytest.approx(float(base.top1), abs=1e-4)
    assert any(got[(DATA, f"half:{s}", "solver=emd", 0.5, None)]["top1"] != got[(DATA, f"half:{s}", "solver=emd", 0.0, None)]["top1"] for s in range(3))


def test_compact_kmeans_rows_equal_upt_on_the_gathered_split(study_file, one_device, tmp_path):
    study = S.load_study(study_file).replace(compact=True)
    stats = S.run_study(study, str(tmp_path / "compact"), devices=1, progress=False, write_reports=False)
    assert stats.transports_solved == 3 and stats.compilations == 0  # the row program is reused
    _assert_rows_match(S.read_rows(str(tmp_path / "compact")), _reference_rows(study, compact=True))


def test_rows_carry_identity_config_and_reports(one_device):
    study, out, _ = one_device
    rows = S.read_rows(out)
    r = rows[0]
    ds = S.resolve_dataset(DATA)
    assert r["data_checksum"] == S.data_checksum(ds) and r["code_version"] == records.code_version()
    assert r["code_version"].startswith(U.__version__)
    assert r["row_key"].endswith(f"|data={r['data_checksum']}|code={r['code_version']}")
    for f in ("cfg_hash", "jax_version", "ott_version", "device_kind", "frechet_not_converged", "frechet_iterations_max", "config"):
        assert f in r, f
    assert r["config"]["n_clusters"] == 20 and r["jax_version"] == jax.__version__
    assert len({x["row_key"] for x in rows}) == 18
    import csv

    with open(os.path.join(out, "results.csv")) as f:
        csv_rows = list(csv.DictReader(f))
    assert len(csv_rows) == 18 and "config.n_clusters" in csv_rows[0]
    summary = open(os.path.join(out, "summary.md")).read()
    assert "| solver=sinkhorn | 0.01 | 0.50 | 3 |" in summary and "| solver=emd | - | 0.50 | 3 |" in summary
    assert "ddof = 0" in summary
    tab = R.summary_table(rows)
    t = [t for t in tab if t["lam"] == 0.5 and t["static"] == "solver=emd"][0]
    vals = [x["top1"] for x in rows if x["lam"] == 0.5 and x["static"] == "solver=emd"]
    assert t["top1"] == pytest.approx(np.mean(vals)) and t["top1_std"] == pytest.approx(np.std(vals, ddof=0))
    assert os.path.getsize(os.path.join(out, "plots", os.listdir(os.path.join(out, "plots"))[0])) > 1000
    cfg = json.load(open(os.path.join(out, "config.json")))
    assert cfg["study"]["lam"] == LAMS and cfg["datasets"][DATA]["data_checksum"] == r["data_checksum"]
    timings = json.load(open(os.path.join(out, "timings.json")))
    assert timings["stats"]["transports_solved"] == 6


def test_eight_devices_give_the_same_rows(one_device, eight_devices):
    _, out1, _ = one_device
    proc, out8 = eight_devices
    text, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, text[-3000:]
    assert "ROWS 9 TRANSPORTS 3" in text
    r1 = {(r["split"], r["lam"]): r for r in S.read_rows(out1) if r["static"] == "solver=sinkhorn"}
    r8 = {(r["split"], r["lam"]): r for r in S.read_rows(out8)}
    assert r1.keys() == r8.keys()
    assert {r["n_devices"] for r in r8.values()} == {8}
    for k in r1:
        for f in ("top1", "top5", "mean_class_accuracy", "unreachable", "transport_iterations", "marginal_error", "median_moved_angle_deg"):
            np.testing.assert_allclose(r8[k][f], r1[k][f], rtol=1e-5, atol=1e-5, err_msg=f"{f} {k}")


def test_interrupt_and_resume(study_file, one_device, tmp_path):
    study = S.load_study(study_file)
    out = str(tmp_path / "resume")
    seen = []

    def stop_after_first(info):
        seen.append(info)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        S.run_study(study, out, devices=1, progress=False, on_chunk=stop_after_first)
    first = S.read_rows(out)
    # chunk_rows=6 with 3 lams: 2 transports (6 rows) per chunk
    assert len(first) == 6 and [r["row_key"] for r in first] == seen[0]["keys"]
    with open(os.path.join(out, "results.jsonl"), "a") as f:  # a torn line (crash mid-write)
        f.write('{"row_key": "torn')
    stats = S.run_study(study, out, devices=1, progress=False)
    assert (stats.rows_skipped, stats.rows_computed, stats.transports_solved, stats.chunks_computed) == (6, 3, 1, 1)
    assert stats.kmeans_computed == 0 and stats.kmeans_loaded == 1  # the one missing split, from the disk cache
    rows = S.read_rows(out)
    keys = [r["row_key"] for r in rows]
    assert len(keys) == 9 == len(set(keys))
    assert rows[:6] == first  # finished rows untouched
    again = S.run_study(study, out, devices=1, progress=False)
    assert again.rows_computed == 0 and again.rows_skipped == 9 and again.transports_solved == 0
    # the same numbers as the uninterrupted run
    want = {(r["split"], r["lam"]): r for r in S.read_rows(one_device[1]) if r["static"] == "solver=sinkhorn"}
    for r in rows:
        for f in ("top1", "top5", "unreachable", "transport_iterations"):
            assert r[f] == pytest.approx(want[(r["split"], r["lam"])][f], abs=1e-5), (r["row_key"], f)


def test_a_partly_done_job_recomputes_only_its_missing_rows(study_file, one_device, tmp_path):
    study = S.load_study(study_file)
    out = str(tmp_path / "partial")
    S.run_study(study, out, devices=1, progress=False, max_chunks=1, write_reports=False)
    rows = S.read_rows(out)
    drop = {r["row_key"] for r in rows if r["split"] == "half:0" and r["lam"] == 0.5}
    with open(os.path.join(out, "results.jsonl"), "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows if r["row_key"] not in drop)
    stats = S.run_study(study, out, devices=1, progress=False, write_reports=False)
    # half:0 (lam 0.5 only) and half:2 (all lams): 2 transports, 4 rows
    assert (stats.rows_computed, stats.transports_solved, stats.rows_skipped) == (4, 2, 5)
    keys = [r["row_key"] for r in S.read_rows(out)]
    assert len(keys) == 9 == len(set(keys))


def test_stale_rows_are_refused_and_force_new_starts_over(study_file, one_device, tmp_path, monkeypatch):
    study = S.load_study(study_file)
    out = str(tmp_path / "stale")
    S.run_study(study, out, devices=1, progress=False, max_chunks=1, write_reports=False)
    # other data under the same name
    ds = S.resolve_dataset(DATA)
    ds.videos = ds.videos + np.float32(1e-3)
    with pytest.raises(S.StaleResultsError, match="other data.*--force-new"):
        S.run_study(study, out, devices=1, progress=False, datasets={DATA: ds})
    # other code
    monkeypatch.setattr(E, "code_version", lambda: "9.9.9+gdeadbeef")
    with pytest.raises(S.StaleResultsError, match="other code.*9.9.9.*--force-new") as err:
        S.run_study(study, out, devices=1, progress=False)
    assert "\n" not in str(err.value)
    # --force-new: the old results move aside, the new rows carry the new identity
    stats = S.run_study(study, out, devices=1, progress=False, max_chunks=1, write_reports=False, force_new=True)
    assert stats.rows_skipped == 0 and stats.kmeans_loaded == 3  # the centres cache stays
    old = [d for d in os.listdir(out) if d.startswith("previous-")]
    assert len(old) == 1 and os.path.exists(os.path.join(out, old[0], "results.jsonl"))
    assert {r["code_version"] for r in S.read_rows(out)} == {"9.9.9+gdeadbeef"}


def test_stacked_datasets_give_the_per_dataset_rows_in_one_compilation(study_file, one_device, tmp_path):
    other = "synthetic:K=10:N=200:d=16:seed=1"
    study = S.load_study(study_file).replace(name="two", datasets=(DATA, other))
    cache = os.path.join(one_device[1], "cache")  # DATA's centres from the one-device run
    stacked = S.run_study(study, str(tmp_path / "stacked"), devices=1, progress=False, write_reports=False, cache_dir=cache)
    single = S.run_study(
        study, str(tmp_path / "single"), devices=1, progress=False, write_reports=False, cache_dir=cache, stack_datasets=False
    )
    # one program for both datasets (6 transports in chunks of 2); per dataset: one program each
    assert stacked.compilations == 1 and stacked.transports_solved == 6 and stacked.chunks_computed == 3
    assert single.transports_solved == 6 and single.chunks_computed == 4
    # k-means once per (dataset, split): DATA's from the earlier run, the other's computed once and reused
    assert (stacked.kmeans_loaded, stacked.kmeans_computed) == (3, 3) and single.kmeans_loaded == 6
    a, b = _by_key(S.read_rows(str(tmp_path / "stacked"))), _by_key(S.read_rows(str(tmp_path / "single")))
    assert a.keys() == b.keys() and len(a) == 18
    for k in a:
        for f in COMPARE:
            np.testing.assert_allclose(a[k][f], b[k][f], rtol=1e-5, atol=1e-5, err_msg=f"{f} {k}")
        for f in NAMES + ("row_key",):
            assert a[k][f] == b[k][f], (f, k)
    # and DATA's rows are the one-device run's
    first = {(r["split"], r["lam"]): r for r in S.read_rows(one_device[1]) if r["static"] == "solver=sinkhorn"}
    for (ds, split, _, lam, _), r in a.items():
        if ds == DATA:
            np.testing.assert_allclose(r["top1"], first[(split, lam)]["top1"], atol=1e-5)


def test_cli_sweep_runs_a_config_anywhere_and_resumes(study_file, one_device, tmp_path, capsys, monkeypatch):
    from upt_jax.cli import main

    monkeypatch.chdir(tmp_path)
    out = str(tmp_path / "cli")
    argv = ["--no-compile-cache", "sweep", study_file, "--out", out, "--no-progress", "--devices", "1",
            "--cache", str(tmp_path / "centres")]
    assert main(argv + ["--max-chunks", "1"]) == 0
    assert len(S.read_rows(out)) == 6
    assert main(argv) == 0
    assert "3 rows computed from 1 transports, 6 already done, 9 total" in capsys.readouterr().out
    monkeypatch.setattr(E, "code_version", lambda: "0.0.0+gother")
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("upt sweep: error: ") and "--force-new" in err[0]
    assert main(["--no-compile-cache", "sweep", str(tmp_path / "missing.py")]) == 2
    assert "no such file" in capsys.readouterr().err


@pytest.mark.fast
def test_ready_studies_load_and_expand():
    cfg_dir = os.path.join(ROOT, "experiments", "configs")
    names = sorted(f[:-3] for f in os.listdir(cfg_dir) if f.endswith(".py") and not f.startswith("_"))
    assert {"lam", "clusters", "solver", "cost", "masses", "top_t", "smoke"} <= set(names)
    for name in names:
        path = os.path.join(cfg_dir, name + ".py")
        st = S.load_study(path)
        assert st.name == name and st.datasets and st.lam
        variants = S.expand_static(st, 13320, np.array([50] * 10))
        config_type = S.TASKS[st.task].config_type or U.UPTConfig  # the task's static config (localization's own)
        assert variants and all(isinstance(v.config, config_type) for v in variants), (name, variants)
        assert "upt sweep experiments/configs/" + name + ".py" in open(path).read()


@pytest.mark.fast
def test_static_expansion_and_plan():
    st = S.Study(
        base={"n_clusters": 100},
        static=({"n_clusters": "K"}, {"n_clusters": "N"}, {"solver": "emd"}),
        epsilon=(1e-2, 1e-1),
        lam=(0.25, 0.5, 0.75),
    )
    v = S.expand_static(st, 500, np.array([6, 6]))
    assert [x.config.n_clusters for x in v] == [6, 0, 100]
    assert [x.label for x in v] == ["n_clusters=K,solver=sinkhorn", "n_clusters=N,solver=sinkhorn", "n_clusters=100,solver=emd"]
    with pytest.raises(U.UPTError, match="one class count"):
        S.expand_static(st, 500, np.array([6, 7]))
    assert S.row_key("d", "all", "h", 0.5, None, "c", "v").split("|")[4] == "eps=None"

    class Fake:
        pass

    entry = P.Entry("d", Fake(), "c", protocols.Splits(("a", "b"), ("x", "x"), np.ones((2, 4), bool), np.ones((2, 8), bool)), v)
    entry.data.prototypes = np.zeros((4, 3))
    plan = P.make_plan(st, [entry], set(), "v")
    # K and N: 2 epsilons each; EMD: one unit without epsilon; 2 splits x 3 lams per unit
    assert [(u.label.split(",")[0], u.epsilon, len(u.jobs)) for u in plan.units] == [
        ("n_clusters=K", 1e-2, 2), ("n_clusters=K", 1e-1, 2), ("n_clusters=N", 1e-2, 2), ("n_clusters=N", 1e-1, 2),
        ("n_clusters=100", None, 2),
    ]
    assert plan.rows_total == 30 and plan.jobs_todo == 10
    done = {S.row_key("d", "a", plan.units[4].cfg_hash, lam, None, "c", "v") for lam in (0.25, 0.75)}
    part = P.make_plan(st, [entry], done, "v")
    assert part.rows_done == 2 and part.units[4].jobs[0].lams == (1,)


@pytest.mark.fast
def test_load_study_from_anywhere_and_its_errors(tmp_path):
    (tmp_path / "data").mkdir()
    D.save_portable(S.synthetic_data(K=4, N=12, d=3), str(tmp_path / "data" / "mini"))
    path = tmp_path / "elsewhere.py"
    path.write_text(
        "from upt_jax.sweep import Study\n"
        "def get_config():\n    return Study(name='x', datasets=('data/mini',), protocol='all')\n"
    )
    st = S.load_study(str(path))
    assert st.datasets == (str(tmp_path / "data" / "mini"),)  # relative to the config file
    with pytest.raises(FileNotFoundError, match="no such file"):
        S.load_study(str(tmp_path / "nope.py"))
    bad = tmp_path / "bad.py"
    bad.write_text("x = 1\n")
    with pytest.raises(U.UPTError, match="get_config"):
        S.load_study(str(bad))
    bad.write_text("from upt_jax.sweep import Study\ndef get_config():\n    return Study(lam=(0.5, 2.0))\n")
    with pytest.raises(U.UPTError, match=r"lam .* \[0, 1\]"):
        S.load_study(str(bad))


@pytest.mark.fast
def test_data_checksum_sees_every_input():
    ds = S.synthetic_data(K=4, N=12, d=3)
    base = S.data_checksum(ds)
    assert base == S.data_checksum(S.synthetic_data(K=4, N=12, d=3))
    for field in ("prototypes", "videos"):
        other = S.synthetic_data(K=4, N=12, d=3)
        getattr(other, field)[0, 0] += 1e-6
        assert S.data_checksum(other) != base, field
    other = S.synthetic_data(K=4, N=12, d=3)
    other.labels[0] = 1 - other.labels[0]
    assert S.data_checksum(other) != base
    other = S.synthetic_data(K=4, N=12, d=3)
    other.class_names[0] = "renamed"
    assert S.data_checksum(other) != base


def test_generated_worlds_are_cached_with_the_same_arrays(tmp_path, monkeypatch):
    spec = "world:hmdb51:default:seed=1:n_videos=200:videos_per_seen_class=3"
    first = S.resolve_dataset(spec, cache_dir=str(tmp_path))
    assert len([f for f in os.listdir(tmp_path) if f.startswith("world-")]) == 1
    from upt_jax import world

    def no_generation(*a, **k):
        raise AssertionError("the cached world should have been used")

    monkeypatch.setattr(world, "generate_world", no_generation)
    again = S.resolve_dataset(spec, cache_dir=str(tmp_path))
    assert S.data_checksum(again) == S.data_checksum(first) and again.name == spec
    np.testing.assert_array_equal(again.videos, first.videos)
    assert again.class_names == first.class_names and again.video_names == first.video_names
    with pytest.raises(AssertionError, match="cached world"):  # another spec is generated
        S.resolve_dataset(spec.replace("seed=1", "seed=2"), cache_dir=str(tmp_path))


@pytest.mark.fast
def test_stack_pads_with_masked_copies():
    a, b = S.synthetic_data(K=4, N=12, d=3, seed=0), S.synthetic_data(K=3, N=9, d=3, seed=1)
    st = S.data.stack([a, b])
    assert st.prototypes.shape == (2, 4, 3) and st.videos.shape == (2, 12, 3) and st.labels.shape == (2, 12)
    np.testing.assert_array_equal(st.prototypes[1, :3], b.prototypes)
    np.testing.assert_array_equal(st.prototypes[1, 3], b.prototypes[0])  # a valid unit vector, never selected
    np.testing.assert_array_equal(st.labels[1, 9:], 0)
    with pytest.raises(U.UPTError, match="different dimensions"):
        S.data.stack([a, S.synthetic_data(K=4, N=12, d=5)])


@pytest.mark.fast
def test_summary_spread_is_ddof0():
    rows = [
        {"dataset": "d", "protocol": "half", "static": "base", "cfg_hash": "h", "epsilon": 0.01, "lam": 0.5,
         "top1": v, "top5": v, "mean_class_accuracy": v, "unreachable": 1, "transport_iterations": 10,
         "transport_converged": True}
        for v in (10.0, 20.0, 40.0)
    ]
    t = R.summary_table(rows)[0]
    assert t["top1"] == pytest.approx(70 / 3) and t["top1_std"] == pytest.approx(np.sqrt(((10 - 70 / 3) ** 2 + (20 - 70 / 3) ** 2 + (40 - 70 / 3) ** 2) / 3))
    assert t["splits"] == 3 and t["converged"] == 1.0


@pytest.mark.fast
def test_store_refusal_messages_name_the_fix(tmp_path):
    rows = [{"row_key": "k", "dataset": "d", "data_checksum": "aaa", "code_version": "1"}]
    store.check_compatible(str(tmp_path), rows, {"d": "aaa"}, "1")
    store.check_compatible(str(tmp_path), rows, {"other": "bbb"}, "1")  # a dataset this study does not use
    with pytest.raises(store.StaleResultsError, match="other data"):
        store.check_compatible(str(tmp_path), rows, {"d": "bbb"}, "1")
    with pytest.raises(store.StaleResultsError, match="other code"):
        store.check_compatible(str(tmp_path), [{**rows[0], "code_version": None}], {"d": "aaa"}, "1")
    assert store.archive(str(tmp_path)) is None
