"""Reports of a sweep: summary tables (mean and std over splits) and plots.

The spread over splits is the population standard deviation (``ddof = 0``,
``np.std``'s default), as Brattoli et al. report it for their random class
splits; every table says so.
"""

from __future__ import annotations

import os

import numpy as np

from upt_jax.records import atomic_write
from upt_jax.sweep.store import write_csv

__all__ = ["spread", "summary_table", "write_summary", "write_plots", "convergence_warnings", "STD_NOTE"]

STD_NOTE = "std over splits with ddof = 0 (np.std)"


def spread(values) -> tuple[float, float]:
    """``(mean, std)`` of values over splits, std with ``ddof = 0``
    (:func:`upt_jax.protocols.spread`, the project's one definition)."""
    from upt_jax.protocols import spread as _spread

    return _spread(values)


def _groups(rows: list[dict], by: tuple = ()) -> dict:
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        k = (r["dataset"], r["protocol"], r["static"], r["cfg_hash"], r["epsilon"], r["lam"], *(r.get(f) for f in by))
        groups.setdefault(k, []).append(r)
    return groups


DEFAULT_METRICS = ("top1", "unreachable", "top5", "mean_class_accuracy", "transport_iterations")


def summary_table(rows: list[dict], metrics: tuple = DEFAULT_METRICS, by: tuple = ()) -> list[dict]:
    """Mean and std (ddof = 0) over splits per (dataset, protocol, static, epsilon, lam).

    Args:
      rows: sweep rows.
      metrics: row fields to summarise.
      by: further row fields to group by and keep in the output (a task's
        own grid, e.g. the localization task's ``top_objects``).

    Returns:
      list of dicts with ``dataset, protocol, static, epsilon, lam, splits``,
      ``<metric>`` and ``<metric>_std`` for each metric, and ``converged``
      (the fraction of splits whose transport, Frechet means and rows all
      converged: the ``converged`` key of
      :func:`upt_jax.api.summarize_diagnostics`).
    """
    out = []
    order: dict[str, int] = {}  # static variants in the study's order
    for r in rows:
        order.setdefault(r["static"], len(order))
    items = sorted(
        _groups(rows, by).items(),
        key=lambda kv: (kv[0][0], kv[0][1], order[kv[0][2]], -1 if kv[0][4] is None else kv[0][4], kv[0][5],
                        *(repr(x) for x in kv[0][6:])),
    )
    for (ds, proto, static, _chash, eps, lam, *extra), rs in items:
        t = {"dataset": ds, "protocol": proto, "static": static, "epsilon": eps, "lam": lam, **dict(zip(by, extra)),
             "splits": len(rs)}
        for k in metrics:
            vals = [r[k] for r in rs if r.get(k) is not None]
            t[k], t[k + "_std"] = spread(vals) if vals else (float("nan"), float("nan"))
        t["converged"] = float(np.mean([bool(r.get("converged", r.get("transport_converged"))) for r in rs]))
        out.append(t)
    return out


def write_summary(out_dir: str, rows: list[dict], study=None, metrics: tuple = DEFAULT_METRICS) -> str:
    """``summary.md`` (one table per dataset and protocol) and ``summary.csv``.

    Returns:
      the Markdown text.
    """
    table = summary_table(rows, metrics)
    lines = [f"# Study `{study.name if study is not None else '?'}`", ""]
    if study is not None and study.description:
        lines += [study.description.strip(), ""]
    if rows:
        r0 = rows[-1]
        lines += [
            f"upt_jax {r0.get('code_version')}, jax {r0.get('jax_version')}, ott-jax {r0.get('ott_version')}, "
            f"device {r0.get('device_kind')} x{r0.get('n_devices')}; {len(rows)} rows. "
            f"Accuracies in percent, mean ± {STD_NOTE}.",
            "",
        ]
    key = None
    for t in table:
        k = (t["dataset"], t["protocol"])
        if k != key:
            key = k
            lines += [
                "",
                f"## {t['dataset']} / {t['protocol']}",
                "",
                "| static | epsilon | lam | splits | top-1 | top-5 | mean class acc | never predicted | converged | transport iters |",
                "|---|---|---|---|---|---|---|---|---|---|",
            ]
        eps = "-" if t["epsilon"] is None else f"{t['epsilon']:g}"
        lines.append(
            f"| {t['static']} | {eps} | {t['lam']:.2f} | {t['splits']} | {t['top1']:.2f} ± {t['top1_std']:.2f} | "
            f"{t['top5']:.2f} ± {t['top5_std']:.2f} | {t['mean_class_accuracy']:.2f} ± {t['mean_class_accuracy_std']:.2f} | "
            f"{t['unreachable']:.1f} ± {t['unreachable_std']:.1f} | {100 * t['converged']:.0f}% | "
            f"{t['transport_iterations']:.0f} |"
        )
    warnings = convergence_warnings(rows)
    if warnings:
        lines += ["", "## Convergence", "", f"{len(warnings)} transports did not converge (rows with converged = false):", ""]
        lines += [f"- {w}" for w in warnings[:20]]
        if len(warnings) > 20:
            lines.append(f"- ... {len(warnings) - 20} more in results.jsonl")
    text = "\n".join(lines) + "\n"
    atomic_write(os.path.join(out_dir, "summary.md"), text)
    if table:
        write_csv(os.path.join(out_dir, "summary.csv"), table)
    return text


