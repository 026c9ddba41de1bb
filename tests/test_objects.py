"""Object model: scores vs NumPy loops, example-code reproduction, the paper's
object transport, memory bounds at UCF-101 x 12,988 objects, jit == no-jit."""

import os

import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import pytest

import upt_jax as U
from upt_jax import objects as ob
from upt_jax import sphere
from tests.test_sphere import np_frechet

pytestmark = pytest.mark.fast


def _l2(x):
    x = np.asarray(x, np.float64)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _case(seed=0, k=7, n=50, o=40, d=12):
    rng = np.random.default_rng(seed)
    p = rng.normal(size=(k, d)).astype(np.float32)
    v = rng.normal(size=(n, d)).astype(np.float32)
    op = rng.normal(size=(o, d)).astype(np.float32)
    pr = rng.dirichlet(np.full(o, 0.3), size=n).astype(np.float32)
    lab = rng.integers(0, k, n)
    return p, v, op, pr, lab


def np_object_scores(pr, p, op, top_n, normalize=False, softmax_t=None):
    """Plain loops: per video, per action, sum over its top-n objects."""
    sim = _l2(p) @ _l2(op).T
    n, k = pr.shape[0], p.shape[0]
    out = np.zeros((n, k))
    for a in range(k):
        order = np.argsort(-sim[a], kind="stable")[:top_n]
        w = sim[a, order].copy()
        if softmax_t is not None:
            e = np.exp((w - w.max()) / softmax_t)
            w = e / e.sum()
        elif normalize:
            w = w / w.sum()
        for i in range(n):
            tot = 0.0
            for j, o in enumerate(order):
                tot += float(pr[i, o]) * w[j]
            out[i, a] = tot
    return out


@pytest.mark.parametrize(
    "kw",
    [
        dict(),
        dict(normalize=True),
        dict(weighting="softmax"),
        dict(chunk_size=7),
        dict(top_n=1),
        dict(top_n=40, normalize=True, chunk_size=50),
    ],
)
def test_object_scores_match_numpy_loops(kw):
    p, v, op, pr, _ = _case()
    cfg = ob.ObjectConfig(**{"top_n": 5, **kw})
    t = 0.05
    got = np.asarray(ob.object_scores(pr, p, op, cfg, temperature=t))
    want = np_object_scores(
        pr, p, op, cfg.top_n, normalize=cfg.normalize, softmax_t=t if cfg.weighting == "softmax" else None
    )
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6)


def test_class_mask_fusion_and_weights():
    p, v, op, pr, _ = _case(1)
    cm = np.array([1, 0, 1, 1, 0, 1, 1], bool)
    cfg = ob.ObjectConfig(top_n=4, transport="none")
    res = ob.classify(p, v, op, pr, cfg, ob.ObjectHyper(fusion=1.0), class_mask=cm)
    assert np.all(np.isneginf(np.asarray(res.fused)[:, ~cm]))
    assert np.all(np.isfinite(np.asarray(res.fused)[:, cm]))
    np.testing.assert_allclose(np.asarray(res.fused)[:, cm], (_l2(v) @ _l2(p).T)[:, cm], atol=1e-6)
    f = 0.3
    res = ob.classify(p, v, op, pr, cfg, ob.ObjectHyper(fusion=f))
    want = f * (_l2(v) @ _l2(p).T) + (1 - f) * np_object_scores(pr, p, op, 4)
    np.testing.assert_allclose(np.asarray(res.fused), want, rtol=2e-5, atol=1e-6)
    idx, w = ob.object_weights(p, op, cfg)
    wm = np.asarray(ob.weight_matrix(idx, w, op.shape[0]))
    assert wm.shape == (op.shape[0], p.shape[0]) and np.count_nonzero(wm) == p.shape[0] * 4


def test_evaluate_scores_matches_metrics_evaluate():
    p, v, _, _, lab = _case(2)
    cm = np.array([1, 1, 1, 0, 1, 1, 1], bool)
    vm = lab != 3
    a = jax.jit(U.evaluate)(p, v, lab, class_mask=cm, video_mask=vm)
    b = _jevaluate(jax.jit(ob.action_scores)(p, v), lab, class_mask=cm, video_mask=vm)
    for x, y in zip(a, b):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=1e-5)


