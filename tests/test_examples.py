"""The README's gradient example (examples/learn_prototypes.py) runs end to end on a tiny folder."""

import importlib.util
import json
import os

import numpy as np
import pytest

from tests.test_api import make_problem
from upt_jax import data

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _load_example():
    spec = importlib.util.spec_from_file_location("learn_prototypes", os.path.join(ROOT, "examples", "learn_prototypes.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_learn_prototypes_example(tmp_path, capsys):
    protos, vids, labels = make_problem(12, k=8, n=160, d=12)
    names = [f"Class{i}" for i in range(8)]
    ds = data.Dataset(name="toy", class_names=names, prototypes=protos, videos=vids, labels=labels.astype(np.int32),
                      video_names=[f"{names[c]}/v_{i}.avi" for i, c in enumerate(labels)])
    data.save_portable(ds, tmp_path / "toy")
    mod = _load_example()
    out = tmp_path / "res.json"
    assert mod.main(["--data", str(tmp_path / "toy"), "--clusters", "0", "--steps", "4", "--lr", "0.01",
                     "--json", str(out), "--no-progress"]) == 0
    res = json.loads(out.read_text())
    loss = np.asarray(res["loss"])
    assert loss.shape == (4,) and np.all(np.isfinite(loss))
    assert loss[-1] < loss[0]  # gradient steps on the seen split lower its loss
    assert 0 < res["lam"] < 1 and res["lam"] != pytest.approx(0.5, abs=1e-4) and res["shift_norm"] > 0
    for split in ("seen", "unseen"):
        row = res["top1"][split]
        assert row["transport_converged"] and all(0 <= row[k] <= 100 for k in ("baseline", "upt_lam_0.5", "upt_learned"))
    assert "| unseen (zero-shot) |" in capsys.readouterr().out
