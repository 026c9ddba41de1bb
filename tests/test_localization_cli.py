"""`upt export/validate/localize/import-detections/run --task localization`
end to end on tiny folders."""

import json
import os

import numpy as np
import pytest

from tests.test_localization_data import write_iccv
from upt_jax.cli import main

WORLD = ["--world", "ucf-sports", "--preset", "clean", "--n-videos", "6", "--n-frames", "8"]
KEYS = {"map", "map_at_0.5", "map_mean", "classification_top1", "ap_at_0.5_per_class", "n_videos", "n_actions", "objects_per_action"}


def test_export_validate_localize(tmp_path, capsys):
    d = tmp_path / "world"
    assert main(["--no-compile-cache", "export", *WORLD, "--out", str(d)]) == 0
    assert "wrote localization folder" in capsys.readouterr().out
    assert main(["--no-compile-cache", "validate", str(d)]) == 0
    assert capsys.readouterr().out.startswith("OK: localization, 10 actions, 80 objects, 6 videos")
    out = tmp_path / "res.json"
    assert main(["--no-compile-cache", "localize", "--data", str(d), "--json", str(out), "--out", str(tmp_path / "t"),
                 "--tubes", "2", "--lam", "0.5"]) == 0
    printed = capsys.readouterr().out
    assert "| baseline (1 object(s) per action)" in printed and "mAP@0.5" in printed
    res = json.loads(out.read_text())
    assert KEYS <= set(res) and KEYS <= set(res["baseline"])
    assert list(res["map"]) == ["0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8"]
    assert res["map_at_0.5"] == res["map"]["0.5"] and res["n_videos"] == 6 and res["n_actions"] == 10
    assert res["map_mean"] == pytest.approx(np.mean(list(res["map"].values())))
    assert res["config"]["lam"] == 0.5 and res["config"]["tubes"] == 2
    assert set(res["objects_per_action"]) == set(res["ap_at_0.5_per_class"])
    meta = json.loads((d / "meta.json").read_text())
    v = meta["videos"][0]
    z = np.load(tmp_path / "t" / "tubes" / (v["name"] + ".npz"))
    assert z["boxes"].shape[:2] == (10, 2) and z["boxes"].shape[-1] == 5 and z["scores"].shape == (10, 2)
    assert res["diagnostics"]["converged"] and res["diagnostics"]["n_classes"] == 10  # summarize_diagnostics names
    assert {"transport_iterations", "frechet_not_converged_classes", "empty_row_classes", "objects_with_mass"} <= set(res["diagnostics"])
    assert main(["--no-compile-cache", "localize", "--data", str(tmp_path), "--json", str(out)]) == 2
    assert "not a localization folder" in capsys.readouterr().err
    # an unreachable tolerance (traced: the same compiled program) stops Sinkhorn at its cap: one warning
    # line naming it; --strict makes it exit 3
    capped = ["--no-compile-cache", "localize", "--data", str(d), "--tubes", "2", "--threshold", "1e-12", "--json", str(out)]
    assert main(capped) == 0
    assert "upt localize: warning: UPT did not converge: transport stopped after 2000 Sinkhorn iterations" in capsys.readouterr().err
    assert json.loads(out.read_text())["diagnostics"]["transport_converged"] is False
    assert main(capped + ["--strict"]) == 3


def test_run_task_localization(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["--no-compile-cache", "run", "--task", "localization", *WORLD, "--tubes", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    for row in ("| actor only", "| + objects (top-1)", "| + objects + UPT (lam=0.5)"):
        assert row in printed
    res = json.loads((out / "results.json").read_text())
    assert set(res["rows"]) == {"actor", "objects", "objects+upt"}
    assert os.path.getsize(out / "map_vs_iou.png") > 1000 and os.path.getsize(out / "tubes_example.png") > 1000
    assert res["rows"]["objects"]["map_mean"] > res["rows"]["actor"]["map_mean"]  # clean world: objects help
    assert main(["--no-compile-cache", "run", "--world", "jhmdb"]) == 2
    assert "add --task localization" in capsys.readouterr().err


def test_import_detections_then_localize(tmp_path, capsys):
    names, gt = write_iccv(tmp_path / "dets")
    (tmp_path / "videos.txt").write_text("\n".join(names) + "\n")
    d = tmp_path / "imported"
    assert main(["--no-compile-cache", "import-detections", "--detections", str(tmp_path / "dets"), "--dataset", "ucf-sports", "--videos",
                 str(tmp_path / "videos.txt"), "--gt", str(gt), "--out", str(d)]) == 0
    assert "2 videos (1 with ground truth)" in capsys.readouterr().out
    assert main(["--no-compile-cache", "validate", str(d)]) == 0
    capsys.readouterr()
    out = tmp_path / "r.json"
    assert main(["--no-compile-cache", "localize", "--data", str(d), "--object-transport", "none", "--tubes", "1",
                 "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    # video 1 (diving) has ground truth; its single tube follows the actor: AP 100 for diving at every threshold
    assert res["ap_at_0.5_per_class"]["diving"] == pytest.approx(100.0)
    assert res["n_videos"] == 2