# ------------------------------------------------------ example-code layout


def np_example_slerp(p1, p2, t):
    om = np.arccos(np.clip(np.dot(p1, p2), -0.99999, 0.99999))
    return np.sin(t * om) / np.sin(om) * p1 + np.sin((1 - t) * om) / np.sin(om) * p2


def np_example_script(root, fusion, topn, ilambda, target_file):
    """An independent NumPy restatement of the example code's classification
    script (float64 arrays, per-video loops, its reversed slerp)."""
    emb = os.path.join(root, "embeddings")
    videos = [ln.strip() for ln in open(os.path.join(emb, "ucf101_videofiles.txt"))]
    videos = ["/".join(x.split("/")[-2:]) for x in videos]
    vemb = np.load(os.path.join(emb, "ucf101_video_embeddings_r2plus1d18.npy")).astype(np.float64)
    aemb = np.load(os.path.join(emb, "ucf101_action_embeddings.npy")).astype(np.float64)
    classes = np.load(os.path.join(emb, "ucf101_actions.npy"))
    labels = np.array([int(np.flatnonzero(classes == x.split("/")[0])[0]) for x in videos])
    if target_file is not None:
        tgt = np.load(os.path.join(root, "ot", target_file)).astype(np.float64)
        for i in range(aemb.shape[0]):
            aemb[i] = np_example_slerp(aemb[i], tgt[i], ilambda)
    vemb = vemb / np.linalg.norm(vemb, axis=1, keepdims=True)
    aemb = aemb / np.linalg.norm(aemb, axis=1, keepdims=True)
    scores = vemb @ aemb.T
    if topn > 0:
        oemb = np.load(os.path.join(emb, "imagenet%d_embeddings.npy" % 30)).astype(np.float64)
        oemb = oemb / np.linalg.norm(oemb, axis=1, keepdims=True)
        a2o = aemb @ oemb.T
        tops = [np.argsort(a2o[i])[::-1][:topn] for i in range(a2o.shape[0])]
        for i, name in enumerate(videos):
            po = np.load(os.path.join(root, "objectscores", name.split("/")[1][:-4], "avg-features.npy"))
            vo = np.array([np.dot(po[tops[j]], a2o[j, tops[j]]) for j in range(aemb.shape[0])])
            scores[i] = fusion * scores[i] + (1 - fusion) * vo
    order = np.argsort(scores, axis=1)[:, ::-1]
    top1 = np.mean(order[:, 0] == labels) * 100
    top5 = np.mean([lab in row[:5] for lab, row in zip(labels, order)]) * 100
    return top1, top5


def _write_example_folder(root, seed=0, k=9, per=12, o=30, d=16, unit=False, targets=None):
    rng = np.random.default_rng(seed)
    emb = os.path.join(root, "embeddings")
    os.makedirs(emb)
    classes = np.array([f"Action{c}" for c in range(k)])
    protos = rng.normal(size=(k, d)) * rng.uniform(0.5, 2.0, size=(k, 1))
    if unit:
        protos = _l2(protos)
    labels = np.repeat(np.arange(k), per)
    vids = protos[labels] / np.linalg.norm(protos[labels], axis=1, keepdims=True) + 0.9 * rng.normal(size=(k * per, d))
    objects = rng.normal(size=(o, d))
    names = [f"{classes[c]}/v_{classes[c]}_g{i:02d}_c01.avi" for i, c in enumerate(labels)]
    with open(os.path.join(emb, "ucf101_videofiles.txt"), "w") as fh:
        fh.write("\n".join(f"/data/UCF101/{x}" for x in names) + "\n")
    np.save(os.path.join(emb, "ucf101_actions.npy"), classes)
    np.save(os.path.join(emb, "ucf101_action_embeddings.npy"), protos.astype(np.float32))
    np.save(os.path.join(emb, "ucf101_video_embeddings_r2plus1d18.npy"), vids.astype(np.float32))
    np.save(os.path.join(emb, "imagenet%d_embeddings.npy" % o), objects.astype(np.float32))
    sim = _l2(protos) @ _l2(objects).T
    for i, (x, c) in enumerate(zip(names, labels)):
        logits = 4.0 * sim[c] + rng.normal(size=o)
        prob = np.exp(logits) / np.exp(logits).sum()
        folder = os.path.join(root, "objectscores", x.split("/")[1][:-4])
        os.makedirs(folder)
        np.save(os.path.join(folder, "avg-features.npy"), prob.astype(np.float32))
    if targets is None:
        targets = _l2(protos + 0.8 * rng.normal(size=protos.shape))
    elif callable(targets):
        targets = targets(protos, vids.astype(np.float32))
    os.makedirs(os.path.join(root, "ot"))
    np.save(os.path.join(root, "ot", "transductive_ucf101_0_1000-kmeans_EMD.npy"), np.asarray(targets, np.float32))
    return protos, vids, objects, labels


