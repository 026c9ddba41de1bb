"""`upt classify --method ...` (and the unbalanced / class-prior options) against the library calls.

Each method through the command equals :func:`upt_jax.baselines.make_method`
on the same folder, with the same UPT config and hyper-parameters; the JSON
keeps today's keys; a bad option is one line naming the fix.
"""

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import upt_jax as U
from tests.conftest import unit
from upt_jax import baselines, data
from upt_jax.cli import main

K, N, D = 6, 72, 8


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    rng = np.random.default_rng(3)
    names = [f"Class{i}" for i in range(K)]
    protos = unit(rng, K, D)
    labels = np.repeat(np.arange(K), N // K).astype(np.int32)
    drift = unit(rng, D)
    videos = (protos[labels] + 0.8 * drift + 0.45 * rng.normal(size=(N, D))).astype(np.float32)
    ds = data.Dataset(name="toy", class_names=names, prototypes=protos, videos=videos, labels=labels,
                      video_names=[f"{names[c]}/v{i:03d}" for i, c in enumerate(labels)], meta={})
    root = tmp_path_factory.mktemp("portable") / "toy"
    data.save_portable(ds, str(root))
    return str(root), ds


def run_cli(args, tmp_path, name="out.json"):
    out = tmp_path / name
    assert main(["--no-compile-cache", "classify", *args, "--json", str(out)]) == 0
    return json.loads(out.read_text())


BASE = ["--solver", "sinkhorn", "--clusters", "0", "--lam", "0.5", "--epsilon", "0.05"]
UCFG = U.UPTConfig(n_clusters=0, solver="sinkhorn")


_COMPILED = {}


def _jitted(mcfg, upt_config):
    """``jax.jit(make_method(mcfg, upt_config))``, compiled once per module for each static pair."""
    key = (mcfg, upt_config)
    if key not in _COMPILED:
        _COMPILED[key] = jax.jit(baselines.make_method(mcfg, upt_config))
    return _COMPILED[key]


def library(ds, method, upt_config=UCFG, upt_hyper=U.UPTHyper(0.5, 0.05), method_prior=None, **overrides):
    """The library's numbers for ``method``: ``make_method`` on the folder's arrays.

    ``make_method("upt+X")`` is ``make_method("upt")`` followed by ``make_method("X")`` on the moved
    prototypes (checked in ``tests/test_baselines.py``), so the reference runs those two compiled programs:
    every ``upt+X`` reuses the compiled UPT and the compiled X of the method without UPT.
    """
    mcfg = baselines.method_config(method, **overrides)
    key = jax.random.PRNGKey(0)
    protos, diag = ds.prototypes, None
    if mcfg.upt:
        up = _jitted(baselines.method_config("upt"), upt_config)(ds.prototypes, ds.videos, key, None, upt_hyper)
        protos, diag = up.prototypes, up.upt
    if mcfg.correction == "none":
        out = _jitted(baselines.method_config("baseline"), None)(protos, ds.videos, key)
    else:
        plain = dataclasses.replace(mcfg, name=mcfg.correction, upt=False)
        out = _jitted(plain, None)(protos, ds.videos, key, mcfg.hyper(epsilon=jnp.float32(0.05)), prior=method_prior)
    out = out._replace(upt=diag)
    return U.metrics.summarize(U.metrics.evaluate_scores(out.scores, jnp.asarray(ds.labels)), ds.class_names), out


@pytest.mark.parametrize("method", list(baselines.METHODS))
def test_each_method_via_the_command_equals_the_library_call(folder, tmp_path, method):
    root, ds = folder
    # upt is the default method: its run names no --method
    res = run_cli(["--data", root, *(["--method", method] if method != "upt" else []), *BASE], tmp_path)
    ref, out = library(ds, method)
    for key in ("top1", "top5", "mean_class_accuracy", "unreachable", "unreachable_classes", "n_videos", "n_classes"):
        assert res[key] == pytest.approx(ref[key], abs=1e-4), key
    base = U.metrics.summarize(U.evaluate(ds.prototypes, ds.videos, ds.labels), ds.class_names)
    assert res["baseline"]["top1"] == pytest.approx(base["top1"], abs=1e-4)
    cfg = res["config"]
    assert cfg["method"] == method and cfg["csls_k"] == 10 and cfg["beta"] == 10.0 and cfg["lam"] == 0.5
    # today's keys, plus diagnostics exactly when UPT ran
    assert {"top1", "top5", "mean_class_accuracy", "unreachable", "unreachable_classes", "baseline", "config",
            "environment", "prototypes_from", "timings"} <= set(res)
    assert ("diagnostics" in res) == baselines.METHODS[method].upt
    if "diagnostics" in res:
        assert res["diagnostics"]["converged"] == bool(out.upt.converged)
    has_plan = baselines.METHODS[method].correction == "balanced" or baselines.METHODS[method].refine_balanced
    assert ("method_diagnostics" in res) == has_plan
    if method == "upt":  # and the library's upt() + evaluate(), an independent path
        new, _ = jax.jit(U.make_upt(UCFG))(ds.prototypes, ds.videos, jax.random.PRNGKey(0), U.UPTHyper(0.5, 0.05))
        assert res["top1"] == pytest.approx(float(U.evaluate(new, ds.videos, ds.labels).top1), abs=1e-4)


def test_method_hyper_parameters_reach_the_method(folder, tmp_path):
    root, ds = folder
    res = run_cli(["--data", root, "--method", "csls", "--csls-k", "3", *BASE], tmp_path)
    assert res["top1"] == pytest.approx(library(ds, "csls", csls_k=3)[0]["top1"], abs=1e-4) and res["config"]["csls_k"] == 3
    res = run_cli(["--data", root, "--method", "upt+inverted-softmax", "--beta", "30", *BASE], tmp_path)
    assert res["top1"] == pytest.approx(library(ds, "upt+inverted-softmax", beta=30.0)[0]["top1"], abs=1e-4)
    assert res["config"]["beta"] == 30.0


def test_unbalanced_and_given_prior_options_equal_the_library(folder, tmp_path):
    root, ds = folder
    res = run_cli(["--data", root, *BASE, "--tau-a", "0.8", "--tau-b", "0.9"], tmp_path)
    cfg = U.UPTConfig(n_clusters=0, solver="sinkhorn", tau_a=0.8, tau_b=0.9)
    ref = library(ds, "upt", upt_config=cfg)[0]
    assert res["top1"] == pytest.approx(ref["top1"], abs=1e-4)
    assert res["diagnostics"]["tau_a"] == 0.8 and res["config"]["tau_b"] == 0.9
    prior = np.linspace(1.0, 2.0, K).astype(np.float32)
    np.save(tmp_path / "prior.npy", prior)
    (tmp_path / "prior.txt").write_text("\n".join(f"{x:.8f}" for x in prior))
    cfg = U.UPTConfig(n_clusters=0, solver="sinkhorn", class_prior="given")
    ref, out = library(ds, "upt+balanced", upt_config=cfg, upt_hyper=U.UPTHyper(0.5, 0.05, prior=jnp.asarray(prior)),
                       method_prior=jnp.asarray(prior), prior="given")
    res = run_cli(["--data", root, *BASE, "--method", "upt+balanced", "--class-prior", "given", "--prior",
                   str(tmp_path / "prior.npy")], tmp_path)
    assert res["top1"] == pytest.approx(ref["top1"], abs=1e-4)
    # --class-prior sets the class masses of both transports (UPT's and the balanced correction's)
    assert res["config"]["class_prior"] == "given" and res["config"]["method_config"]["prior"] == "given"
    # the same prior as a text file, one weight a line (the balanced correction alone: no new compilation)
    ref = library(ds, "balanced", method_prior=jnp.asarray(prior), prior="given")[0]
    res = run_cli(["--data", root, *BASE, "--method", "balanced", "--class-prior", "given", "--prior",
                   str(tmp_path / "prior.txt")], tmp_path)
    assert res["top1"] == pytest.approx(ref["top1"], abs=1e-4) and res["config"]["method_config"]["prior"] == "given"
    res = run_cli(["--data", root, *BASE, "--class-prior", "estimated"], tmp_path)
    ref = library(ds, "upt", upt_config=U.UPTConfig(n_clusters=0, solver="sinkhorn", class_prior="estimated"))[0]
    assert res["top1"] == pytest.approx(ref["top1"], abs=1e-4) and res["diagnostics"]["class_prior"] == "estimated"


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--method", "upt+nothing"], "choose one of: baseline, upt, csls, inverted-softmax, centre, balanced"),
        (["--method", "csls", "--csls-k", "0"], "--csls-k must be >= 1"),
        (["--method", "inverted-softmax", "--beta", "-1"], "--beta must be > 0"),
        (["--tau-a", "0.9"], "need --solver sinkhorn"),
        (["--tau-b", "1.5", "--solver", "sinkhorn"], "--tau-b must lie in (0, 1]"),
        (["--class-prior", "given"], "--class-prior given needs --prior FILE"),
        (["--prior", "PRIOR"], "only used with --class-prior given"),
        (["--class-prior", "given", "--prior", "BADPRIOR", "--solver", "sinkhorn"], "has 3 weights, the data has 6 classes"),
        (["--method", "csls", "--fusion", "0.5"], "go with --method upt"),
    ],
)
def test_bad_method_options_are_one_line(folder, tmp_path, capsys, args, needle):
    root, _ = folder
    np.save(tmp_path / "bad.npy", np.ones(3, np.float32))
    np.save(tmp_path / "ok.npy", np.ones(K, np.float32))
    args = [str(tmp_path / "bad.npy") if a == "BADPRIOR" else str(tmp_path / "ok.npy") if a == "PRIOR" else a for a in args]
    assert main(["--no-compile-cache", "classify", "--data", root, *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len([e for e in err if e.startswith("upt ")]) == 1 and "Traceback" not in "\n".join(err)
    assert needle in err[-1]
