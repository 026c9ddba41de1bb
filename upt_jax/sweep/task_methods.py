"""The ``methods`` task: UPT and the transductive comparators side by side in one sweep.

``Study(task="methods")`` runs any method of :data:`upt_jax.baselines.METHODS`
(``baseline``, ``upt``, ``csls``, ``inverted-softmax``, ``centre``,
``balanced``, ``refine``, ``refine-balanced`` and ``upt+<each>``) on every
dataset and split of the study. The method is a static choice, like every
UPT option::

    base={"n_clusters": 0, "solver": "sinkhorn"},
    static=[{"method": "baseline"}, {"method": "csls", "csls_k": 10},
            {"method": "inverted-softmax", "beta": 30.0}, {"method": "upt"},
            {"method": "upt+balanced"}, {"method": "upt", "tau_a": 0.9}],

The static config is a :class:`MethodsConfig`: a :class:`upt_jax.UPTConfig`
(UPT's options, used by the methods that run UPT) plus ``method``,
``csls_k``, ``beta`` and ``method_options`` (any other field of
:class:`upt_jax.baselines.MethodConfig` as a dict, e.g. ``{"prior":
"given"}``). One compilation per static choice.

Traced axes (the runner's): ``lam`` is UPT's fraction of the geodesic for
the methods that run UPT (methods without UPT give the same row for every
lam; use a one-value lam grid for them); ``epsilon`` is the Sinkhorn
regularisation of every transport the method solves: UPT's and the balanced
correction's (both on costs divided by their maximum). ``csls_k`` and
``beta`` are static here (one compilation per value).

A job solves UPT's transport and Frechet means ONCE (UPT-based methods),
then for every lam moves the prototypes (``slerp(prototype, target, lam)``)
and applies the method's correction to the moved prototypes' scores
(:func:`upt_jax.baselines.scores_for`): row for row the numbers of
:func:`upt_jax.baselines.make_method` with that lam on the same inputs
(``tests/test_sweep_methods.py``).

Class priors in a sweep. ``class_prior="given"`` (UPT's source masses) and
``method_options={"prior": "given"}`` (the balanced correction's class
masses) use the split's TRUE class frequencies, computed from the labels:
an oracle, for studies of imbalanced test sets (:func:`job_prior`);
``"estimated"`` uses no labels (:func:`upt_jax.api.source_prior`).

Row fields: those of the classification task (``top1``, ``top5``,
``mean_class_accuracy``, ``unreachable`` with ``unreachable_classes``,
``n_videos``, ``n_classes``; with UPT the keys of
:func:`upt_jax.api.summarize_diagnostics`) plus ``method``, ``csls_k``,
``beta``, ``gini`` (of the method's predicted-class counts), the bias
statistics of the baseline's scores on the split
(:func:`upt_jax.bias.bias_statistics`: ``baseline_offset_spread``,
``baseline_within_spread``, ``baseline_gini``,
``baseline_never_predicted``; the same for every method), ``method_converged`` and ``method_iterations`` (the balanced
correction's Sinkhorn; True / 0 without one), ``prior_l1_error`` (UPT's
source masses against the split's true class frequencies, L1) and
``converged`` (UPT's and the correction's transports).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from upt_jax.api import UPTConfig
from upt_jax.errors import UPTError
from upt_jax.sweep.tasks import Task, lighten_diagnostics, metric_fields, register_task, to_python

__all__ = ["MethodsConfig", "job_prior", "methods_job", "methods_rows"]


@dataclasses.dataclass(frozen=True)
class MethodsConfig(UPTConfig):
    """UPT's static config plus the method of the ``methods`` task (hashable).

    Attributes:
      method: a name of :data:`upt_jax.baselines.METHODS` (default ``"upt"``).
      csls_k: CSLS neighbourhood size (``--csls-k``, default 10).
      beta: inverse temperature of the inverted softmax (``--beta``, default 10).
      method_options: other :class:`upt_jax.baselines.MethodConfig` fields
        (a dict in the study file; stored as sorted ``(name, value)`` pairs).
      (every other field: :class:`upt_jax.UPTConfig`.)
    """

    method: str = "upt"
    csls_k: int = 10
    beta: float = 10.0
    method_options: tuple = ()

    def __post_init__(self):
        super().__post_init__()
        opts = self.method_options
        if isinstance(opts, dict):
            opts = tuple(sorted(opts.items()))
        object.__setattr__(self, "method_options", tuple((str(k), v) for k, v in opts))
        self.method_config()  # validates the name and the options now, with a clear message

    def method_config(self):
        """The :class:`upt_jax.baselines.MethodConfig` of this choice."""
        from upt_jax import baselines

        opts = dict(self.method_options)
        clash = sorted(set(opts) & {"csls_k", "beta", "upt", "correction", "name"})
        if clash:
            raise UPTError(
                f"MethodsConfig.method_options {clash}: set csls_k / beta as their own fields and the method by its "
                "name (method='upt+csls', ...)"
            )
        if "epsilon" in opts:
            raise UPTError(
                "MethodsConfig.method_options: 'epsilon' is the study's traced epsilon grid (UPT's and the balanced "
                "correction's Sinkhorn); set it with epsilon=[...] in the study"
            )
        return baselines.method_config(self.method, csls_k=int(self.csls_k), beta=float(self.beta), **opts)


def job_prior(config, prototypes, videos, labels, class_mask, video_mask):
    """UPT's source masses for one job of a sweep (``config.class_prior``).

    ``"given"`` is the split's true class frequencies (from ``labels``: an
    oracle for studies), ``"estimated"`` the label-free EM estimate of
    :func:`upt_jax.api.source_prior`, ``"uniform"`` ``None`` (uniform).

    Returns:
      ``[K]`` masses, or ``None`` for ``"uniform"``.
    """
    from upt_jax import api, bias

    if config.class_prior == "uniform":
        return None
    if config.class_prior == "given":
        return bias.class_frequencies(labels, prototypes.shape[0], class_mask=class_mask, video_mask=video_mask)
    return api.source_prior(prototypes, videos, config, class_mask=class_mask, video_mask=video_mask)


def methods_job(config: MethodsConfig, clustered: bool):
    """The job function of the ``methods`` task (pure; the runner vmaps and jits it).

    Args:
      config: static :class:`MethodsConfig`.
      clustered: whether ``inputs.centres`` holds k-means centres.

    Returns:
      ``job(inputs, lams [L], epsilon []) -> (per_lam, per_job)``; ``per_lam``
      as the classification task's plus ``method_converged`` ``[L]`` bool and
      ``method_iterations`` ``[L]`` int32; ``per_job``: ``{"diag": light
      Diagnostics, "prior_l1_error": []}`` for methods with UPT, ``{}``
      otherwise.
    """
    import jax
    import jax.numpy as jnp

    import upt_jax as U
    from upt_jax import baselines, bias, sphere

    if not isinstance(config, MethodsConfig):
        raise UPTError(f"the methods task needs a MethodsConfig, got {type(config).__name__}")
    mcfg = config.method_config()

    def job(inputs, lams, epsilon):
        cm = inputs.class_mask.astype(bool)
        vm = inputs.video_mask.astype(bool)
        p = sphere.normalize(inputs.prototypes)
        num_k = p.shape[0]
        dtype = p.dtype
        hyper = mcfg.hyper(epsilon=jnp.asarray(epsilon, dtype))
        truth = bias.class_frequencies(inputs.labels, num_k, class_mask=cm, video_mask=vm)
        method_prior = truth if mcfg.prior == "given" else None

        def fields(prototypes):
            out = baselines.scores_for(mcfg, prototypes, inputs.videos, hyper, class_mask=cm, video_mask=vm,
                                       prior=method_prior)
            m = U.metrics.evaluate_scores(out.scores, inputs.labels, class_mask=cm, video_mask=vm)
            counts = bias.predicted_counts(out.scores, class_mask=cm, video_mask=vm)
            return {
                "gini": bias.gini(counts, cm),
                "top1": m.top1,
                "top5": m.top5,
                "mean_class_accuracy": m.mean_class_accuracy,
                "unreachable": m.unreachable,
                "unreachable_mask": m.unreachable_mask,
                "n_videos": m.n_videos,
                "n_classes": jnp.sum(cm).astype(jnp.int32),
                "moved_angle": jnp.where(cm, sphere.distance(p, out.prototypes), jnp.nan),
                "method_converged": jnp.asarray(out.converged, bool),
                "method_iterations": jnp.asarray(out.n_iters, jnp.int32),
            }

        st = bias.bias_statistics(sphere.pairwise_cos(sphere.normalize(inputs.videos), p), class_mask=cm, video_mask=vm)
        stats = {"offset_spread": st.offset_spread, "within_spread": st.within_spread, "gini": st.gini,
                 "never_predicted": st.never_predicted}
        if not mcfg.upt:
            one = fields(p)
            n_lam = lams.shape[0]
            per_lam = jax.tree_util.tree_map(lambda v: jnp.broadcast_to(v, (n_lam, *jnp.shape(v))), one)
            return per_lam, {"baseline_bias": stats}
        if clustered:
            centres = inputs.centres
        else:
            centres = U.cluster_videos(inputs.videos, config, jax.random.PRNGKey(0), vm)
        prior = job_prior(config, p, inputs.videos, inputs.labels, cm, vm)
        upt_hyper = U.UPTHyper(lam=jnp.zeros((), dtype), epsilon=epsilon)
        _, diag = U.transport_update(p, centres, config, upt_hyper, cm, prior=prior)

        def at(lam):
            # the geodesic update of transport_update for one lam, then the correction
            return fields(jnp.where(cm[:, None], sphere.slerp(p, diag.targets, lam), p))

        per_lam = jax.vmap(at)(lams)
        light = lighten_diagnostics(diag)
        l1 = jnp.sum(jnp.abs(diag.source_mass - truth))
        return per_lam, {"diag": light, "prior_l1_error": l1, "baseline_bias": stats}

    return job


def methods_rows(per_lam: dict, per_job: dict, context: dict) -> list[dict]:
    """Row fields of one ``methods`` job, one dict per lam (host side)."""
    from upt_jax.api import summarize_diagnostics

    names = context["class_names"]
    cfg = context["config"]
    n_lam = np.shape(per_lam["top1"])[0]
    out = []
    for i in range(n_lam):
        r = metric_fields(per_lam, i, names)
        r["method"] = cfg.method
        r["csls_k"] = int(cfg.csls_k)
        r["beta"] = float(cfg.beta)
        r["gini"] = to_python(per_lam["gini"][i])
        for k, v in per_job["baseline_bias"].items():
            r[f"baseline_{k}"] = to_python(v)
        r["method_converged"] = to_python(per_lam["method_converged"][i])
        r["method_iterations"] = to_python(per_lam["method_iterations"][i])
        moved = np.asarray(per_lam["moved_angle"][i], np.float64)
        if "diag" in per_job:
            r.update(summarize_diagnostics(per_job["diag"]._replace(moved_angle=moved), names))
            r["prior_l1_error"] = to_python(per_job["prior_l1_error"])
            r["converged"] = bool(r["converged"] and r["method_converged"])
        else:
            r["n_classes"] = to_python(per_lam["n_classes"][i])
            r["median_moved_angle_deg"] = float(np.rad2deg(np.nanmedian(moved)))  # NaN outside the split
            r["converged"] = r["method_converged"]
        out.append(r)
    return out


register_task(
    Task(
        name="methods",
        make_job=methods_job,
        rows=methods_rows,
        metrics=("top1", "unreachable", "top5", "mean_class_accuracy", "transport_iterations"),
        config_type=MethodsConfig,
    )
)