# jitted entry points (an eager call compiles every primitive of it separately: hundreds of small programs)
_jclassify = jax.jit(ob.classify, static_argnames="config")
_jevaluate = jax.jit(ob.evaluate_scores)
_jexample_moved = jax.jit(ob.example_code_prototypes)
_jslerp = jax.jit(lambda p, t, lam: sphere.slerp(sphere.normalize(p), sphere.normalize(t), lam))


def _ours_example(ds, fusion, topn, moved):
    cfg = ob.ObjectConfig.example_code(top_n=topn)
    res = _jclassify(
        ds.prototypes, ds.videos, ds.object_prototypes, ds.object_probs, cfg, ob.ObjectHyper(fusion=fusion), action_moved=moved
    )
    m = _jevaluate(res.fused, ds.labels)
    return float(m.top1), float(m.top5)


@pytest.mark.parametrize("unit", [False, True])
def test_example_variant_reproduces_example_script(tmp_path, unit):
    from upt_jax.data import load_official

    root = str(tmp_path / "ucf-101")
    _write_example_folder(root, unit=unit)
    ds = load_official(root, load_objects=True)
    tname = "transductive_ucf101_0_1000-kmeans_EMD"
    for fusion, topn, ilambda in [(0.5, 10, 0.5), (0.5, 5, 1.0), (0.3, 3, 0.0), (0.8, 10, 0.25)]:
        want = np_example_script(root, fusion, topn, ilambda, tname + ".npy")
        moved = _jexample_moved(ds.prototypes, ds.targets[tname], ilambda)
        got = _ours_example(ds, fusion, topn, moved)
        np.testing.assert_allclose(got, want, atol=1e-4)
        if unit:  # for unit vectors the example slerp is our slerp with lam = 1 - L
            moved2 = _jslerp(ds.prototypes, ds.targets[tname], 1.0 - ilambda)
            np.testing.assert_allclose(_ours_example(ds, fusion, topn, moved2), want, atol=1e-4)
    # without objects (-t 0) the script is the action model
    want = np_example_script(root, 1.0, 0, 0.5, tname + ".npy")
    moved = _jexample_moved(ds.prototypes, ds.targets[tname], 0.5)
    m = _jevaluate(jax.jit(ob.action_scores)(moved, ds.videos), ds.labels)
    np.testing.assert_allclose((float(m.top1), float(m.top5)), want, atol=1e-4)


def np_emd_targets(protos, videos):
    """Independent UPT targets without clustering: POT EMD (uniform masses,
    cost (1 - cos)/max) and float64 Karcher means of the videos."""
    import ot

    p, x = _l2(protos), _l2(videos)
    cost = 1 - p @ x.T
    cost = cost / cost.max()
    plan = ot.emd(np.full(len(p), 1 / len(p)), np.full(len(x), 1 / len(x)), cost)
    return np.array([np_frechet(x, w, iters=500) for w in plan])


