"""The UPT entry point against an independent NumPy/SciPy/POT pipeline,
plus transform consistency (jit, vmap, recompilation) and input errors."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import ot
import pytest

import upt_jax as U
from upt_jax import sphere
from tests.conftest import unit
from tests.test_sphere import np_frechet

pytestmark = pytest.mark.fast

# one compiled entry point per (config, shapes); eager calls only where tested
JUPT = jax.jit(U.upt, static_argnames="config")


def make_problem(seed, k=8, n=120, d=12, spread=0.5):
    rng = np.random.default_rng(seed)
    protos = unit(rng, k, d)
    shift = unit(rng, d)
    labels = rng.integers(0, k, n)
    # biased universal model: videos drift toward a common direction
    vids = protos[labels] + spread * rng.normal(size=(n, d)) / np.sqrt(d) + 0.8 * shift
    vids = (vids / np.linalg.norm(vids, axis=1, keepdims=True)).astype(np.float32)
    return protos, vids, labels


def ref_karcher(points, w):
    """Float64 Karcher mean (plain Riemannian gradient descent, test_sphere's reference)."""
    return np_frechet(points, w, iters=2000)


def ref_slerp(a, b, lam):
    om = np.arccos(np.clip(a @ b, -1, 1))
    if om < 1e-12:
        return a
    return (np.sin((1 - lam) * om) * a + np.sin(lam * om) * b) / np.sin(om)


def reference_upt(protos, centres, lam, mass=None):
    """Independent float64 pipeline: exact EMD on (1-cos)/max, Karcher means, slerp."""
    p = np.asarray(protos, np.float64)
    c = np.asarray(centres, np.float64)
    k, m = len(p), len(c)
    cost = 1 - p @ c.T
    cost /= cost.max()
    b = np.full(m, 1 / m) if mass is None else mass / mass.sum()
    plan = ot.emd(np.full(k, 1 / k), b, cost)
    targets = np.stack([ref_karcher(c, plan[i]) for i in range(k)])
    new = np.stack([ref_slerp(p[i], targets[i], lam) for i in range(k)])
    return new, targets


def angles_deg(x, y):
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    return np.rad2deg(2 * np.arctan2(np.linalg.norm(x - y, axis=-1), np.linalg.norm(x + y, axis=-1)))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_clustering_matches_independent_pipeline(seed):
    protos, vids, labels = make_problem(seed)
    cfg = U.UPTConfig(n_clusters=0, solver="emd")
    new, diag = jax.jit(U.make_upt(cfg))(protos, vids, jax.random.PRNGKey(0), U.UPTHyper(lam=0.5))
    ref_new, ref_t = reference_upt(protos, vids, 0.5)
    assert angles_deg(diag.targets, ref_t).max() < 0.1
    assert angles_deg(new, ref_new).max() < 0.1
    pred = np.argmax(vids @ np.asarray(new).T, axis=1)
    ref_pred = np.argmax(vids @ ref_new.T, axis=1)
    assert np.mean(pred == ref_pred) == 1.0
    m = U.evaluate(new, vids, labels)
    assert float(m.top1) == pytest.approx(100 * np.mean(ref_pred == labels), abs=1e-4)


@pytest.mark.parametrize("target_mass", ["uniform", "cluster_size"])
def test_clustered_matches_independent_pipeline_on_same_centres(target_mass):
    protos, vids, labels = make_problem(3, n=200)
    cfg = U.UPTConfig(n_clusters=25, solver="emd", kmeans_restarts=2, target_mass=target_mass)
    key = jax.random.PRNGKey(1)
    new, diag = JUPT(protos, vids, cfg, key, U.UPTHyper(lam=0.3))
    cen = diag.centres
    assert int(jnp.sum(cen.mask)) == 25
    sizes = np.asarray(cen.sizes, np.float64)
    np.testing.assert_allclose(sizes.sum(), 200)
    # the reference gets our centres (k-means itself is checked against scikit-learn in test_cluster)
    mass = None if target_mass == "uniform" else sizes
    ref_new, ref_t = reference_upt(np.asarray(protos), np.asarray(cen.points), 0.3, mass)
    assert angles_deg(diag.targets, ref_t).max() < 0.1
    assert angles_deg(new, ref_new).max() < 0.1


def test_sinkhorn_close_to_emd_and_diagnostics():
    protos, vids, _ = make_problem(4, n=150)
    key = jax.random.PRNGKey(0)
    hp = U.UPTHyper(lam=1.0, epsilon=1e-3, threshold=1e-5)
    new_s, d_s = JUPT(protos, vids, U.UPTConfig(n_clusters=0, sinkhorn_max_iter=20000), key, hp)
    new_e, d_e = JUPT(protos, vids, U.UPTConfig(n_clusters=0, solver="emd"), key, hp)
    assert bool(d_s.converged) and int(d_s.n_iters) > 0
    assert float(d_s.marginal_error) < 1e-4
    assert angles_deg(d_s.targets, d_e.targets).max() < 3.0
    np.testing.assert_allclose(np.asarray(d_s.coupling).sum(1), 1 / 8, atol=1e-4)
    assert np.all(np.asarray(d_s.frechet_converged))
    np.testing.assert_allclose(np.asarray(d_s.moved_angle), np.asarray(d_s.target_angle), atol=1e-5)


def test_lam_zero_is_baseline_and_lam_one_is_target():
    protos, vids, _ = make_problem(5)
    cfg = U.UPTConfig(n_clusters=20, kmeans_restarts=1)
    key = jax.random.PRNGKey(0)
    new0, _ = JUPT(protos, vids, cfg, key, U.UPTHyper(lam=0.0))
    np.testing.assert_allclose(np.asarray(new0), protos, atol=1e-6)
    new1, d1 = JUPT(protos, vids, cfg, key, U.UPTHyper(lam=1.0))
    np.testing.assert_allclose(np.asarray(new1), np.asarray(d1.targets), atol=2e-6)


def test_masked_split_equals_sliced_problem():
    protos, vids, labels = make_problem(6, k=10, n=160)
    cls = np.zeros(10, bool)
    cls[[0, 2, 3, 7, 9]] = True
    vm = cls[labels]
    cfg = U.UPTConfig(n_clusters=0, solver="emd")
    key = jax.random.PRNGKey(0)
    new_m, d_m = JUPT(protos, vids, cfg, key, U.UPTHyper(0.5), class_mask=jnp.asarray(cls), video_mask=jnp.asarray(vm))
    new_s, d_s = JUPT(protos[cls], vids[vm], cfg, key, U.UPTHyper(0.5))
    assert angles_deg(np.asarray(new_m)[cls], new_s).max() < 1e-3
    np.testing.assert_allclose(np.asarray(new_m)[~cls], protos[~cls], atol=1e-6)  # masked classes keep theirs
    remap = -np.ones(10, int)
    remap[cls] = np.arange(5)
    m_m = U.evaluate(new_m, vids, labels, class_mask=jnp.asarray(cls), video_mask=jnp.asarray(vm))
    m_s = U.evaluate(new_s, vids[vm], remap[labels[vm]])
    for f in ("top1", "top5", "mean_class_accuracy", "unreachable", "n_videos", "n_classes"):
        assert float(getattr(m_m, f)) == pytest.approx(float(getattr(m_s, f)), abs=1e-4), f


def test_jit_equals_nojit_vmap_equals_loop_and_no_recompile():
    protos, vids, labels = make_problem(7, k=6, n=90)
    cfg = U.UPTConfig(n_clusters=0)  # k-means' own jit/vmap checks are in test_cluster
    run = U.make_upt(cfg)
    key = jax.random.PRNGKey(3)
    hp = U.UPTHyper(lam=jnp.float32(0.5), epsilon=jnp.float32(0.02))
    a, _ = run(protos, vids, key, hp)
    traces = []

    def counted(*args):
        traces.append(1)
        return run(*args)

    jrun = jax.jit(counted)
    b, _ = jrun(protos, vids, key, hp)
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5)
    # a second call with new values does not retrace/recompile
    jrun(protos * 1.0, vids[::-1].copy(), jax.random.PRNGKey(4), U.UPTHyper(jnp.float32(0.25), jnp.float32(0.05)))
    assert len(traces) == 1
    # vmap over 3 splits (class masks) x traced lam equals a loop
    rng = np.random.default_rng(0)
    masks = np.stack([rng.permutation(6) < 4 for _ in range(3)])
    vmasks = masks[:, labels]
    lams = jnp.asarray([0.2, 0.5, 0.8])
    f = lambda cm, vm, lam: run(protos, vids, key, U.UPTHyper(lam, 0.02), cm, vm)[0]  # noqa: E731
    vm_out = np.asarray(jax.jit(jax.vmap(f))(jnp.asarray(masks), jnp.asarray(vmasks), lams))
    jf = jax.jit(f)  # (jit = no-jit is checked above; the loop reuses one compilation)
    for i in range(3):
        one = np.asarray(jf(jnp.asarray(masks[i]), jnp.asarray(vmasks[i]), lams[i]))
        np.testing.assert_allclose(vm_out[i], one, atol=1e-5)


