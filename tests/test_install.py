"""The installed package: build the wheel, install it (not editable) into a fresh
virtual environment, and run ``upt`` from there, away from the source tree.

How, offline and in seconds:

1. copy ``pyproject.toml``, ``README.md`` and ``upt_jax/`` to a temporary
   folder and build the wheel there with the test's own interpreter
   (``pip wheel --no-deps --no-build-isolation --no-index``; the build
   backend, setuptools >= 70.1, is installed by ``make install``);
2. ``python -m venv --without-pip`` a fresh environment and give it the
   dependencies by a ``.pth`` file naming the site-packages of the
   environment running the tests (a ``.pth`` line only appends that folder to
   ``sys.path``: the ``.pth`` files inside it, such as the editable install's
   finder, are NOT run, so the source tree stays out of reach);
3. ``pip --python NEWENV/bin/python install --no-deps --no-index`` the wheel,
   which writes the ``upt`` console script;
4. run, from a temporary folder: ``upt --help``, each sub-command's
   ``--help``, ``python -m upt_jax --version``, ``upt classify`` on a small
   portable folder and ``upt sweep`` on a config file in that folder.
"""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap

import numpy as np
import pytest

import upt_jax
from upt_jax import cli, data
from upt_jax.sweep import synthetic_data

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SWEEP_CONFIG = textwrap.dedent(
    """
    from upt_jax.sweep import Study

    def get_config():
        return Study(
            name="installed",
            datasets=("mini",),  # relative to this file's folder
            protocol="half:2",
            base={"n_clusters": 10, "kmeans_restarts": 2, "kmeans_max_iter": 20},
            lam=(0.0, 0.5),
        )
    """
)


def _run(cmd, cwd, env, timeout=180):
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    base = tmp_path_factory.mktemp("install")
    src = base / "src"
    src.mkdir()
    for f in ("pyproject.toml", "README.md"):
        shutil.copy(os.path.join(ROOT, f), src / f)
    shutil.copytree(os.path.join(ROOT, "upt_jax"), src / "upt_jax", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    out = _run(pip + ["wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(base / "dist"), str(src)], base, env)
    assert out.returncode == 0, out.stdout + out.stderr
    (wheel,) = list((base / "dist").glob("upt_jax-*.whl"))
    venv = base / "venv"
    out = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], base, env)
    assert out.returncode == 0, out.stderr
    py = venv / "bin" / "python"
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    with open(os.path.join(purelib, "_upt_jax_test_deps.pth"), "w") as f:
        f.write(sysconfig.get_paths()["purelib"] + "\n")
    out = _run(pip + ["--python", str(py), "install", "-q", "--no-deps", "--no-index", str(wheel)], base, env)
    assert out.returncode == 0, out.stdout + out.stderr
    work = base / "work"  # commands run here: no source tree in sight
    work.mkdir()
    env["JAX_PLATFORMS"] = "cpu"
    return {"bin": venv / "bin", "py": py, "work": work, "env": env, "purelib": purelib}


def test_installed_package_runs_every_command(installed):
    b, work, env = installed["bin"], installed["work"], installed["env"]
    out = _run([str(installed["py"]), "-c", "import upt_jax; print(upt_jax.__file__)"], work, env)
    assert out.returncode == 0 and out.stdout.strip().startswith(installed["purelib"]), out.stdout + out.stderr
    assert not out.stdout.strip().startswith(ROOT)

    # a small data folder and a study file beside it, outside the repository
    ds = synthetic_data(K=8, N=96, d=8, seed=3)
    data.save_portable(ds, str(work / "mini"))
    (work / "study.py").write_text(SWEEP_CONFIG)

    upt = str(b / "upt")
    jobs = {
        "help": [upt, "--help"],
        "version": [str(installed["py"]), "-m", "upt_jax", "--version"],
        **{f"help:{m}": [upt, cli.command_name(m), "--help"] for m in cli.SUBCOMMANDS},
        "classify": [upt, "--no-compile-cache", "classify", "--data", "mini", "--clusters", "12", "--solver", "sinkhorn",
                     "--kmeans-restarts", "2", "--lam", "0.5", "--json", "classify.json"],
        "sweep": [upt, "--no-compile-cache", "sweep", "study.py", "--out", "sweep-out", "--no-progress", "--cache", "centres"],
    }
    # the two that compute start first; the --help ones run beside them, two at a time
    order = ["classify", "sweep"] + [k for k in jobs if k not in ("classify", "sweep")]
    procs, results = {}, {}
    for name in order:
        while sum(p.poll() is None for p in procs.values()) >= 3:
            next(p for p in procs.values() if p.poll() is None).wait()
        procs[name] = subprocess.Popen(jobs[name], cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for name, p in procs.items():
        stdout, stderr = p.communicate(timeout=300)
        results[name] = (p.returncode, stdout, stderr)
    for name, (rc, stdout, stderr) in results.items():
        assert rc == 0, f"{name}: {stdout[-1500:]} {stderr[-3000:]}"
    assert "sweep" in results["help"][1] and "classify" in results["help"][1]
    assert results["version"][1].strip() == f"upt_jax {upt_jax.__version__}"
    for m in cli.SUBCOMMANDS:
        assert f"usage: upt {cli.command_name(m)}" in results[f"help:{m}"][1], m

    # classify: the baseline equals the zero-shot accuracy of the raw prototypes
    res = json.loads((work / "classify.json").read_text())
    base = upt_jax.evaluate(ds.prototypes, ds.videos, ds.labels)
    assert res["baseline"]["top1"] == pytest.approx(float(base.top1), abs=1e-3)
    assert res["n_videos"] == 96 and res["n_classes"] == 8

    # sweep: 2 splits x 2 lams from 2 transports; the installed code has no git revision
    assert "4 rows computed from 2 transports" in results["sweep"][1]
    rows = [json.loads(line) for line in (work / "sweep-out" / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and {r["code_version"] for r in rows} == {upt_jax.__version__}
    assert {r["dataset"] for r in rows} == {str(work / "mini")}
    lam0 = {r["split"]: r["top1"] for r in rows if r["lam"] == 0.0}
    from upt_jax import protocols

    splits = protocols.from_spec("half:2", ds.labels, 8, ds.class_names)
    for s, name in enumerate(splits.names):
        want = upt_jax.evaluate(ds.prototypes, ds.videos, ds.labels, class_mask=splits.class_mask[s],
                                video_mask=splits.video_mask[s])
        assert lam0[name] == pytest.approx(float(want.top1), abs=1e-3)
    assert np.isfinite([r["top1"] for r in rows]).all()