def test_example_variant_with_upt_emd_targets(tmp_path):
    """End to end: POT-EMD targets in NumPy, the example script on them, vs
    upt_jax.upt(solver='emd', C = N) and the example object variant."""
    pytest.importorskip("ot")
    from upt_jax.data import load_official

    root = str(tmp_path / "ucf-101")
    # the sizes of the test above (k = 9, 12 videos each): its compiled classifier and metrics are reused
    _write_example_folder(root, seed=3, unit=True, targets=np_emd_targets)
    ds = load_official(root, load_objects=True)
    tname = "transductive_ucf101_0_1000-kmeans_EMD"
    want = np_example_script(root, 0.5, 10, 0.5, tname + ".npy")
    cfg = U.UPTConfig(n_clusters=0, solver="emd")
    moved, diag = jax.jit(U.make_upt(cfg))(ds.prototypes, ds.videos, jax.random.key(0), U.UPTHyper(lam=0.5))
    np.testing.assert_allclose(np.asarray(diag.targets), _l2(ds.targets[tname]), atol=2e-4)
    np.testing.assert_allclose(_ours_example(ds, 0.5, 10, moved), want, atol=1e-4)


# --------------------------------------------------------- paper variant


@pytest.mark.parametrize("solver,mass", [("sinkhorn", "all"), ("emd", "top_union")])
def test_paper_transport_marginals_sphere_and_lam0(solver, mass):
    if solver == "emd":
        pytest.importorskip("ot")
    p, v, op, pr, _ = _case(4, k=6, n=40, o=30)
    cm = np.array([1, 1, 0, 1, 1, 1], bool)
    vm = np.arange(40) % 5 != 0
    cfg = ob.ObjectConfig(top_n=4, transport="paper", solver=solver, object_mass=mass)
    hyp = ob.ObjectHyper(lam=0.5, epsilon=1e-2)
    # classify returns object_transport's (new prototypes, diagnostics) as they are: one compilation
    # serves this check and the lam = 0 one below
    res = _jclassify(p, v, op, pr, cfg, hyp, class_mask=cm, video_mask=vm)
    new, diag = res.object_prototypes_used, res.diagnostics
    plan = np.asarray(diag.coupling)
    # object masses: average probability over unmasked videos, renormalised
    b = pr[vm].mean(0).astype(np.float64)
    if mass == "top_union":
        sim = _l2(p) @ _l2(op).T
        keep = np.zeros(30, bool)
        for a in np.flatnonzero(cm):
            keep[np.argsort(-sim[a])[:4]] = True
        b = np.where(keep, b, 0)
    b = b / b.sum()
    np.testing.assert_allclose(np.asarray(diag.centres.mass), b, atol=1e-6)
    a = cm / cm.sum()
    tol = 2e-3 if solver == "sinkhorn" else 1e-6
    np.testing.assert_allclose(plan.sum(1), a, atol=tol)
    np.testing.assert_allclose(plan.sum(0), b, atol=tol)
    np.testing.assert_allclose(np.linalg.norm(np.asarray(diag.targets), axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(np.asarray(new), axis=1), 1.0, atol=1e-5)
    # masked class unchanged; others moved half way to their target
    np.testing.assert_allclose(np.asarray(new)[~cm], _l2(p)[~cm], atol=1e-6)
    ang = np.asarray(diag.moved_angle)[cm]
    np.testing.assert_allclose(ang, 0.5 * np.asarray(diag.target_angle)[cm], atol=1e-4)
    # the target is the Frechet mean of the object prototypes with the coupling row
    row = int(np.flatnonzero(cm)[0])
    w = plan[row] / plan[row].sum()
    fm = np_frechet_row(_l2(op), w)
    np.testing.assert_allclose(np.asarray(diag.targets)[row], fm, atol=2e-4)
    # lam = 0: the baseline exactly
    res0 = _jclassify(p, v, op, pr, cfg, hyp._replace(lam=0.0), class_mask=cm, video_mask=vm)
    base = _jclassify(p, v, op, pr, cfg.replace(transport="none"), hyp, class_mask=cm, video_mask=vm)
    np.testing.assert_array_equal(np.asarray(res0.object), np.asarray(base.object))
    np.testing.assert_array_equal(np.asarray(res0.fused), np.asarray(base.fused))



def np_frechet_row(x, w, iters=500):
    t = _l2(w @ x)
    for _ in range(iters):
        c = np.clip(x @ t, -1, 1)
        th = np.arccos(c)
        u = x - c[:, None] * t
        nu = np.linalg.norm(u, axis=1)
        g = (w * np.where(nu > 1e-12, th / np.maximum(nu, 1e-12), 1.0)) @ u
        ng = np.linalg.norm(g)
        if ng < 1e-12:
            break
        t = np.cos(ng) * t + np.sin(ng) * g / ng
    return t


def test_example_transport_requires_moved_prototypes():
    p, v, op, pr, _ = _case(5)
    with pytest.raises(U.UPTError, match="action_moved"):
        ob.classify(p, v, op, pr, ob.ObjectConfig(transport="example"))
    with pytest.raises(U.UPTError, match="object_probs"):
        ob.classify(p, v, op, pr[:, :-1], ob.ObjectConfig(transport="none"))
    with pytest.raises(U.UPTError, match="top_n"):
        ob.classify(p, v, op, pr, ob.ObjectConfig(transport="none", top_n=1000))
    with pytest.raises(U.UPTError, match="transport"):
        ob.ObjectConfig(transport="magic")


# ------------------------------------------------ transforms and memory


def test_jit_equals_no_jit_and_vmap_over_hyper():
    p, v, op, pr, _ = _case(6, k=6, n=40, o=30)
    cm = np.array([1, 1, 0, 1, 1, 1], bool)
    hyp = ob.ObjectHyper(lam=0.4, fusion=0.6, temperature=0.2)
    for kw in (dict(weighting="softmax"), dict(normalize=True, chunk_size=16)):
        cfg = ob.ObjectConfig(top_n=5, transport="none", **kw)
        eager = ob.classify(p, v, op, pr, cfg, hyp, class_mask=cm)
        jitted = _jclassify(p, v, op, pr, cfg, hyp, class_mask=cm)
        for x, y in zip(eager[:4], jitted[:4]):
            np.testing.assert_allclose(np.asarray(y), np.asarray(x), rtol=1e-5, atol=1e-6)
    # vmap over traced hyper-parameters (lam, fusion) == one call per value
    pytest.importorskip("ot")
    cfg = ob.ObjectConfig(top_n=5, transport="paper", solver="emd", frechet_max_iter=20)
    # the data are arguments, not constants of the programs (no constant folding at compile time)
    g = lambda h, p, v, op, pr: ob.classify(p, v, op, pr, cfg, h).fused  # noqa: E731
    f = jax.jit(g)
    lams = jnp.array([0.0, 0.4, 1.0])
    fus = jnp.array([0.2, 0.5, 0.9])
    batch = ob.ObjectHyper(lam=lams, epsilon=jnp.full(3, 1e-2), fusion=fus, temperature=jnp.full(3, 0.2))
    out = np.asarray(jax.jit(jax.vmap(g, in_axes=(0, None, None, None, None)))(batch, p, v, op, pr))
    for i in range(3):
        one = f(hyp._replace(lam=lams[i], fusion=fus[i]), p, v, op, pr)
        np.testing.assert_allclose(out[i], np.asarray(one), rtol=1e-5, atol=1e-6)


def _max_var_size(jaxpr):
    best = 0
    for eqn in jaxpr.eqns:
        for var in eqn.outvars:
            shape = getattr(var.aval, "shape", ())
            best = max(best, int(np.prod(shape)) if shape else 1)
        for sub in jax.extend.core.jaxprs_in_params(eqn.params):
            best = max(best, _max_var_size(sub))
    return best


def test_memory_bounded_at_ucf101_scale():
    """13,320 videos x 12,988 objects x 101 classes: no value of N*K*O (or
    N*K*n) elements is ever formed, and the compiled scorer's temporaries are
    small next to its 692 MB input. Nothing of that size is allocated."""
    n, o, k, d = 13320, 12988, 101, 300
    probs = jax.ShapeDtypeStruct((n, o), jnp.float32)
    protos = jax.ShapeDtypeStruct((k, d), jnp.float32)
    vids = jax.ShapeDtypeStruct((n, d), jnp.float32)
    objs = jax.ShapeDtypeStruct((o, d), jnp.float32)
    cfg = ob.ObjectConfig(top_n=10, transport="paper")

    def run(p, v, op, pr):
        return ob.classify(p, v, op, pr, cfg, ob.ObjectHyper()).fused

    jaxpr = jax.make_jaxpr(run)(protos, vids, objs, probs)
    assert _max_var_size(jaxpr.jaxpr) <= n * o  # the input itself is the largest value

    score = jax.jit(lambda pr, p, op: ob.object_scores(pr, p, op, cfg))
    compiled = score.lower(probs, protos, objs).compile()
    mem = compiled.memory_analysis()
    if mem is not None:
        assert mem.temp_size_in_bytes < 64 * 2**20, mem.temp_size_in_bytes
    chunked = jax.jit(lambda pr, p, op: ob.object_scores(pr, p, op, cfg.replace(chunk_size=256)))
    mem = chunked.lower(probs, protos, objs).compile().memory_analysis()
    if mem is not None:
        assert mem.temp_size_in_bytes < 64 * 2**20, mem.temp_size_in_bytes


def test_object_report_rows():
    p, v, op, pr, lab = _case(7, k=6, n=48, o=30)
    ds = dict(prototypes=p, videos=v, labels=lab, object_prototypes=op, object_probs=pr)
    rows = ob.object_report(
        ds,
        U.UPTConfig(n_clusters=0, solver="emd", frechet_max_iter=20),
        ob.ObjectConfig(top_n=4, solver="emd", frechet_max_iter=20),
        jax.random.key(0),
        ob.ObjectHyper(lam=0.0),
    )
    assert set(rows) == {
        "action", "action+upt", "object", "object+upt_paper", "object+upt_example",
        "fused", "fused+upt_paper", "fused+upt_example",
    }
    # lam = 0: every "+upt" row equals its baseline
    for name in ("action", "object", "fused"):
        for suffix in ("+upt", "+upt_paper", "+upt_example"):
            if name + suffix in rows:
                assert rows[name + suffix]["top1"] == pytest.approx(rows[name]["top1"])
    base = _jevaluate(jax.jit(ob.action_scores)(p, v), lab)
    assert rows["action"]["top1"] == pytest.approx(float(base.top1))


# ------------------------------------------------------- world objects


def test_add_objects_shapes_seed_and_semantics():
    from types import SimpleNamespace

    from upt_jax import text
    from upt_jax import world_objects as wo

    protos = text.load_prototypes("ucf101")[:6]
    labels = np.repeat(np.arange(6), 20)
    world = SimpleNamespace(prototypes=protos, labels=labels)
    names, op, pr = wo.add_objects(world, seed=1, n_objects=200)
    assert len(names) == 200 and op.shape == (200, protos.shape[1]) and pr.shape == (120, 200)
    assert pr.dtype == np.float32 and np.all(pr > 0)
    np.testing.assert_allclose(pr.sum(1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(op, axis=1), 1.0, atol=1e-5)
    again = wo.add_objects(world, seed=1, n_objects=200)
    np.testing.assert_array_equal(again[2], pr)
    assert not np.array_equal(wo.add_objects(world, seed=2, n_objects=200)[2], pr)
    # full agreement, no background/noise: the object model beats chance clearly
    _, op1, pr1 = wo.add_objects(world, seed=0, agreement=1.0, semantic_pool=10, background=0.0, noise=0.0)
    s = np.asarray(ob.object_scores(pr1, protos, op1, ob.ObjectConfig(top_n=10)))
    assert np.mean(s.argmax(1) == labels) > 0.6
    with pytest.raises(U.UPTError, match="agreement"):
        wo.add_objects(world, agreement=1.5)