def test_masked_class_keeps_prototype_and_gets_no_mass():
    protos, vids, _ = make_problem(8, k=4, n=40)
    cm = jnp.asarray([True, True, True, False])
    new, diag = JUPT(protos, vids, U.UPTConfig(n_clusters=0, solver="emd"), jax.random.PRNGKey(0), U.UPTHyper(1.0), class_mask=cm)
    np.testing.assert_allclose(np.asarray(new[3]), protos[3], atol=1e-7)
    np.testing.assert_allclose(np.asarray(diag.coupling[3]), 0, atol=1e-9)
    np.testing.assert_allclose(np.asarray(diag.coupling[:3]).sum(1), 1 / 3, atol=1e-6)  # every unmasked class gets 1/K
    assert not np.any(np.asarray(diag.empty_rows))
    summary = U.summarize_diagnostics(diag)
    assert summary["n_classes"] == 3 and summary["empty_rows"] == 0 and summary["converged"]


def test_failed_solve_gives_empty_rows_that_keep_their_prototype():
    # balanced transport gives every unmasked class mass 1/K; empty rows only come from a failed solve,
    # here a NaN epsilon inside jit (no value check on traced values): the plan is NaN
    protos, vids, _ = make_problem(8, k=4, n=40)
    cfg = U.UPTConfig(n_clusters=0, sinkhorn_max_iter=50)
    new, diag = jax.jit(U.make_upt(cfg))(protos, vids, jax.random.PRNGKey(0), U.UPTHyper(0.5, jnp.float32(jnp.nan)))
    assert np.all(np.asarray(diag.empty_rows))
    np.testing.assert_allclose(np.asarray(new), protos, atol=1e-6)
    s = U.summarize_diagnostics(diag, ["a", "b", "c", "d"])
    assert s["empty_rows"] == 4 and s["empty_row_classes"] == ["a", "b", "c", "d"] and not s["converged"]
    assert not s["transport_converged"] and s["frechet_not_converged"] == 0
    line = U.convergence_warning(s)
    assert "\n" not in line and "4 classes got no usable transport mass" in line and "a, b, c, d" in line


