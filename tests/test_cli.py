"""The `upt` command end to end on small folders, against independent NumPy
re-implementations of the example code's evaluation."""

import json

import jax
import numpy as np
import ot
import pytest

from upt_jax import data
from upt_jax.cli import main
from tests.conftest import unit
from tests.test_api import angles_deg, reference_upt
from tests.test_sphere import np_geomstats_default


def example_slerp(p1, p2, t):
    """The example code's slerp: returns p1 at t = 1 (clip at +-0.99999)."""
    om = np.arccos(np.clip(np.sum(p1 * p2, -1, keepdims=True), -0.99999, 0.99999))
    so = np.sin(om)
    return np.sin(t * om) / so * p1 + np.sin((1 - t) * om) / so * p2


def example_eval(protos, videos, labels):
    """Nearest prototype by cosine, top-1 and top-5 in percent."""
    p = protos / np.linalg.norm(protos, axis=1, keepdims=True)
    v = videos / np.linalg.norm(videos, axis=1, keepdims=True)
    s = v @ p.T
    order = np.argsort(-s, axis=1)
    top1 = 100 * np.mean(order[:, 0] == labels)
    top5 = 100 * np.mean(np.any(order[:, :5] == labels[:, None], axis=1))
    return top1, top5, np.bincount(order[:, 0], minlength=len(protos))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    rng = np.random.default_rng(0)
    k, n, d, o = 7, 84, 16, 30
    names = [f"Action{i}" for i in range(k)]
    protos = unit(rng, k, d) * rng.uniform(0.5, 3.0, size=(k, 1)).astype(np.float32)  # raw, not unit: like word2vec
    labels = np.repeat(np.arange(k), n // k)
    drift = unit(rng, d)
    videos = (protos[labels] / np.linalg.norm(protos[labels], axis=1, keepdims=True) + 0.9 * drift
              + 0.35 * rng.normal(size=(n, d))).astype(np.float32)
    oprotos = unit(rng, o, d)
    oprobs = rng.dirichlet(np.ones(o) * 0.3, size=n).astype(np.float32)
    vnames = [f"{names[c]}/v_{names[c]}_g{i:02d}_c01.avi" for i, c in enumerate(labels)]
    ds = data.Dataset(name="toy", class_names=names, prototypes=protos.astype(np.float32), videos=videos, labels=labels.astype(np.int32),
                      video_names=vnames, object_names=[f"obj{i}" for i in range(o)], object_prototypes=oprotos,
                      object_probs=oprobs, targets={}, meta={})
    root = tmp_path_factory.mktemp("official") / "ucf-101"
    data.write_official(ds, str(root), prefix="ucf101")
    targets = unit(rng, k, d)
    (root / "ot").mkdir(exist_ok=True)
    np.save(root / "ot" / "transductive_ucf101_0_1000-kmeans_EMD.npy", targets)
    return root, ds, targets


def run_cli(args, tmp_path):
    out = tmp_path / "out.json"
    code = main(["--no-compile-cache", *args, "--json", str(out)])
    assert code == 0
    return json.loads(out.read_text())


@pytest.mark.parametrize("lam", [0.0, 0.5, 1.0])
def test_classify_with_targets_equals_example_code(folder, tmp_path, lam):
    root, ds, targets = folder
    res = run_cli(["classify", "--official", str(root), "--targets", str(root / "ot" / "transductive_ucf101_0_1000-kmeans_EMD.npy"),
                   "--lam", str(lam)], tmp_path)
    moved = example_slerp(ds.prototypes.astype(np.float64), targets.astype(np.float64), 1 - lam)  # example -l = 1 - lam
    top1, top5, counts = example_eval(moved, ds.videos.astype(np.float64), ds.labels)
    assert res["top1"] == pytest.approx(top1, abs=1e-4)
    assert res["top5"] == pytest.approx(top5, abs=1e-4)
    assert res["unreachable"] == int(np.sum(counts == 0))
    for f in ("top1", "top5", "mean_class_accuracy", "unreachable", "unreachable_classes", "n_videos", "n_classes", "config"):
        assert f in res
    assert res["n_videos"] == 84 and res["n_classes"] == 7
    assert res["config"]["example_code_l"] == pytest.approx(1 - lam)


def test_classify_emd_no_clustering_equals_independent_pipeline(folder, tmp_path):
    root, ds, _ = folder
    res = run_cli(["classify", "--official", str(root), "--solver", "emd", "--clusters", "0", "--lam", "0.5"], tmp_path)
    p = ds.prototypes / np.linalg.norm(ds.prototypes, axis=1, keepdims=True)
    v = ds.videos / np.linalg.norm(ds.videos, axis=1, keepdims=True)
    ref_new, _ = reference_upt(p, v, 0.5)
    top1, top5, counts = example_eval(ref_new, v.astype(np.float64), ds.labels)
    assert res["top1"] == pytest.approx(top1, abs=1e-4)
    assert res["top5"] == pytest.approx(top5, abs=1e-4)
    base1, _, _ = example_eval(p.astype(np.float64), v.astype(np.float64), ds.labels)
    assert res["baseline"]["top1"] == pytest.approx(base1, abs=1e-4)
    assert res["diagnostics"]["transport_converged"]


def test_classify_example_frechet_rule_equals_geomstats_transcription(folder, tmp_path):
    root, ds, _ = folder
    res = run_cli(["classify", "--official", str(root), "--solver", "emd", "--clusters", "0", "--lam", "0.5", "--frechet", "example"], tmp_path)
    p = (ds.prototypes / np.linalg.norm(ds.prototypes, axis=1, keepdims=True)).astype(np.float64)
    v = (ds.videos / np.linalg.norm(ds.videos, axis=1, keepdims=True)).astype(np.float64)
    cost = 1 - p @ v.T
    cost /= cost.max()
    plan = ot.emd(np.full(len(p), 1 / len(p)), np.full(len(v), 1 / len(v)), cost)
    targets = np.stack([np_geomstats_default(v, plan[i])[0] for i in range(len(p))])
    moved = example_slerp(p, targets, 0.5)
    top1, top5, _ = example_eval(moved, v, ds.labels)
    assert res["top1"] == pytest.approx(top1, abs=1e-4)
    assert res["top5"] == pytest.approx(top5, abs=1e-4)


def test_transport_command_writes_targets(folder, tmp_path):
    root, ds, _ = folder
    np.save(tmp_path / "P.npy", ds.prototypes)
    np.save(tmp_path / "V.npy", ds.videos)
    out = tmp_path / "T.npy"
    assert main(["--no-compile-cache", "transport", "--prototypes", str(tmp_path / "P.npy"), "--videos", str(tmp_path / "V.npy"),
                 "--clusters", "0", "--solver", "emd", "--out", str(out)]) == 0
    t = np.load(out)
    p = ds.prototypes / np.linalg.norm(ds.prototypes, axis=1, keepdims=True)
    _, ref_t = reference_upt(p, ds.videos / np.linalg.norm(ds.videos, axis=1, keepdims=True), 1.0)
    assert angles_deg(t, ref_t).max() < 0.1
    # and classify reads them back as --targets
    res = run_cli(["classify", "--official", str(root), "--targets", str(out), "--lam", "1"], tmp_path)
    top1, _, _ = example_eval(t.astype(np.float64), ds.videos.astype(np.float64), ds.labels)
    assert res["top1"] == pytest.approx(top1, abs=1e-4)


def test_classify_with_objects_equals_numpy_fusion(folder, tmp_path):
    # the example code's fused model on its own arithmetic: action prototypes moved by UPT (EMD, C = N, lam 0.5),
    # each action's top-5 objects by cosine, object score sum_o p(o|v) cos(a, o), fused 0.5 * action + 0.5 * object
    root, ds, _ = folder
    res = run_cli(["classify", "--official", str(root), "--clusters", "0", "--fusion", "0.5", "--top-objects", "5",
                   "--object-transport", "example"], tmp_path)
    p = ds.prototypes / np.linalg.norm(ds.prototypes, axis=1, keepdims=True)
    v = (ds.videos / np.linalg.norm(ds.videos, axis=1, keepdims=True)).astype(np.float64)
    moved, _ = reference_upt(p, v, 0.5)
    o = ds.object_prototypes / np.linalg.norm(ds.object_prototypes, axis=1, keepdims=True)
    sim = moved @ o.T  # [K, O]
    top = np.argsort(-sim, axis=1)[:, :5]
    w = np.zeros_like(sim)
    np.put_along_axis(w, top, np.take_along_axis(sim, top, axis=1), axis=1)
    action = v @ moved.T
    obj = ds.object_probs.astype(np.float64) @ w.T
    for key, score in (("action", action), ("object", obj), ("fused", 0.5 * action + 0.5 * obj)):
        order = np.argsort(-score, axis=1)
        assert res[key]["top1"] == pytest.approx(100 * np.mean(order[:, 0] == ds.labels), abs=1e-4), key
        assert res[key]["top5"] == pytest.approx(100 * np.mean(np.any(order[:, :5] == ds.labels[:, None], axis=1)), abs=1e-4), key
    assert res["top1"] == res["fused"]["top1"]


def test_classify_chunked_path_equals_dense(folder, tmp_path):
    root, _, _ = folder
    common = ["classify", "--official", str(root), "--solver", "sinkhorn", "--clusters", "0", "--lam", "0.5",
              "--threshold", "1e-6", "--epsilon", "0.05"]
    dense = run_cli(common, tmp_path)
    chunked = run_cli([*common, "--chunk-size", "16"], tmp_path)
    assert chunked["config"]["chunk_size"] == 16 and dense["config"]["chunk_size"] == 0
    for key in ("top1", "top5", "mean_class_accuracy", "unreachable"):
        assert chunked[key] == pytest.approx(dense[key], abs=1e-4), key
        assert chunked["baseline"][key] == pytest.approx(dense["baseline"][key], abs=1e-4), key
    assert chunked["diagnostics"]["converged"] and dense["diagnostics"]["converged"]
    assert chunked["diagnostics"]["median_target_angle_deg"] == pytest.approx(dense["diagnostics"]["median_target_angle_deg"], abs=1e-3)


def test_non_convergence_warns_and_strict_exits_3(folder, tmp_path, capsys):
    root, ds, _ = folder
    np.save(tmp_path / "P.npy", ds.prototypes)
    np.save(tmp_path / "V.npy", ds.videos)
    args = ["--no-compile-cache", "transport", "--prototypes", str(tmp_path / "P.npy"), "--videos", str(tmp_path / "V.npy"),
            "--clusters", "0", "--solver", "sinkhorn", "--epsilon", "1e-4", "--sinkhorn-iters", "5", "--out", str(tmp_path / "T"),
            "--json", str(tmp_path / "t.json")]
    assert main(args) == 0  # written, with one warning line
    captured = capsys.readouterr()
    warn = [line for line in captured.err.splitlines() if "warning" in line]
    assert len(warn) == 1 and "transport stopped after 5 Sinkhorn iterations (cap 5)" in warn[0]
    assert f"wrote {tmp_path / 'T.npy'}" in captured.out and (tmp_path / "T.npy").exists()  # the file actually written
    info = json.loads((tmp_path / "t.json").read_text())
    assert info["out"] == str(tmp_path / "T.npy")
    d = info["diagnostics"]
    assert d["transport_iterations"] == 5 and d["transport_converged"] is False and d["converged"] is False
    assert main([*args, "--strict"]) == 3
    assert len([line for line in capsys.readouterr().err.splitlines() if "warning" in line]) == 1
    # a converged run under --strict exits 0 and prints no warning
    res_args = ["--no-compile-cache", "classify", "--official", str(root), "--solver", "emd", "--clusters", "0", "--strict"]
    assert main(res_args) == 0
    assert "warning" not in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, needle",
    [
        (["classify", "--official", "missing-dir/folder"], "missing-dir/folder"),
        (["classify", "--official", "ROOT", "--lam", "1.5"], "--lam must lie in [0, 1]"),
        (["classify", "--official", "ROOT", "--clusters", "100000"], "n_clusters=100000 is larger"),
        (["classify", "--official", "ROOT", "--targets", "missing-dir/T.npy"], "--targets missing-dir/T.npy"),
        (["classify", "--official", "ROOT", "--threshold", "-1"], "--threshold must be > 0"),
        (["classify", "--official", "ROOT", "--sinkhorn-iters", "0"], "--sinkhorn-iters must be >= 1"),
        (["classify", "--official", "ROOT", "--frechet-tol", "0"], "--frechet-tol must be > 0"),
        (["classify", "--official", "ROOT", "--chunk-size", "64"], "--chunk-size 64 needs --solver sinkhorn"),
        (["transport", "--prototypes", "P", "--videos", "V", "--out", "OUT", "--threshold", "-1"], "--threshold must be > 0"),
        (["transport", "--prototypes", "missing-dir/P.npy", "--videos", "missing-dir/V.npy", "--out", "OUT"], "missing-dir/P.npy"),
    ],
)
def test_cli_errors_are_one_line_and_exit_2(folder, capsys, tmp_path, monkeypatch, args, needle):
    root, _, _ = folder
    monkeypatch.chdir(tmp_path)  # relative "missing-dir/..." paths do not exist there
    args = [str(root) if a == "ROOT" else str(tmp_path / "x.npy") if a == "OUT" else a for a in args]
    assert main(["--no-compile-cache", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len([e for e in err if e.startswith("upt ")]) == 1
    assert needle in err[-1]
    assert "Traceback" not in "\n".join(err)


def test_run_on_a_small_world(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["--no-compile-cache", "run", "--n-videos", "600", "--seen-videos-per-class", "8", "--clusters", "60",
                 "--kmeans-restarts", "2", "--out", str(out), "--no-objects"])
    assert code == 0
    res = json.loads((out / "results.json").read_text())
    assert res["world"]["synthetic"] is True
    assert len(res["lam_curve"]) == 11
    assert res["lam_curve"][0]["top1"] == pytest.approx(res["baseline"]["top1"], abs=1e-4)
    d = res["diagnostics"]  # the one naming scheme of api.summarize_diagnostics
    assert d["n_classes"] == res["baseline"]["n_classes"] and isinstance(d["frechet_not_converged"], int)
    assert d["transport_iterations"] <= d["sinkhorn_max_iter"]
    assert (out / "prediction_counts.png").stat().st_size > 1000
    assert (out / "top1_vs_lam.png").stat().st_size > 1000
    text = capsys.readouterr().out
    assert "never predicted" in text and "top-1" in text
    jax.clear_caches()
