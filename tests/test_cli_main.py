"""The ``upt`` dispatcher: lazy sub-commands, the error policy, --debug,
``python -m upt_jax``, and the run records (environment, JSON files)."""

import json
import os
import subprocess
import sys

import pytest

import upt_jax
from upt_jax import cli, records
from upt_jax.errors import DataError, MissingDependencyError, UPTError

HEAVY = ("ott", "flax", "optax", "matplotlib", "ot", "sklearn", "tqdm", "sentence_transformers", "torch")

PROBE = """
import json, sys
from upt_jax.cli import build_parser, SUBCOMMANDS
p = build_parser({command!r})
help_text = p.format_help()
mods = sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r} or m.startswith(('upt_jax.cli.', 'upt_jax.sweep', 'upt_jax.world', 'upt_jax.models', 'upt_jax.objects')))
print(json.dumps({{"modules": mods, "help": help_text}}))
"""


def _probe(command):
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(command=command, heavy=HEAVY)],
        capture_output=True, text=True, timeout=120, check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.fast
def test_building_the_parser_imports_no_subcommand():
    res = _probe(None)
    assert res["modules"] == [], res["modules"]
    for module in cli.SUBCOMMANDS:
        assert cli.command_name(module) in res["help"], module
    # one command's parser imports that command's module only, and nothing heavy for sweep
    res = _probe("sweep")
    assert "upt_jax.cli.sweep" in res["modules"]
    assert not [m for m in res["modules"] if m.startswith("upt_jax.cli.") and m != "upt_jax.cli.sweep"]
    assert not [m for m in res["modules"] if m.split(".")[0] in HEAVY], res["modules"]


def _fake_broken(monkeypatch, broken: str):
    real = cli.importlib.import_module

    def import_module(name, *a, **k):
        if name == f"upt_jax.cli.{broken}":
            raise ModuleNotFoundError("No module named 'fancy_dependency'", name="fancy_dependency")
        return real(name, *a, **k)

    monkeypatch.setattr(cli.importlib, "import_module", import_module)


def test_a_broken_subcommand_fails_alone(monkeypatch, capsys, tmp_path):
    _fake_broken(monkeypatch, "export")
    assert cli.main(["export", "--help"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("upt export: error: this command cannot be loaded")
    assert "fancy_dependency" in err[0]
    with pytest.raises(SystemExit) as ex:  # the listing still works and still names it
        cli.main(["--help"])
    assert ex.value.code == 0 and "export" in capsys.readouterr().out
    # another command runs
    from upt_jax import data
    from upt_jax.sweep import synthetic_data

    data.save_portable(synthetic_data(K=4, N=12, d=3), str(tmp_path / "d"))
    assert cli.main(["validate", str(tmp_path / "d")]) == 0
    assert capsys.readouterr().out.startswith("OK")


@pytest.mark.fast
def test_user_errors_are_one_line_and_bugs_keep_their_traceback(capsys, monkeypatch):
    monkeypatch.delenv("UPT_DEBUG", raising=False)

    def fail(err):
        def fn():
            raise err

        return fn

    for err in (UPTError("bad --x: shape [3]\nuse [4]"), DataError("meta.json: missing"),
                MissingDependencyError("pip install 'upt_jax[emd]'"), FileNotFoundError(2, "No such file", "a.npy")):
        assert cli.run_command("demo", fail(err)) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("upt demo: error: "), lines
    with pytest.raises(ValueError, match="internal"):  # not a user error: the traceback is the report
        cli.run_command("demo", fail(ValueError("internal bug")))
    with pytest.raises(RuntimeError):
        cli.run_command("demo", fail(RuntimeError("boom")))
    assert cli.run_command("demo", fail(UPTError("bad")), debug=True) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and err.strip().endswith("upt demo: error: bad")
    monkeypatch.setenv("UPT_DEBUG", "1")
    assert cli.run_command("demo", fail(UPTError("bad"))) == 2
    assert "Traceback" in capsys.readouterr().err
    assert cli.run_command("demo", fail(KeyboardInterrupt())) == 130


@pytest.mark.fast
def test_debug_flag_through_main(capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("UPT_DEBUG", raising=False)
    missing = str(tmp_path / "missing.py")
    assert cli.main(["--no-compile-cache", "sweep", missing]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("upt sweep: error: study config") and "no such file" in err
    assert cli.main(["--debug", "--no-compile-cache", "sweep", missing]) == 2
    assert "Traceback (most recent call last)" in capsys.readouterr().err


@pytest.mark.fast
def test_json_option_naming_a_folder_is_refused_before_any_work(capsys, tmp_path):
    (tmp_path / "d").mkdir()
    code = cli.main(["--no-compile-cache", "transport", "--prototypes", str(tmp_path / "P.npy"), "--videos",
                     str(tmp_path / "V.npy"), "--out", str(tmp_path / "T.npy"), "--json", str(tmp_path / "d")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "is a folder, not a file" in err[0] and "results.json" in err[0]
    assert os.listdir(tmp_path / "d") == [] and sorted(os.listdir(tmp_path)) == ["d"]


@pytest.mark.fast
def test_python_dash_m_upt_jax(tmp_path):
    out = subprocess.run([sys.executable, "-m", "upt_jax", "--help"], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0 and "usage: python -m upt_jax" in out.stdout and "sweep" in out.stdout
    out = subprocess.run([sys.executable, "-m", "upt_jax", "--version"], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == f"upt_jax {upt_jax.__version__}"


@pytest.mark.fast
def test_write_json_to_a_folder_is_a_clear_error_and_leaves_nothing(tmp_path, monkeypatch):
    folder = tmp_path / "out"
    folder.mkdir()
    with pytest.raises(UPTError, match=f"{folder} is a folder, not a file.*results.json"):
        records.write_json(str(folder), {"a": 1})
    assert os.listdir(folder) == []
    # a failure while replacing the file leaves no temporary file behind
    path = tmp_path / "r.json"

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(records.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        records.write_json(str(path), {"a": 1})
    assert sorted(os.listdir(tmp_path)) == ["out"]
    monkeypatch.undo()
    import numpy as np

    records.write_json(str(path), {"x": np.float32(0.5), "v": np.arange(3), "n": np.int64(2)})
    assert json.loads(path.read_text()) == {"x": 0.5, "v": [0, 1, 2], "n": 2}


@pytest.mark.fast
def test_environment_and_code_version():
    env = records.environment()
    for k in ("upt_jax_version", "code_version", "jax_version", "ott_version", "numpy_version", "python_version",
              "platform", "device_kind", "n_devices", "n_processes"):
        assert k in env, k
    import jax

    assert env["jax_version"] == jax.__version__ and env["n_devices"] == len(jax.devices())
    code = records.code_version()
    assert code.startswith(upt_jax.__version__)
    root = os.path.dirname(os.path.dirname(upt_jax.__file__))
    if os.path.exists(os.path.join(root, ".git")):
        head = subprocess.run(["git", "-C", root, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
        assert code.startswith(f"{upt_jax.__version__}+g{head[:12]}")
        assert records.git_revision() == head[:12]