def test_top_t_filter_keeps_only_near_centres():
    protos, vids, _ = make_problem(9, k=5, n=100)
    cfg = U.UPTConfig(n_clusters=0, solver="emd", top_t=3)
    _, diag = JUPT(protos, vids, cfg, jax.random.PRNGKey(0), U.UPTHyper(0.5))
    keep = np.asarray(diag.centres.mask)
    sim = protos @ vids.T
    expect = np.zeros(100, bool)
    for k in range(5):
        expect[np.argsort(-sim[k])[:3]] = True
    assert np.array_equal(keep, expect)
    plan = np.asarray(diag.coupling)
    assert np.all(plan[:, ~keep] < 1e-9)


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda p, v, c, h: (p.at[2, 1].set(jnp.nan), v, c, h), r"prototypes \[8, 12\].*NaN"),
        (lambda p, v, c, h: (p, v.at[5].set(jnp.inf), c, h), r"videos \[120, 12\].*NaN or Inf"),
        (lambda p, v, c, h: (p.at[0].set(0.0), v, c, h), r"prototypes \[8, 12\].*all-zero"),
        (lambda p, v, c, h: (p, v[:, :5], c, h), r"dimension mismatch: prototypes \[8, 12\] vs videos \[120, 5\]"),
        (lambda p, v, c, h: (p, v, c, U.UPTHyper(lam=1.5)), r"hyper.lam.*\[0, 1\]"),
        (lambda p, v, c, h: (p, v, c, U.UPTHyper(lam=-0.1)), r"hyper.lam"),
        (lambda p, v, c, h: (p, v, c, U.UPTHyper(epsilon=0.0)), r"hyper.epsilon"),
        (lambda p, v, c, h: (p, v, U.UPTConfig(n_clusters=500), h), r"n_clusters=500 is larger than the number of videos \(videos \[120, 12\]\)"),
        (lambda p, v, c, h: (p[:1], v, c, h), r"prototypes \[1, 12\]: need at least 2 classes"),
        (lambda p, v, c, h: (p[0], v, c, h), r"prototypes must be a \[K, d\] matrix"),
    ],
)
def test_bad_input_raises_clear_errors(mutate, match):
    protos, vids, _ = make_problem(0)
    p, v, c, h = mutate(jnp.asarray(protos), jnp.asarray(vids), U.UPTConfig(n_clusters=10), U.UPTHyper())
    with pytest.raises(ValueError, match=match):
        U.upt(p, v, c, jax.random.PRNGKey(0), h)


