"""solver: exact EMD (POT network simplex) vs Sinkhorn over epsilon.

Paper ablation: the example code's default is exact EMD; its Sinkhorn option
uses epsilon 1e-2. Here: EMD and Sinkhorn with epsilon in {1e-3, 3e-3, 1e-2,
3e-2, 1e-1} (on the max-normalised cost), lam = 0.5, C = 1000, 10 half
splits of the UCF-101-like default world: 10 EMD rows + 50 Sinkhorn rows.
Rows are grouped by epsilon (one compiled batch per epsilon) so a slow
epsilon does not hold the others back; each row records ``converged`` and
``n_iters`` (Sinkhorn cap 2000 iterations). EMD runs on the host through a
callback, one row after another.

Command::

    upt sweep experiments/configs/solver.py --out runs/solver

Expected runtime and headline numbers: see EXPECTED (measured).
"""

from experiments.run import Study

EXPECTED = "(not measured yet)"


def get_config() -> Study:
    return Study(
        name="solver",
        datasets=("world:ucf101:default:seed=0",),
        protocol="half",
        base={"n_clusters": 1000},
        description="EMD vs Sinkhorn over epsilon; C = 1000; lam 0.5; 10 half splits.",
    )


def sweep() -> dict:
    return {
        "static": [{"solver": "emd"}, {"solver": "sinkhorn"}],
        "lam": [0.5],
        "epsilon": [1e-3, 3e-3, 1e-2, 3e-2, 1e-1],
    }