def convergence_warnings(rows: list[dict]) -> list[str]:
    """One line per transport (dataset, split, static, epsilon) that did not
    converge: :func:`upt_jax.api.convergence_warning` of its first row."""
    from upt_jax.api import convergence_warning

    seen, out = set(), []
    for r in rows:
        key = (r.get("dataset"), r.get("split"), r.get("static"), r.get("epsilon"))
        if key in seen or r.get("converged", True):
            continue
        seen.add(key)
        w = convergence_warning(r)
        if w:
            eps = "" if r.get("epsilon") is None else f", eps {r['epsilon']:g}"
            out.append(f"{r.get('dataset')} / {r.get('split')} / {r.get('static')}{eps}: {w}")
    return out


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:120]


def write_plots(out_dir: str, rows: list[dict]) -> list[str]:
    """One PNG per (dataset, protocol) in ``out_dir/plots``: top-1 and
    never-predicted classes against the axis that varies (lam, else epsilon,
    else the static variant), mean with a +- std band over splits."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = summary_table(rows)
    os.makedirs(os.path.join(out_dir, "plots"), exist_ok=True)
    paths = []
    by_dp: dict[tuple, list[dict]] = {}
    for t in table:
        by_dp.setdefault((t["dataset"], t["protocol"]), []).append(t)
    for (ds, proto), ts in by_dp.items():
        lams = sorted({t["lam"] for t in ts})
        epss = sorted({t["epsilon"] for t in ts if t["epsilon"] is not None})
        xname = "lam" if len(lams) > 1 else ("epsilon" if len(epss) > 1 else "static")
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        for ax, metric, title in ((axes[0], "top1", "top-1 (%)"), (axes[1], "unreachable", "classes never predicted")):
            if xname == "static":
                ax.bar(range(len(ts)), [t[metric] for t in ts], yerr=[t[metric + "_std"] for t in ts], capsize=3)
                ax.set_xticks(range(len(ts)))
                ax.set_xticklabels([t["static"] for t in ts], rotation=30, ha="right", fontsize=7)
            else:
                lines: dict[str, list[dict]] = {}
                for t in ts:
                    if xname == "lam":
                        name = t["static"] + ("" if len(epss) <= 1 or t["epsilon"] is None else f", eps={t['epsilon']:g}")
                    else:
                        if t["epsilon"] is None:
                            continue
                        name = t["static"] + (f", lam={t['lam']:g}" if len(lams) > 1 else "")
                    lines.setdefault(name, []).append(t)
                for name, pts in lines.items():
                    pts = sorted(pts, key=lambda t: t[xname])
                    x = np.array([t[xname] for t in pts], float)
                    m = np.array([t[metric] for t in pts])
                    sd = np.array([t[metric + "_std"] for t in pts])
                    ax.plot(x, m, marker="o", ms=3, label=name)
                    ax.fill_between(x, m - sd, m + sd, alpha=0.2)
                if xname == "epsilon":  # EMD rows (no epsilon) as horizontal references
                    for t in ts:
                        if t["epsilon"] is None:
                            ax.axhline(t[metric], ls="--", color="k", lw=1, label=f"{t['static']} (exact)")
                    ax.set_xscale("log")
                ax.set_xlabel(xname)
                ax.legend(fontsize=7)
            ax.set_title(title)
            ax.grid(alpha=0.3)
        fig.suptitle(f"{ds} / {proto} (mean ± {STD_NOTE})", fontsize=9)
        fig.tight_layout()
        path = os.path.join(out_dir, "plots", f"{_safe(ds)}__{_safe(proto)}.png")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths
