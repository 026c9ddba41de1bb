"""The sweep's ``methods`` task: every row equals baselines.make_method on the same inputs; class priors and
unbalanced transport as static choices (also in the classification task); the comparators and imbalance
study files resolve and their EXPECTED entries name real rows."""

import importlib.util
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import upt_jax as U
from upt_jax import baselines, bias, protocols
from upt_jax import sweep as S
from upt_jax.errors import UPTError
from upt_jax.sweep import centres as C
from upt_jax.sweep.expected import validate_expected
from upt_jax.sweep.study import expand_static
from upt_jax.sweep.task_methods import MethodsConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = "synthetic:K=12:N=240:d=16:seed=0"
LAMS = (0.0, 0.5)
STATIC = (
    {"method": "baseline"},
    {"method": "csls", "csls_k": 4},
    {"method": "inverted-softmax", "beta": 30.0},
    {"method": "centre"},
    {"method": "balanced", "method_options": {"prior": "given"}},
    {"method": "refine-balanced"},
    {"method": "upt"},
    {"method": "upt", "n_clusters": 20},
    {"method": "upt+csls"},
    {"method": "upt+balanced"},
    {"method": "upt", "tau_a": 0.8},
    {"method": "upt", "class_prior": "given"},
    {"method": "upt", "class_prior": "estimated"},
)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    study = S.Study(name="methods", datasets=(DATA,), protocol="half:2+all", task="methods", compact=False,
                    base={"n_clusters": 0, "solver": "sinkhorn", "kmeans_restarts": 2, "kmeans_max_iter": 30},
                    static=STATIC, lam=LAMS, epsilon=(2e-2,), chunk_rows=6)
    out = str(tmp_path_factory.mktemp("methods"))
    stats = S.run_study(study, out, progress=False, cache_dir=False)
    return study, out, stats, S.read_rows(out)


_COMPILED = {}


def _jitted(mcfg, ucfg):
    """``jax.jit(make_method(mcfg, ucfg))``, one compilation per static pair (splits, lam and epsilon are traced)."""
    if (mcfg, ucfg) not in _COMPILED:
        _COMPILED[(mcfg, ucfg)] = jax.jit(baselines.make_method(mcfg, ucfg))
    return _COMPILED[(mcfg, ucfg)]


def _method_reference(row, ds, splits):
    """baselines.make_method with the row's configs, the split's masks and the runner's k-means key."""
    cfg = MethodsConfig(**row["config"])
    mcfg = cfg.method_config()
    ucfg = U.UPTConfig(**{k: v for k, v in row["config"].items() if k not in ("method", "csls_k", "beta", "method_options")})
    s = list(splits.names).index(row["split"])
    cm, vm = jnp.asarray(splits.class_mask[s]), jnp.asarray(splits.video_mask[s])
    truth = bias.class_frequencies(ds.labels, ds.prototypes.shape[0], class_mask=cm, video_mask=vm)
    uhyper = U.UPTHyper(row["lam"], row["epsilon"], prior=truth if ucfg.class_prior == "given" else None)
    fn = _jitted(mcfg, ucfg)
    out = fn(ds.prototypes, ds.videos, C.split_key(0, row["split"]), mcfg.hyper(epsilon=jnp.float32(row["epsilon"])),
             uhyper, cm, vm, truth if mcfg.prior == "given" else None)
    m = U.metrics.summarize(U.metrics.evaluate_scores(out.scores, ds.labels, class_mask=cm, video_mask=vm), ds.class_names)
    return m, out, truth


def test_rows_equal_make_method_on_the_same_inputs(run):
    study, _, stats, rows = run
    ds = S.resolve_dataset(DATA)
    splits = protocols.from_spec(study.protocol, ds.labels, 12, ds.class_names)
    assert len(rows) == len(STATIC) * len(LAMS) * 3 == stats.rows_computed
    assert stats.compilations == len(STATIC)
    for r in rows:
        ref, out, truth = _method_reference(r, ds, splits)
        what = (r["static"], r["split"], r["lam"])
        for k in ("top1", "top5", "mean_class_accuracy"):
            assert r[k] == pytest.approx(ref[k], abs=2e-3), (what, k)
        assert r["unreachable_classes"] == ref["unreachable_classes"], what
        assert r["method"] == r["config"]["method"] and r["n_classes"] == ref["n_classes"]
        if out.upt is not None:
            d = U.summarize_diagnostics(out.upt, ds.class_names)
            assert r["transport_iterations"] == d["transport_iterations"] and r["converged"] == d["converged"], what
            np.testing.assert_allclose(r["prior_l1_error"], float(jnp.sum(jnp.abs(out.upt.source_mass - truth))), atol=1e-5)
            assert r["class_mass_ratio_min"] == pytest.approx(d["class_mass_ratio_min"], abs=1e-4)
        else:
            assert "transport_iterations" not in r and r["converged"] == bool(out.converged)


