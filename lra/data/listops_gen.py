"""Seeded, vectorised ListOps generator with the tree distribution of LRA ``lra_benchmarks/data/listops.py``.

LRA draws trees one at a time in CPython (1–2 ms per accepted tree) and keeps them in a Python ``set``, so its
split can be neither regenerated nor made fast. We draw the *same* distribution breadth-first, thousands of trees
at once with numpy:

* a node at depth ``d < max_depth`` is an operator with probability ``VALUE_P`` = 0.25 (LRA: ``r > 0.25`` → leaf),
  else a uniform digit 0–9; at ``max_depth`` it is always a leaf;
* an operator has ``randint(2, max_args)`` children (inclusive) and a uniform operator among MIN, MAX, MED, SM;
* a tree's length counts tokens without parentheses (operator + ``]`` + children); LRA keeps
  ``min_length < length < max_length``, i.e. 501–1999 tokens.

Each node's choices are independent given its depth, so the breadth-first order yields the same tree
distribution as LRA's depth-first recursion (only the consumption order of random numbers differs). A tree whose
length can no longer be accepted is abandoned early; that changes which random numbers are used, not the
distribution of the accepted trees (rejection sampling of independent draws).

Determinism: chunk ``i`` of ``DRAWS_PER_CHUNK`` root draws uses ``PCG64(SeedSequence([seed, i]))``; chunks are
consumed in index order and a duplicate is dropped at its second occurrence (set *membership* only; no order
of a set or of ``hash()`` is ever used), so the output depends on the seed only, not on the number of worker
processes or the machine. The first ``val_size`` unique trees form validation, the next ``test_size`` test, the
rest train: changing the training size leaves validation and test unchanged.

Workers draw and render their chunks (``render_lines``: TSV rows exactly as LRA's ``to_string`` + ``csv.writer``
print them); the parent only deduplicates and writes rows in chunk order.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lra.data.progress import bar
from lra.data.workers import default_workers, process_pool

OPERATORS = ("[MIN", "[MAX", "[MED", "[SM")
END = "]"
VALUE_P = 0.25
MAX_DEPTH = 10
MAX_ARGS = 10
MIN_LENGTH = 500  # exclusive
MAX_LENGTH = 2000  # exclusive

# Generator codes: digits 0–9 are themselves, operators 10–13 in OPERATORS order, END 14.
OP_BASE = 10
END_CODE = 14
CODE_TEXT = (*(str(d) for d in range(10)), *OPERATORS, END)

DRAWS_PER_CHUNK = 4096
EXPECTED_ACCEPT_RATE = 0.08  # ≈ 8 % of draws are accepted (lra-data.md §4); only sizes the first wave of chunks


@dataclass
class TreeBatch:
    """Accepted trees in prefix order, concatenated: ``codes[offsets[i]:offsets[i+1]]`` is tree ``i``.

    ``opens`` holds, at each operator position, the number of ``(`` that LRA's ``to_string`` prints before it
    (arguments + 1: the tree is stored as left-nested pairs ``((((op, a1), a2), …, an), ']')``).
    """

    codes: np.ndarray  # uint8
    opens: np.ndarray  # uint8
    offsets: np.ndarray  # int64, len = n + 1
    labels: np.ndarray  # int64

    def __len__(self) -> int:
        return len(self.labels)

    def tree(self, i: int) -> np.ndarray:
        return self.codes[self.offsets[i] : self.offsets[i + 1]]


def _segment_median_floor(values: np.ndarray, seg: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``int(np.median(v))`` of each segment (values ≥ 0, segments contiguous and in order)."""
    order = np.lexsort((values, seg))
    sorted_vals = values[order]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    lo = sorted_vals[starts + (counts - 1) // 2]
    hi = sorted_vals[starts + counts // 2]
    return (lo + hi) // 2


def draw_chunk(seed: int, index: int, draws: int = DRAWS_PER_CHUNK) -> TreeBatch:
    """Draw ``draws`` trees with RNG stream ``(seed, index)``; return the accepted ones in draw order."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, index])))
    tree = np.arange(draws, dtype=np.int64)  # tree id of every node on the current level
    alive = np.ones(draws, dtype=bool)
    length = np.zeros(draws, dtype=np.int64)
    levels: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    parent = np.zeros(draws, dtype=np.int64)
    for depth in range(1, MAX_DEPTH + 1):
        m = len(tree)
        is_op = rng.random(m) <= VALUE_P if depth < MAX_DEPTH else np.zeros(m, dtype=bool)
        nchild = np.where(is_op, rng.integers(2, MAX_ARGS + 1, m), 0)
        sym = np.where(is_op, OP_BASE + rng.integers(0, len(OPERATORS), m), rng.integers(0, 10, m))
        length += np.bincount(tree, weights=1 + is_op, minlength=draws).astype(np.int64)
        pending = np.bincount(tree, weights=nchild, minlength=draws).astype(np.int64)
        alive &= length + pending < MAX_LENGTH  # every pending child adds ≥ 1 token
        nchild = nchild * alive[tree]
        levels.append((tree, is_op, nchild, sym, parent))
        parent = np.repeat(np.arange(m), nchild)
        tree = tree[parent]
        if len(tree) == 0:
            break
    accept = alive & (length > MIN_LENGTH) & (length < MAX_LENGTH)
    return _assemble(levels, accept, length)


def _assemble(levels: list[tuple[np.ndarray, ...]], accept: np.ndarray, length: np.ndarray) -> TreeBatch:
    """Keep the accepted trees; compute prefix positions, tokens, parenthesis counts and values."""
    kept = []
    remap_prev = None
    for tree, is_op, nchild, sym, parent in levels:
        mask = accept[tree]
        new_parent = remap_prev[parent[mask]] if remap_prev is not None else np.zeros(int(mask.sum()), np.int64)
        kept.append((tree[mask], is_op[mask], nchild[mask], sym[mask], new_parent))
        remap_prev = np.cumsum(mask) - 1
        if not mask.any():
            break
    # Bottom-up: subtree sizes (tokens) and values.
    sizes: list[np.ndarray] = [np.zeros(0, np.int64)] * len(kept)
    values: list[np.ndarray] = [np.zeros(0, np.int64)] * len(kept)
    for d in range(len(kept) - 1, -1, -1):
        tree, is_op, nchild, sym, _ = kept[d]
        m = len(tree)
        size = 1 + is_op.astype(np.int64)
        val = np.where(is_op, 0, sym).astype(np.int64)
        if d + 1 < len(kept) and len(kept[d + 1][0]):
            child_parent = kept[d + 1][4]
            size += np.bincount(child_parent, weights=sizes[d + 1], minlength=m).astype(np.int64)
            ops = np.flatnonzero(is_op)
            if len(ops):
                # Children of a node are contiguous on the next level and every operator has ≥ 2 of them, so
                # reduceat over the operators' first-child indices reduces exactly each operator's arguments.
                cv = values[d + 1]
                starts = (np.cumsum(nchild) - nchild)[ops]
                opc = sym[ops] - OP_BASE
                mins = np.minimum.reduceat(cv, starts)
                maxs = np.maximum.reduceat(cv, starts)
                sums = np.add.reduceat(cv, starts) % 10
                meds = _segment_median_floor(cv, child_parent, nchild[ops])
                val[ops] = np.select([opc == 0, opc == 1, opc == 2], [mins, maxs, meds], sums)
        sizes[d] = size
        values[d] = val
    n_trees = int(accept.sum())
    tree_len = length[accept]
    offsets = np.concatenate([[0], np.cumsum(tree_len)]).astype(np.int64)
    total = int(offsets[-1])
    codes = np.empty(total, np.uint8)
    opens = np.zeros(total, np.uint8)
    tree_ids = np.cumsum(accept) - 1
    pos = offsets[:-1][tree_ids[kept[0][0]]] if n_trees else np.zeros(0, np.int64)
    for d, (_, is_op, nchild, sym, parent) in enumerate(kept):
        if d > 0:
            prev_pos = pos
            size = sizes[d]
            excl = np.cumsum(size) - size
            first_child = np.concatenate([[0], np.cumsum(kept[d - 1][2])[:-1]])
            pos = prev_pos[parent] + 1 + excl - excl[first_child[parent]]
        codes[pos] = sym
        op_pos = pos[is_op]
        opens[op_pos] = nchild[is_op] + 1
        codes[op_pos + sizes[d][is_op] - 1] = END_CODE
    labels = values[0] if n_trees else np.zeros(0, np.int64)
    return TreeBatch(codes, opens, offsets, labels.astype(np.int64))


TSV_HEADER = b"Source\tTarget\r\n"  # LRA writes with csv.writer(delimiter="\t"): CRLF line ends
RENDER_BATCH = 8192

# Every prefix position prints as one of a few pieces: a digit argument ``d )``, an inner ``] ) )``, the root's
# ``] )`` followed by the row's ``<TAB>label<CR><LF>``, or ``( `` × (n + 1) then an operator (n = 2..MAX_ARGS).
# Positions are mapped to piece symbols with array operations and expanded by one ``str.translate`` call.
_SYM_DIGIT = 0
_SYM_END = 10
_SYM_ROOT_END = 11  # + label
_SYM_OP = 21  # + operator index * (MAX_ARGS - 1) + (n - 2)
_PIECES = {
    **{_SYM_DIGIT + d: f"{d} ) " for d in range(10)},
    _SYM_END: "] ) ) ",
    **{_SYM_ROOT_END + label: f"] )\t{label}\r\n" for label in range(10)},
    **{
        _SYM_OP + i * (MAX_ARGS - 1) + (n - 2): "( " * (n + 1) + f"{op} "
        for i, op in enumerate(OPERATORS)
        for n in range(2, MAX_ARGS + 1)
    },
}


def render_lines(batch: TreeBatch) -> bytes:
    """The TSV rows of ``batch`` exactly as LRA's ``to_string`` + ``csv.writer`` print them.

    LRA stores a node with ``n`` arguments as left-nested pairs ``((((op, a1), a2), …, an), ']')`` and prints a
    pair as ``( left right )``: ``( `` × (n + 1), the operator, each argument followed by `` )``, then ``] )``. So
    a digit (always an argument) prints ``d )``, an inner ``]`` prints ``] ) )`` (its own pair, then its parent's,
    as the subtree is an argument) and the root's ``]`` prints ``] )``.
    """
    codes = batch.codes.astype(np.int64)
    last = np.zeros(len(codes), bool)
    last[batch.offsets[1:] - 1] = True
    sym = np.where(codes < 10, _SYM_DIGIT + codes, _SYM_END)
    is_op = (codes >= OP_BASE) & (codes < END_CODE)
    sym[is_op] = _SYM_OP + (codes[is_op] - OP_BASE) * (MAX_ARGS - 1) + (batch.opens[is_op].astype(np.int64) - 3)
    sym[last] = _SYM_ROOT_END + batch.labels
    return sym.astype(np.uint8).tobytes().decode("latin-1").translate(_PIECES).encode("ascii")


def _rendered_chunk(args: tuple[int, int]) -> list[bytes]:
    """The TSV rows (with their CRLF) of chunk ``args = (seed, index)``."""
    rows = render_lines(draw_chunk(*args)).split(b"\r\n")
    return [row + b"\r\n" for row in rows[:-1]]


def _chunks(seed: int, needed: int, workers: int) -> Iterator[list[bytes]]:
    """Rendered chunks ``0, 1, 2, …`` in index order, ``workers`` processes at a time, until the caller stops."""
    index = 0
    if workers <= 1:
        while True:
            yield _rendered_chunk((seed, index))
            index += 1
    wave = max(workers, int(needed / (DRAWS_PER_CHUNK * EXPECTED_ACCEPT_RATE) * 1.05) + 1)
    with process_pool(workers) as pool:
        while True:
            yield from pool.imap(_rendered_chunk, [(seed, i) for i in range(index, index + wave)])
            index += wave
            wave = max(workers, wave // 8)


def tsv_name(split: str) -> str:
    """LRA's file name: ``task_name='basic'`` + ``_<split>.tsv``."""
    return f"basic_{split}.tsv"