@pytest.mark.parametrize(
    "changes, match",
    [
        (dict(solver="hungarian"), "UPTConfig.solver"),
        (dict(n_clusters=-1), "UPTConfig.n_clusters must be >= 0"),
        (dict(sinkhorn_threshold=-1.0), "UPTConfig.sinkhorn_threshold must be a finite tolerance > 0"),
        (dict(sinkhorn_threshold=0.0), "UPTConfig.sinkhorn_threshold"),
        (dict(frechet_tol=0.0), "UPTConfig.frechet_tol must be a finite tolerance > 0"),
        (dict(frechet_tol=float("nan")), "UPTConfig.frechet_tol"),
        (dict(kmeans_tol=-1e-4), "UPTConfig.kmeans_tol"),
        (dict(sinkhorn_max_iter=0), "UPTConfig.sinkhorn_max_iter must be >= 1"),
        (dict(frechet_max_iter=0), "UPTConfig.frechet_max_iter must be >= 1"),
        (dict(kmeans_max_iter=0), "UPTConfig.kmeans_max_iter must be >= 1"),
        (dict(chunk_size=-1), "UPTConfig.chunk_size must be >= 0"),
        (dict(frechet_top_m=-2), "UPTConfig.frechet_top_m must be >= 0"),
    ],
)
def test_bad_config_values(changes, match):
    with pytest.raises(U.UPTError, match=match):
        U.UPTConfig(**changes)


def test_bad_hyper_values_are_refused():
    protos, vids, _ = make_problem(0, n=40)
    cfg = U.UPTConfig(n_clusters=0)
    for hyper, match in ((U.UPTHyper(threshold=-1.0), r"hyper.threshold .*must be > 0"),
                         (U.UPTHyper(threshold=0.0), "hyper.threshold"),
                         (U.UPTHyper(epsilon=-0.1), "hyper.epsilon"),
                         (U.UPTHyper(lam=np.full(3, 0.5)), r"hyper.lam must be a scalar or \[8\]")):
        with pytest.raises(U.UPTError, match=match):
            U.upt(protos, vids, cfg, jax.random.PRNGKey(0), hyper)


def test_per_class_lam():
    protos, vids, _ = make_problem(1, n=60)
    cfg = U.UPTConfig(n_clusters=0)
    lam = np.linspace(0, 1, 8).astype(np.float32)
    new, diag = JUPT(protos, vids, cfg, jax.random.PRNGKey(0), U.UPTHyper(lam))
    for k in range(8):
        ref = ref_slerp(np.asarray(protos[k], np.float64), np.asarray(diag.targets[k], np.float64), lam[k])
        assert angles_deg(new[k], ref) < 1e-3


