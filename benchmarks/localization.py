"""Speed of zero-shot localization (scoring + linking + video-mAP): upt_jax vs
a straightforward NumPy reference with Python loops (as the ICCV 2017 code).

    python -m benchmarks.localization [--world ucf101-24] [--preset default] [--reps 3] [--reference-videos 46]

Data: the simulated UCF-101-24 world (914 test videos, about 180 frames, at
most 10 person and 30 object boxes per frame, 24 actions, 80 objects).
Ours: ``jax.jit(make_localize(LocalizationConfig(object_transport="none")))``
(top-1 object, 5 tubes, IoU weight 1, max gap 25 px): compile time from
``.lower().compile()``, then the median of ``--reps`` runs; the UPT variant
(``object_transport="paper"``, lam = 0.5, Sinkhorn) is timed too.
Reference (``benchmarks/localization_reference.py``): the same steps with
Python loops over actions, videos, frames and boxes. It takes about an hour
on the whole world, so by default it runs on an evenly spread subset of
``--reference-videos`` videos; its time is scaled to all videos (it is linear
in the number of videos) and the results are compared with ours ON THAT
SUBSET (tube scores, AP per class and threshold, mAP, top-1).
``--reference-videos 0`` runs it on every video.

Results: ``benchmarks/results/localization.{md,json}``.

``--compile-breakdown`` also times, each in its own ``jax.jit``, the
lowering (Python tracing) and XLA compilation of the parts of a transport
config: ``api.transport_update`` alone (Sinkhorn and EMD, actions -> the 80
objects), scoring, linking and evaluation alone, and the whole of both
configs. ``--grid`` times one sweep call (``localize_grid``: lam 0.5 x top-n
{0, 1, 2, 3} x IoU weight {0.5, 1, 2}, as ``experiments/configs/localization.py``
runs it) and reports the time per grid point.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import jax
import numpy as np

from benchmarks.localization_reference import reference
from upt_jax.cli._common import environment, markdown_table
from upt_jax.localization import LocalizationConfig, LocalizationHyper, make_localize
from upt_jax.localization import data as D
from upt_jax.localization import world as W

RESULTS = os.path.join(os.path.dirname(__file__), "results")


def _time_jax(inputs, cfg, hp, reps):
    run = jax.jit(make_localize(cfg))
    t0 = time.perf_counter()
    compiled = run.lower(inputs, hp).compile()
    t_compile = time.perf_counter() - t0
    times, cpu, res = [], [], None
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        res = jax.block_until_ready(compiled(inputs, hp))
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return t_compile, float(np.median(times)), res, float(np.median(cpu))


def _lower_compile(f, *args):
    """(lowering s, compile s, CPU s) of ``jax.jit(f)`` for these arguments."""
    c0, t0 = time.process_time(), time.perf_counter()
    lowered = jax.jit(f).lower(*args)
    t1 = time.perf_counter()
    lowered.compile()
    return t1 - t0, time.perf_counter() - t1, time.process_time() - c0


def compile_breakdown(inputs, reps: int = 1) -> list[dict]:
    """Lowering and compile times of the parts of a localization program (fresh jit each)."""
    import jax.numpy as jnp

    from upt_jax.localization import evaluate as E
    from upt_jax.localization import pipeline as PL
    from upt_jax.localization import upt as U

    x = inputs
    v, t, p, _ = x.person_boxes.shape
    n_a, n_o = x.prototypes.shape[0], x.object_prototypes.shape[0]
    cfg = LocalizationConfig()
    hp = LocalizationHyper(lam=np.float32(0.5), iou_weight=np.float32(1.0), max_dist=np.float32(25.0), epsilon=np.float32(1e-2))
    mass = np.full(n_o, 1.0 / n_o, np.float32)
    video = (x.person_boxes, x.person_scores, x.person_mask, x.object_boxes, x.object_labels, x.object_scores, x.object_mask)
    dense = np.zeros((n_o, n_a), np.float32)
    scores = np.zeros((v, n_a, t, p), np.float32)
    tsc = np.zeros((v, n_a, cfg.tubes), np.float32)
    ov = np.zeros((v, cfg.tubes, x.gt_boxes.shape[1]), np.float32)
    parts = [
        ("transport_update, Sinkhorn (actions -> objects)",
         lambda a, o, m: U.transport_actions(a, o, m, cfg.upt_config(), hp.upt_hyper()), (x.prototypes, x.object_prototypes, mass)),
        ("transport_update, EMD", lambda a, o, m: U.transport_actions(a, o, m, cfg.replace(solver="emd").upt_config(), hp.upt_hyper()),
         (x.prototypes, x.object_prototypes, mass)),
        ("scoring (all videos)", lambda vid: PL.batched_map(lambda vv: PL.video_scores(vv, dense, jnp.asarray(x.priors), cfg, 25.0),
                                                            vid, cfg.video_batch), (video,)),
        ("linking (all videos)", lambda s_, pb, pm: jax.vmap(lambda a, b, c: PL.link_video(a, b, c, cfg, 1.0))(s_, pb, pm),
         (scores, x.person_boxes, x.person_mask)),
        ("evaluation (video-mAP, top-1)", lambda ts, o: E.video_map(ts, o, x.gt_tube_mask, x.labels, x.video_mask, cfg.thresholds),
         (tsc, ov)),
        ("whole: object_transport='none'", make_localize(cfg.replace(object_transport="none")), (x, hp)),
        ("whole: object_transport='paper' (Sinkhorn)", make_localize(cfg), (x, hp)),
    ]
    out = []
    for name, f, args in parts:
        lower, comp, cpu = _lower_compile(f, *args)
        out.append({"part": name, "lowering_s": lower, "compile_s": comp, "cpu_s": cpu})
        print(f"  {name}: lowering {lower:.2f} s, compile {comp:.2f} s ({cpu:.2f} CPU s)", flush=True)
    return out


def time_grid(inputs, reps: int) -> dict:
    """One sweep call of the localization study on these inputs."""
    from upt_jax.localization.pipeline import LocalizationGrid, localize_grid

    grid = LocalizationGrid(lam=np.array([0.5], np.float32), top_objects=np.arange(4, dtype=np.int32),
                            iou_weight=np.array([0.5, 1.0, 2.0], np.float32), max_dist=np.array([25.0], np.float32),
                            epsilon=np.float32(1e-2))
    cfg = LocalizationConfig(top_objects=3, video_batch=max(1, 256 // 12))
    run = jax.jit(localize_grid, static_argnames="config")
    t0 = time.perf_counter()
    compiled = run.lower(inputs, cfg, grid).compile()
    t_compile = time.perf_counter() - t0
    times, cpu = [], []
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        res = jax.block_until_ready(compiled(inputs, grid))
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    n = 12
    return {"points": n, "compile_s": t_compile, "run_s": float(np.median(times)), "run_cpu_s": float(np.median(cpu)),
            "per_point_s": float(np.median(times)) / n, "per_point_cpu_s": float(np.median(cpu)) / n,
            "map_mean": np.asarray(res.map).mean(-1).reshape(-1).tolist()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--world", default="ucf101-24", choices=W.DATASETS)
    ap.add_argument("--preset", default="default", choices=sorted(W.PRESETS))
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--reference-videos", type=int, default=46, help="videos the reference runs on (0 = all)")
    ap.add_argument("--out", default=RESULTS)
    ap.add_argument("--compile-breakdown", action="store_true", help="also time lowering/compilation of each part")
    ap.add_argument("--grid", action="store_true", help="also time one sweep call (localize_grid, 12 grid points)")
    ap.add_argument("--skip-reference", action="store_true", help="skip the NumPy reference (and the subset check)")
    args = ap.parse_args(argv)
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    data = W.generate_world(W.make_world_config(args.world, args.preset), progress=True)
    t_gen = time.perf_counter() - t0
    inputs = D.to_inputs(data)
    v, t, p, _ = inputs.person_boxes.shape
    q = inputs.object_boxes.shape[2]
    print(f"{args.world} ({args.preset}): {v} videos, up to {t} frames, {p} person / {q} object boxes per frame, "
          f"{len(data.action_names)} actions (generated in {t_gen:.1f} s)")
    cfg = LocalizationConfig(object_transport="none")
    hp = LocalizationHyper(lam=np.float32(0.0), iou_weight=np.float32(1.0), max_dist=np.float32(25.0))
    c_ours, r_ours, res, cpu_ours = _time_jax(inputs, cfg, hp, args.reps)
    print(f"ours: compile {c_ours:.1f} s, run {r_ours:.2f} s ({cpu_ours:.2f} CPU s; median of {args.reps}); "
          f"mAP@0.5 {float(res.metrics.map[4]):.2f}")
    c_upt, r_upt, res_upt, cpu_upt = _time_jax(inputs, LocalizationConfig(), hp._replace(lam=np.float32(0.5)), args.reps)
    print(f"ours + UPT: compile {c_upt:.1f} s, run {r_upt:.2f} s ({cpu_upt:.2f} CPU s); mAP@0.5 {float(res_upt.metrics.map[4]):.2f}")

    row = {
        "world": args.world, "preset": args.preset, "videos": v, "frames_max": t, "persons_max": p, "objects_max": q,
        "actions": len(data.action_names),
        "ours_compile_s": c_ours, "ours_run_s": r_ours, "ours_run_cpu_s": cpu_ours, "ours_upt_compile_s": c_upt,
        "ours_upt_run_s": r_upt, "ours_upt_run_cpu_s": cpu_upt,
        "ours_map": np.asarray(res.metrics.map).tolist(), "ours_top1": float(res.metrics.top1),
        "ours_upt_map": np.asarray(res_upt.metrics.map).tolist(), "ours_upt_top1": float(res_upt.metrics.top1),
    }
    header = ["what", "wall s", "CPU s", "mAP@0.5", "mean mAP", "top-1 %"]
    body = [
        ["ours: compile (scoring + linking + evaluation)", c_ours, "", "", "", ""],
        [f"ours: run, all {v} videos", r_ours, cpu_ours, row["ours_map"][4], float(np.mean(row["ours_map"])), row["ours_top1"]],
        ["ours + UPT (lam 0.5): compile", c_upt, "", "", "", ""],
        [f"ours + UPT (lam 0.5): run, all {v} videos", r_upt, cpu_upt, row["ours_upt_map"][4], float(np.mean(row["ours_upt_map"])),
         row["ours_upt_top1"]],
    ]
    notes = []
    if args.grid:
        print("one sweep call (localize_grid, 12 grid points) ...", flush=True)
        g = time_grid(inputs, args.reps)
        row["grid"] = g
        body += [["sweep call (localize_grid, 12 points): compile", g["compile_s"], "", "", "", ""],
                 [f"sweep call: run, all {v} videos x 12 points", g["run_s"], g["run_cpu_s"], "", "", ""]]
        notes.append(f"sweep call: {g['per_point_s']:.2f} s ({g['per_point_cpu_s']:.2f} CPU s) per grid point")
    if not args.skip_reference:
        n_ref = len(data.videos) if args.reference_videos in (0, None) else min(args.reference_videos, len(data.videos))
        pick = np.unique(np.linspace(0, len(data.videos) - 1, n_ref).round().astype(int))
        sub = D.LocalizationData(data.name, data.action_names, data.object_names, data.action_prototypes,
                                 data.object_prototypes, data.priors, [data.videos[i] for i in pick], data.meta)
        from tqdm import tqdm

        bar = tqdm(total=len(pick), desc="NumPy reference", unit="video")
        t0, c0 = time.perf_counter(), time.process_time()
        ref = reference(sub, progress=lambda _: bar.update(1))
        t_ref, cpu_ref = time.perf_counter() - t0, time.process_time() - c0
        bar.close()
        t_ref_all = t_ref * len(data.videos) / len(pick)
        sub_inputs = D.to_inputs(sub, n_frames=t, max_persons=p, max_objects=q)
        _, _, res_sub, _ = _time_jax(sub_inputs, cfg, hp, 1)
        same_ap = np.allclose(np.nan_to_num(np.asarray(res_sub.metrics.ap), nan=-1), np.nan_to_num(ref["ap"], nan=-1), atol=1e-3)
        max_score_diff = float(np.max(np.abs(np.asarray(res_sub.tube_scores) - ref["tube_scores"])))
        row.update({
            "reference_cpu_s": cpu_ref, "reference_videos": int(len(pick)), "reference_s": t_ref,
            "reference_all_videos_s": t_ref_all, "speedup": t_ref_all / r_ours, "speedup_cpu": cpu_ref * len(data.videos) / len(pick) / cpu_ours,
            "subset_map_ours": np.asarray(res_sub.metrics.map).tolist(), "subset_map_reference": ref["map"].tolist(),
            "subset_top1_ours": float(res_sub.metrics.top1), "subset_top1_reference": ref["top1"],
            "subset_same_ap": bool(same_ap), "subset_max_tube_score_diff": max_score_diff,
        })
        body += [
            [f"NumPy reference: {len(pick)} videos", t_ref, cpu_ref, row["subset_map_reference"][4],
             float(np.mean(row["subset_map_reference"])), ref["top1"]],
            [f"ours on the same {len(pick)} videos", "", "", row["subset_map_ours"][4], float(np.mean(row["subset_map_ours"])),
             row["subset_top1_ours"]],
            [f"NumPy reference: scaled to {v} videos", t_ref_all, cpu_ref * len(data.videos) / len(pick), "", "", ""],
        ]
        notes.append(f"speed-up (reference scaled to all videos / ours run): {row['speedup']:.0f}x in wall time, "
                     f"{row['speedup_cpu']:.0f}x in CPU time; identical AP on the subset: {same_ap} (largest tube-score "
                     f"difference {max_score_diff:.2e})")
    if args.compile_breakdown:
        print("compile breakdown (fresh jit each) ...", flush=True)
        row["compile_breakdown"] = compile_breakdown(inputs)
    row.update({"load_average_at_start": load, "load_average_at_end": os.getloadavg()[0], "environment": environment()})
    table = markdown_table(header, body, floatfmt=".2f")
    notes.append(f"load average {load:.1f} at start, {row['load_average_at_end']:.1f} at end (2-core machine)")
    text = f"{table}\n\n" + "; ".join(notes) + "\n"
    if args.compile_breakdown:
        text += "\n" + markdown_table(["part (own jax.jit)", "lowering s", "compile s", "CPU s"],
                                      [[b["part"], b["lowering_s"], b["compile_s"], b["cpu_s"]] for b in row["compile_breakdown"]],
                                      floatfmt=".2f") + "\n"
    print("\n" + text)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "localization.json"), "w") as f:
        json.dump(row, f, indent=1)
    with open(os.path.join(args.out, "localization.md"), "w") as f:
        f.write(f"# Localization benchmark ({args.world}, {args.preset})\n\n`python -m benchmarks.localization "
                f"{' '.join(argv or __import__('sys').argv[1:])}`\n\n{text}")


if __name__ == "__main__":
    main()