def generate_tsv(
    out_dir: Path, *, train_size: int, val_size: int, test_size: int, seed: int, workers: int | None = None
) -> None:
    """Write ``basic_{train,val,test}.tsv`` into the (existing, empty) ``out_dir``."""
    sizes = {"val": val_size, "test": test_size, "train": train_size}
    needed = sum(sizes.values())
    workers = default_workers() if workers is None else workers
    seen: set[bytes] = set()  # 128-bit row digests; membership only
    order = [split for split in sizes if sizes[split] > 0]
    written = dict.fromkeys(sizes, 0)
    with contextlib.ExitStack() as stack:
        files = {split: stack.enter_context(open(out_dir / tsv_name(split), "wb")) for split in sizes}
        for f in files.values():
            f.write(TSV_HEADER)
        progress = stack.enter_context(bar(total=needed, desc="ListOps: generating", unit="tree"))
        for rows in stack.enter_context(contextlib.closing(_chunks(seed, needed, workers))):
            for row in rows:
                if not order:
                    break
                key = hashlib.blake2b(row, digest_size=16).digest()
                if key in seen:
                    continue
                seen.add(key)
                split = order[0]
                files[split].write(row)
                written[split] += 1
                progress.update(1)
                if written[split] == sizes[split]:
                    order.pop(0)
            if not order:
                break