def test_iteration_counts_and_convergence_summary():
    # a transport stopped by its cap: reported iterations equal the cap (never more), not converged,
    # and one warning line says so; a Karcher cap of 1 leaves the spread classes unconverged
    protos, vids, _ = make_problem(4, n=150)
    names = [f"class{i}" for i in range(8)]
    cfg = U.UPTConfig(n_clusters=0, sinkhorn_max_iter=5, frechet_max_iter=1)
    _, diag = JUPT(protos, vids, cfg, jax.random.PRNGKey(0), U.UPTHyper(0.5, 1e-4))
    s = U.summarize_diagnostics(diag, names, config=cfg)
    assert s["transport_iterations"] == 5 and not s["transport_converged"] and not s["converged"]
    gn = np.asarray(diag.frechet_grad_norm)
    expect = [names[i] for i in np.flatnonzero(gn > cfg.frechet_tol)]
    assert expect and s["frechet_not_converged_classes"] == expect and s["frechet_not_converged"] == len(expect)
    assert s["frechet_iterations_max"] == 1
    assert s["frechet_grad_norm_max"] == pytest.approx(float(gn.max()))
    line = U.convergence_warning(s)
    assert line.startswith("UPT did not converge: transport stopped after 5 Sinkhorn iterations (cap 5)")
    assert f"Frechet mean not converged for {len(expect)} of 8 classes" in line and expect[0] in line
    # a converged run: no warning, and the JSON types of the one naming scheme
    _, ok = JUPT(protos, vids, U.UPTConfig(n_clusters=0), jax.random.PRNGKey(0), U.UPTHyper(0.5))
    s_ok = U.summarize_diagnostics(ok)
    assert s_ok["converged"] and U.convergence_warning(s_ok) is None
    assert 0 < s_ok["transport_iterations"] <= 2000 and s_ok["frechet_not_converged"] == 0
    types = {"transport_converged": bool, "transport_iterations": int, "frechet_not_converged": int, "empty_rows": int,
             "frechet_not_converged_classes": list, "marginal_error": float, "converged": bool}
    assert all(type(s_ok[k]) is t for k, t in types.items())
    json.dumps(s_ok)
    with pytest.raises(U.UPTError, match="one call"):
        U.summarize_diagnostics(jax.tree_util.tree_map(lambda x: jnp.stack([x, x]), ok))


def test_example_code_config_reproduces_geomstats_rule():
    # the example-code config through the API: EMD plan rows, then the geomstats stopping rule
    # (NumPy transcription), class by class; the converged rule ends elsewhere
    from tests.test_sphere import np_geomstats_default

    protos, vids, _ = make_problem(10, n=80)
    cfg = U.UPTConfig.example_code(n_clusters=0)
    assert cfg.solver == "emd" and cfg.frechet == "example" and cfg.frechet_max_iter == 32
    _, d_ex = JUPT(protos, vids, cfg, jax.random.PRNGKey(0), U.UPTHyper(0.5))
    _, d_cv = JUPT(protos, vids, cfg.replace(frechet="converged", frechet_max_iter=100), jax.random.PRNGKey(0), U.UPTHyper(0.5))
    p = np.asarray(protos, np.float64)
    v = np.asarray(vids, np.float64)
    cost = 1 - p @ v.T
    plan = ot.emd(np.full(8, 1 / 8), np.full(80, 1 / 80), cost / cost.max())
    for k in range(8):
        ref, iters = np_geomstats_default(v, plan[k])
        assert angles_deg(d_ex.targets[k], ref) < 0.01
        assert int(d_ex.frechet_iters[k]) == iters
        assert angles_deg(d_cv.targets[k], ref_karcher(v, plan[k])) < 1e-3
    assert np.all(np.asarray(d_cv.frechet_grad_norm) <= 1e-6)
    assert angles_deg(d_ex.targets, d_cv.targets).max() > 0.01  # the example rule is not the converged mean


def test_kmeans_screen_switch_reaches_kmeans():
    from upt_jax import cluster

    _, vids, _ = make_problem(11, n=150)
    cfg = U.UPTConfig(n_clusters=15, kmeans_restarts=3, kmeans_screen_iters=2)
    cen = jax.jit(U.cluster_videos, static_argnames="config")(vids, cfg, jax.random.PRNGKey(0))
    ref = jax.jit(lambda x, key: cluster.kmeans(sphere.normalize(x), 15, key, n_init=3, screen_iters=2))(
        jnp.asarray(vids), jax.random.PRNGKey(0))
    np.testing.assert_allclose(np.asarray(cen.points), np.asarray(ref.centres), atol=1e-5)
    with pytest.raises(ValueError, match="kmeans_screen_iters"):
        U.UPTConfig(kmeans_screen_iters=-1)
