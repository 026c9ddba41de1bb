"""`upt export/validate/localize/import-detections/run --task localization`
end to end on tiny folders."""

import json
import os

import numpy as np
import pytest

from tests.test_localization_data import write_iccv
from tests.test_localization_pipeline import CFG, CLEAN_OPTS, CLI_OPTS, THR, loc, pad_like, worlds
from upt_jax.cli import main
from upt_jax.localization import data as D

KEYS = {"map", "map_at_0.5", "map_mean", "classification_top1", "ap_at_0.5_per_class", "n_videos", "n_actions", "objects_per_action"}


def test_export_validate_localize(tmp_path, capsys):
    """``upt localize`` on an exported world prints and writes what the
    compiled program computes (the program of the pipeline tests: the same
    options, the same world, so no new compilation)."""
    import argparse

    from upt_jax.cli import _localization as CL
    from upt_jax.cli.localize import register

    d = tmp_path / "world"
    assert main(["--no-compile-cache", "export", *CLEAN_OPTS, "--out", str(d)]) == 0
    assert "wrote localization folder" in capsys.readouterr().out
    assert main(["--no-compile-cache", "validate", str(d)]) == 0
    assert capsys.readouterr().out.startswith("OK: localization, 10 actions, 80 objects, 12 videos")
    out = tmp_path / "res.json"
    opts = [*CLI_OPTS, "--lam", "0.5", "--iou-weight", "0.8", "--max-dist", "30"]
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    assert CL.config_from_args(parser.parse_args(["localize", "--data", str(d), *opts]))[0] == CFG  # the tests' program
    assert main(["--no-compile-cache", "localize", "--data", str(d), "--json", str(out), "--out", str(tmp_path / "t"), *opts]) == 0
    printed = capsys.readouterr().out
    assert "| baseline (2 object(s) per action)" in printed and "mAP@0.5" in printed
    res = json.loads(out.read_text())
    assert KEYS <= set(res) and KEYS <= set(res["baseline"])
    assert list(res["map"]) == [f"{t:g}" for t in THR] == ["0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8"]
    assert res["map_at_0.5"] == res["map"]["0.5"] and res["n_videos"] == 12 and res["n_actions"] == 10
    assert res["map_mean"] == pytest.approx(np.mean(list(res["map"].values())))
    assert res["config"]["lam"] == 0.5 and res["config"]["tubes"] == 3
    assert set(res["objects_per_action"]) == set(res["ap_at_0.5_per_class"])
    # the numbers are those of the library on the same world (baseline = lam 0)
    clean, x = worlds()[1]
    for key, r in zip(("baseline", None), loc(x, 0.5, iou_weight=0.8, max_dist=30.0)):
        got = res[key] if key else res
        np.testing.assert_array_equal(list(got["map"].values()), np.asarray(r.metrics.map, np.float64))
        assert got["classification_top1"] == float(r.metrics.top1)
        assert list(got["objects_per_action"].values()) == [[clean.object_names[o] for o in row] for row in r.object_indices]
    meta = json.loads((d / "meta.json").read_text())
    v = meta["videos"][0]
    z = np.load(tmp_path / "t" / "tubes" / (v["name"] + ".npz"))
    assert z["boxes"].shape[:2] == (10, 3) and z["boxes"].shape[-1] == 5 and z["scores"].shape == (10, 3)
    assert res["diagnostics"]["converged"] and res["diagnostics"]["n_classes"] == 10  # summarize_diagnostics names
    assert {"transport_iterations", "frechet_not_converged_classes", "empty_row_classes", "objects_with_mass"} <= set(res["diagnostics"])
    assert main(["--no-compile-cache", "localize", "--data", str(tmp_path), "--json", str(out)]) == 2
    assert "not a localization folder" in capsys.readouterr().err


def test_run_task_localization(tmp_path, capsys):
    """``upt run --task localization`` (Sinkhorn, the default solver); an
    unreachable tolerance (traced: the same compiled program) stops Sinkhorn
    at its cap: one warning line naming it; --strict makes it exit 3."""
    out = tmp_path / "run"
    cmd = ["--no-compile-cache", "run", "--task", "localization", *CLEAN_OPTS, "--tubes", "2", "--out", str(out)]
    assert main(cmd) == 0
    printed = capsys.readouterr().out
    for row in ("| actor only", "| + objects (top-1)", "| + objects + UPT (lam=0.5)"):
        assert row in printed
    res = json.loads((out / "results.json").read_text())
    assert set(res["rows"]) == {"actor", "objects", "objects+upt"}
    assert os.path.getsize(out / "map_vs_iou.png") > 1000 and os.path.getsize(out / "tubes_example.png") > 1000
    assert res["rows"]["objects"]["map_mean"] > res["rows"]["actor"]["map_mean"]  # clean world: objects help
    assert res["diagnostics"]["transport_converged"] is True
    capped = cmd + ["--threshold", "1e-12", "--no-plots"]
    assert main(capped) == 0
    assert "upt run: warning: UPT did not converge: transport stopped after 2000 Sinkhorn iterations" in capsys.readouterr().err
    assert json.loads((out / "results.json").read_text())["diagnostics"]["transport_converged"] is False
    assert main(capped + ["--strict"]) == 3
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
    # localized by the no-transport program of the pipeline tests (the folder padded to their shape)
    data = D.load_localization(d)
    _, r = loc(pad_like(data, worlds()[1][1]), 0.5, config=CFG.replace(object_transport="none"))
    diving = data.action_names.index("diving")
    assert len(data.videos) == 2 and int(r.metrics.n_gt[diving]) == 1 and int(r.metrics.n_gt.sum()) == 1
    # video 1 (diving) has ground truth in frames 0 and 2; its best tube follows the actor (not the box at x 100)
    # through frames 0-2: ST-IoU = 2/3 (frames) x 1 (boxes), so AP 100 for diving up to delta 0.6 and 0 above
    assert r.tubes[0, diving, 0, :3].tolist() == [0, 0, 0]
    assert float(r.metrics.best_st_iou[0]) == pytest.approx(2 / 3, rel=1e-6)
    np.testing.assert_array_equal(r.metrics.ap[:, diving], [100.0 if t < 2 / 3 else 0.0 for t in THR])
