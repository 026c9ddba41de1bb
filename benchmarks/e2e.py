"""End to end in a fresh process: imports, compilation and the run (timed by the parent).

``python -m benchmarks.e2e DATA.npz N_CLUSTERS [CACHE_DIR]`` loads the data, runs the
fused pipeline once (compilation included) and prints the top-1.
"""

import sys


def main():
    data, case = sys.argv[1], sys.argv[2]
    cache = sys.argv[3] if len(sys.argv) > 3 else ""
    import jax

    if cache:
        jax.config.update("jax_compilation_cache_dir", cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    import numpy as np

    import upt_jax as U
    from benchmarks.ours import fused_fn

    z = np.load(data)
    cfg = U.UPTConfig(n_clusters=int(case))
    top1 = fused_fn(cfg)(z["protos"], z["videos"], z["labels"], jax.random.PRNGKey(0), U.UPTHyper(lam=0.5, epsilon=1e-2))
    print(float(top1))


if __name__ == "__main__":
    main()
