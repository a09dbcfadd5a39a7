"""A plain re-implementation of LRA's ListOps procedure (lra-data.md §4), independent of ``lra.data``: recursive
generation with ``random.Random``, the left-nested pair tree, its printer, a parser for printed rows, and an
evaluator. The tests use it as the reference for the vectorised generator and the TSV reader."""

from __future__ import annotations

import random
import statistics

OPERATORS = ("[MIN", "[MAX", "[MED", "[SM")


def draw_tree(rng: random.Random, depth: int = 1, max_depth: int = 10, max_args: int = 10) -> tuple[object, int]:
    """``(tree, length without parentheses)``; a node is ``((((op, a1), a2), …, an), ']')``."""
    r = rng.random() if depth < max_depth else 1.0
    if r > 0.25:
        return rng.randrange(10), 1
    args, length = [], 2
    for _ in range(rng.randint(2, max_args)):
        sub, n = draw_tree(rng, depth + 1, max_depth, max_args)
        args.append(sub)
        length += n
    node: object = (rng.choice(OPERATORS), args[0])
    for a in args[1:]:
        node = (node, a)
    return (node, "]"), length


def accepted_trees(seed: int, count: int) -> list[tuple[object, int]]:
    """``count`` trees with 500 < length < 2000, as LRA's main loop accepts them."""
    rng = random.Random(seed)
    out = []
    while len(out) < count:
        tree, length = draw_tree(rng)
        if 500 < length < 2000:
            out.append((tree, length))
    return out


def render(node: object) -> str:
    """LRA's printer: each pair as ``( left right )``."""
    if isinstance(node, tuple):
        return f"( {render(node[0])} {render(node[1])} )"
    return str(node)


def parse(text: str) -> object:
    """The pair tree of a printed row (inverse of ``render``)."""
    tokens = text.split()

    def item(i: int) -> tuple[object, int]:
        if tokens[i] == "(":
            left, i = item(i + 1)
            right, i = item(i)
            assert tokens[i] == ")", f"expected ) at token {i}"
            return (left, right), i + 1
        return (int(tokens[i]) if tokens[i].isdigit() else tokens[i]), i + 1

    tree, end = item(0)
    assert end == len(tokens)
    return tree


def _apply(op: str, args: list[int]) -> int:
    if op == "[MIN":
        return min(args)
    if op == "[MAX":
        return max(args)
    if op == "[MED":
        return int(statistics.median(args))
    return sum(args) % 10


def evaluate(node: object) -> int:
    """The value of a pair tree."""
    if isinstance(node, int):
        return node
    head, end = node  # type: ignore[misc]
    assert end == "]"
    args: list[int] = []
    while isinstance(head, tuple):
        head, arg = head
        args.append(evaluate(arg))
    return _apply(head, args[::-1])  # type: ignore[arg-type]


def evaluate_prefix(tokens: list[str]) -> int:
    """The value of the parenthesis-free prefix form (``[MIN 8 2 [MIN 8 6 ] ]``), with a stack."""
    stack: list[tuple[str, list[int]]] = []
    result = None
    for t in tokens:
        if t in OPERATORS:
            stack.append((t, []))
        elif t == "]":
            op, args = stack.pop()
            value = _apply(op, args)
            if stack:
                stack[-1][1].append(value)
            else:
                result = value
        else:
            stack[-1][1].append(int(t))
    assert result is not None and not stack
    return result