def test_methods_without_upt_give_one_row_per_lam_with_the_same_numbers(run):
    _, _, _, rows = run
    by = {}
    for r in rows:
        by.setdefault((r["static"], r["split"]), []).append(r)
    for (static, _), rs in by.items():
        if "method=upt" not in static:
            assert len({r["top1"] for r in rs}) == 1, static
        assert {r["lam"] for r in rs} == set(LAMS)
    # the baseline's bias statistics are the same for every method of a split
    for split in ("all", "half:0"):
        vals = {r["baseline_gini"] for r in rows if r["split"] == split}
        assert len(vals) == 1


def test_classification_task_takes_priors_and_tau_as_static_choices(tmp_path):
    study = S.Study(name="cls", datasets=(DATA,), protocol="half:1", compact=False, base={"n_clusters": 0},
                    static=({"class_prior": "given"}, {"tau_a": 0.8, "class_prior": "estimated"}), lam=(0.5,),
                    epsilon=(2e-2,))
    S.run_study(study, str(tmp_path), progress=False, cache_dir=False)
    ds = S.resolve_dataset(DATA)
    splits = protocols.from_spec("half:1", ds.labels, 12, ds.class_names)
    cm, vm = jnp.asarray(splits.class_mask[0]), jnp.asarray(splits.video_mask[0])
    truth = bias.class_frequencies(ds.labels, 12, class_mask=cm, video_mask=vm)
    rows = S.read_rows(str(tmp_path))
    assert sorted((r["config"]["class_prior"], r["config"]["tau_a"]) for r in rows) == [("estimated", 0.8), ("given", 1.0)]
    for r in rows:
        cfg = U.UPTConfig(**r["config"])
        prior = truth if cfg.class_prior == "given" else None
        new, _ = jax.jit(U.make_upt(cfg))(ds.prototypes, ds.videos, jax.random.PRNGKey(0), U.UPTHyper(0.5, 2e-2, prior=prior),
                                          cm, vm)
        assert r["top1"] == pytest.approx(float(U.evaluate(new, ds.videos, ds.labels, class_mask=cm, video_mask=vm).top1),
                                          abs=2e-3), r["static"]


def test_methods_config_errors():
    with pytest.raises(UPTError, match="unknown method"):
        MethodsConfig(method="upt+magic")
    with pytest.raises(UPTError, match="csls_k / beta as their own fields"):
        MethodsConfig(method="csls", method_options={"csls_k": 3})
    with pytest.raises(UPTError, match="traced epsilon grid"):
        MethodsConfig(method="balanced", method_options={"epsilon": 0.1})
    with pytest.raises(UPTError, match="unknown MethodConfig fields"):
        MethodsConfig(method="balanced", method_options={"prio": "given"})
    assert hash(MethodsConfig(method="balanced", method_options={"prior": "given"})) == hash(
        MethodsConfig(method="balanced", method_options=(("prior", "given"),)))


def _load(name):
    path = os.path.join(ROOT, "experiments", "configs", f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"_cfg_{name}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod, path


@pytest.mark.parametrize("name", ["comparators", "imbalance"])
def test_study_files_resolve_and_expected_entries_name_their_rows(name, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("UPT_WORDNET_NOUNS", str(tmp_path / "absent"))
    mod, path = _load(name)
    study = S.load_study(path)
    if name == "comparators":  # the WordNet testbed is skipped with a message when its folder is absent
        assert "skipping the WordNet nouns testbed" in capsys.readouterr().err
        assert not any("wordnet" in d for d in study.datasets)
    assert study.task == "methods" and len(study.static) == len(mod.METHODS)
    # every variant is a valid static config; the labels the report will use
    labels = {v.label for v in expand_static(study, 10_000, [50, 50])}
    assert len(labels) == len(mod.METHODS)
    for e in validate_expected(mod.EXPECTED):
        if "static" in e:
            assert e["static"] in labels, e
        if "dataset" in e and not e["dataset"].startswith("wordnet"):
            assert any(e["dataset"] in d for d in study.datasets), e
