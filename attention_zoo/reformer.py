"""Reformer LSH attention (Kitaev et al., ICLR 2020, arXiv 2001.04451) with shared QK, bidirectional."""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from attention_zoo._base import Attention, accumulation_dtype, full_precision, require_positive_int, zero_pads


def is_same_tensor(a: Tensor, b: Tensor) -> bool:
    """True if ``b`` is ``a`` or a view of the same memory with the same shape, layout and dtype."""
    if a is b:
        return True
    if a.shape != b.shape or a.dtype != b.dtype or a.device != b.device or a.data_ptr() != b.data_ptr():
        return False
    return all(size == 1 or sa == sb for size, sa, sb in zip(a.shape, a.stride(), b.stride(), strict=True))


class ReformerAttention(Attention):
    """LSH attention with shared QK: tokens are hashed, sorted by bucket, and attend within chunks.

    Per hash round: ``h(x) = argmax([xR; −xR])`` with a random Gaussian R ∈ R^{d×b/2} (b buckets, angular
    LSH, one R for all heads as in reformer-pytorch and trax); tokens are sorted by (bucket, position) and cut
    into chunks of ``bucket_size``; each chunk attends to itself and to the chunk before it (the first chunk
    wraps around to the last), with queries q and keys k̂ = q/‖q‖ (shared QK, normalised keys), logits
    ``q·k̂/√d``. As in reformer-pytorch and trax the rounds are sorted one after the other in one sequence, so
    the first chunk of a round looks back into the last chunk of the previous round. A token never attends to
    itself while any other key is available in any round; if none is, its output is its own value (the −5e4
    self-logit of reformer-pytorch and trax gives the same up to e^-5e4). The rounds are combined by their
    log-sum-exp weights, i.e. exactly one softmax over the union of the keys the rounds found; a key found
    twice counts twice (reformer-pytorch's default ``allow_duplicate_attention=True``; the paper's
    duplicate correction is not applied, nor in Hugging Face).

    Shared QK through the common API: ``ReformerAttention.shared_qk`` is True, so the model projects one
    tensor and passes it as both ``q`` and ``k``. ``k`` must be ``q`` itself (or a view of the same memory
    with the same shape and layout); any other ``k`` raises a ValueError, so a model that forgot to share
    the projection fails loudly instead of silently training an unused key projection.

    Options (defaults and their source):
        num_hashes (2): hash rounds; ``reformer-2`` of the Nyströmformer LRA runs (``lra_config.py``).
            reformer-pytorch defaults to 8, Hugging Face and trax to 1.
        bucket_size (64): tokens per chunk (Hugging Face's ``lsh_attn_chunk_length`` 64 in the LRA runs) and,
            by default, the target bucket size. Any positive int: n need not be a multiple of it (see below).
            One bucket covering the sequence (bucket_size ≥ n) is exact shared-QK attention with the self-mask
            (tested).
        num_buckets (None): the number of buckets b. ``None``: b = n_pad / bucket_size, from each example's
            own (internally padded) length, as reformer-pytorch sizes it from n. An even int ≥ 2: that b for
            every length. ``"auto"``: the ``reformer-2`` LRA baseline's b, Hugging Face's default
            ``2^(bitlen(2·N / bucket_size) − 1)`` (``ReformerConfig(num_buckets=None)``), with N the input
            length n rounded up to a power of two, the length every input of the Nyströmformer LRA code is
            padded to (``run_tasks.py``): b = 32 / 64 / 128 for n up to 1024 / 2048 / 4096 at bucket_size 64.
            Hugging Face factorises b into two hashes above 2·max(√(max_len/chunk), chunk) = 128 buckets
            (n > 4096 here); this keeps one hash of b buckets.
        seed (None): ``None`` draws new rotations R from the global torch RNG at every call (trax,
            reformer-pytorch and Hugging Face without ``hash_seed``), so ``torch.manual_seed`` makes a run
            deterministic but two calls differ, in eval too; an int fixes R once (drawn from a private
            generator at construction; a non-persistent buffer, recomputed from the seed), so every call hashes
            the same way (Hugging Face ``hash_seed``): use it for gradcheck and deterministic evaluation.

    Any n works, and there is no divisibility requirement on any option (a bucket size that does not divide n
    is not an error): each example of L real tokens is padded internally to n_pad = ⌈L / (2·bucket_size)⌉ ·
    2·bucket_size (chunk pairs, so that b = n_pad / bucket_size is even for ±R), the pads are sorted behind the
    real tokens and never attended to. The rotations for b buckets are the first b/2 columns of one R sized
    for ``max_seq_len``, and real tokens are ranked among real tokens only, so an example's hashing, sorting,
    chunking and wrap-around depend only on its real tokens: outputs at real positions do not depend on pad
    content, on where the pads are, or on how many there are (reformer-pytorch sizes b from the padded length
    and chunks pads together with real tokens, so changing the padding changes the result). The one exception
    is ``num_buckets="auto"``: b follows the input length n as in the reference, so changing n across a power
    of two changes b (pad content and place still never matter). Outputs at pads are zero. Without padding and
    for n a multiple of 2·bucket_size this is reformer-pytorch's ``LSHAttention`` exactly (tested equal given
    the same rotations). Like every LSH attention it is discontinuous in q: rounding q (e.g. to bf16) moves
    some tokens across hash boundaries.

    Precision: hashing, logits, exps and the round combination run in fp32 (fp64 for fp64 inputs), also under
    autocast; the output is cast back to the input dtype. Logits are kept in log2 units (log2(e) folded into
    q) because ``exp2`` is 4× faster than ``exp`` on the CPU; the result is the same softmax up to round-off.

    Cost per head and round: n·d·b FLOPs for hashing (= n²·d/bucket_size by default: b grows with n, as in
    reformer-pytorch; 2n²·d/bucket_size at most with ``"auto"``), an O(n log n) sort (one radix sort of all
    rounds), and 8·n·bucket_size·d FLOPs of chunked attention. Chunks are
    processed in blocks (a few MB on the CPU, where they stay in cache), so inference memory is
    O(num_hashes·n·d); with gradients the attention weights, n·2·bucket_size floats per round, are kept once
    for backward (reformer-pytorch keeps several tensors of that size). Everything is linear in ``num_hashes``.
    """

    shared_qk: ClassVar[bool] = True

    def __init__(
        self,
        *,
        num_heads: int,
        head_dim: int,
        max_seq_len: int,
        num_hashes: int = 2,
        bucket_size: int = 64,
        num_buckets: int | str | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__(num_heads=num_heads, head_dim=head_dim, max_seq_len=max_seq_len)
        self.num_hashes = require_positive_int("num_hashes", num_hashes)
        self.bucket_size = require_positive_int("bucket_size", bucket_size)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")
        self.seed = seed
        self.num_buckets = _check_num_buckets(num_buckets)
        # Half the number of buckets of the longest input: the columns of R.
        self.max_half_buckets = self.half_buckets(max_seq_len)
        self.rotations: Tensor | None
        if seed is None:
            self.rotations = None
        else:
            generator = torch.Generator().manual_seed(seed)
            self.register_buffer("rotations", self._draw(generator, torch.device("cpu")), persistent=False)

    def half_buckets(self, n: int) -> int:
        """b/2 for an input (or, with ``num_buckets=None``, an example) of n tokens (see ``num_buckets``)."""
        if self.num_buckets is None:
            return self._padded_length(n) // (2 * self.bucket_size)
        if self.num_buckets == "auto":  # transformers ReformerAttention._set_num_buckets on 2^⌈log2 n⌉
            chunks = max(1, (1 << (n - 1).bit_length()) // self.bucket_size)
            return 1 << ((2 * chunks).bit_length() - 2)
        return self.num_buckets // 2

    def _draw(self, generator: torch.Generator | None, device: torch.device) -> Tensor:
        shape = (self.head_dim, self.num_hashes, self.max_half_buckets)  # reformer-pytorch's layout, minus batch
        return torch.randn(shape, generator=generator, device=device, dtype=torch.float32)

    def extra_repr(self) -> str:
        return (
            f"heads={self.num_heads}, head_dim={self.head_dim}, num_hashes={self.num_hashes}, "
            f"bucket_size={self.bucket_size}, num_buckets={self.num_buckets}, seed={self.seed}"
        )

    def forward(self, q: Tensor, k: Tensor, v: Tensor, key_padding_mask: Tensor | None = None) -> Tensor:
        self.check_inputs(q, k, v, key_padding_mask)
        if not is_same_tensor(q, k):
            raise ValueError(
                "ReformerAttention shares queries and keys (shared_qk = True): pass the same tensor as q and k "
                "(project one shared QK tensor in the model)"
            )
        mask = key_padding_mask
        if mask is not None:
            q, v = zero_pads(q, mask), zero_pads(v, mask)
        rotations = self.rotations if self.rotations is not None else self._draw(None, q.device)
        with full_precision(q.device):  # hashing and attention in fp32, also under autocast
            out = self._attend(q, v, self.hash(q, rotations, mask), mask)
        return out.to(q.dtype) if mask is None else zero_pads(out.to(q.dtype), mask)

    # --- the steps, separately testable ---------------------------------------------------------------------

    def _lengths(self, batch: int, n: int, mask: Tensor | None, device: torch.device) -> Tensor:
        if mask is None:
            return torch.full((batch,), n, dtype=torch.int64, device=device)
        return mask.sum(dim=-1)

    def _padded_lengths(self, lengths: Tensor) -> Tensor:
        step = 2 * self.bucket_size
        return (lengths + step - 1) // step * step

    def _padded_length(self, n: int) -> int:
        step = 2 * self.bucket_size
        return -(-n // step) * step

    @torch.no_grad()
    def hash(self, qk: Tensor, rotations: Tensor, mask: Tensor | None) -> Tensor:
        """Buckets ``[B, H, num_hashes, n]`` of ``qk [B, H, n, d]``: ``argmax([xR; −xR])`` per round.

        Bucket i < b/2 is the positive half, ``half + i`` the negative half (half = b/2 when all examples share
        b, the maximum b/2 when each example has its own: only the order of the bucket ids matters).
        ``rotations`` is ``[d, R, b_max/2]``.
        """
        batch, heads, n, dim = qk.shape
        rounds, half = self.num_hashes, self.max_half_buckets
        acc = accumulation_dtype(qk.dtype)
        limit = None  # per example (num_buckets None, masked): b/2 = n_pad(L)/(2·bucket_size); columns beyond unused
        if mask is None or self.num_buckets is not None:  # one b for all examples: the first b/2 columns
            half = self.half_buckets(n)
            rotations = rotations[..., :half]
        else:
            halves = self._padded_lengths(mask.sum(dim=-1)) // (2 * self.bucket_size)
            limit = halves.repeat_interleave(heads * n)  # [B·H·n]
        rotations = rotations.to(acc).reshape(dim, rounds * half)
        x = qk.to(acc).reshape(batch * heads * n, dim)
        total = x.shape[0]
        columns = torch.arange(half, device=qk.device)
        buckets = torch.empty(total, rounds, dtype=torch.int64, device=qk.device)
        # Row blocks keep the [rows, R·b/2] projection in cache (and reuse one buffer) on the CPU, and bound it
        # on a GPU (at n = 32K and B·H = 128 the whole projection would take 8 GB).
        rows = max(1, _block_elements(qk.device) // (rounds * half))
        buffer = x.new_empty((min(rows, total), rounds * half))
        for start in range(0, total, rows):
            block = x[start : start + rows]
            rotated = torch.mm(block, rotations, out=buffer[: block.shape[0]]).view(-1, rounds, half)
            # argmax([r; −r]) = the column of largest |r|, in the negative half where that r is negative (one
            # max instead of an argmax over a 2× wider copy; the two can differ only on exact ties).
            magnitude = rotated.abs()
            if limit is not None:
                magnitude.masked_fill_((columns >= limit[start : start + rows, None])[:, None, :], -1.0)
            column = magnitude.max(dim=-1, keepdim=True).indices
            negative = rotated.gather(-1, column) < 0
            buckets[start : start + rows] = (column + negative * half).squeeze(-1)
        return buckets.view(batch, heads, n, rounds).permute(0, 1, 3, 2).contiguous()

    def _attend(self, qk: Tensor, v: Tensor, buckets: Tensor, mask: Tensor | None) -> Tensor:
        """LSH attention given the buckets ``[B, H, num_hashes, n]``; returns ``[B, H, n, d]`` (fp32 or wider)."""
        batch, heads, n, dim = qk.shape
        rounds, size = self.num_hashes, self.bucket_size
        device, acc = qk.device, accumulation_dtype(qk.dtype)
        bh = batch * heads
        n_pad = self._padded_length(n)  # slots per round of the longest layout
        chunks = rounds * n_pad // size
        source, slot_of, crossing = self._layout(buckets, mask, n_pad)

        # One row per token and (example, head): [q·log2(e)/√d, k̂ = q/‖q‖, v]. Pad slots read row 0 (masked).
        # Logits in log2 units: exp2 is several times faster than exp on the CPU, and the scale folds into q.
        q_acc, v_acc = qk.to(acc), v.to(acc)
        table = torch.cat([q_acc * (math.log2(math.e) / math.sqrt(dim)), F.normalize(q_acc, dim=-1), v_acc], dim=-1)
        offsets = (torch.arange(bh, device=device) * n).view(batch, heads, 1, 1)
        index = (source.masked_fill(source == n, 0) + offsets).view(-1)
        has_pads = mask is not None or n_pad != n
        block = max(1, _block_elements(qk.device) // (2 * size**2))
        sums, row_max = _ChunkedLSH.apply(
            table.view(bh * n, 3 * dim), index, source.view(-1, size), crossing, n, dim, has_pads, block
        )

        # Unsort: slot of every (round, token); combine the rounds = one softmax over the union of their keys.
        base = (torch.arange(bh, device=device) * (chunks + 1) * size + size).view(batch, heads, 1, 1)
        index = (slot_of + base).view(-1)
        per_round = sums.view(-1, dim + 1).index_select(0, index).view(batch, heads, rounds, n, dim + 1)
        with torch.no_grad():
            round_max = row_max.view(-1).index_select(0, index).view(batch, heads, rounds, n, 1)
            best = round_max.amax(dim=2, keepdim=True)
            round_weight = torch.exp2(round_max - torch.where(torch.isfinite(best), best, 0.0))
        total = (per_round * round_weight).sum(dim=2)
        numerator, denominator = total[..., :dim], total[..., dim:]
        # denominator >= 1 whenever another key was found (the best round's max term is 2^0); else self.
        return torch.where(denominator > 0, numerator / denominator.clamp(min=1.0), v_acc)

    @torch.no_grad()
    def _layout(self, buckets: Tensor, mask: Tensor | None, n_pad: int) -> tuple[Tensor, Tensor, Tensor]:
        """Index bookkeeping: the token in each slot, chunked, and the slot of each token in each round.

        Returns ``source [B, H, C + 1, size]``: chunk 0 is a copy of the example's last chunk (the look-back
        target of chunk 1, the wrap-around), chunks 1..C the sorted slots; n marks a pad. ``slot_of
        [B, H, R, n]``: the slot (0..R·n_pad − 1) of each real token in each round (0 for pads). ``crossing``:
        the chunks (flat index into B·H·(C + 1)) whose look-back chunk belongs to another round, the only
        ones where a token can meet itself in the look-back.
        """
        batch, heads, rounds, n = buckets.shape
        size, device = self.bucket_size, buckets.device
        slots = rounds * n_pad
        chunks = slots // size
        lengths = self._lengths(batch, n, mask, device)  # L per example
        padded = self._padded_lengths(lengths)  # n_pad per example

        # Sort each round by (bucket, position); pads go last.
        position = torch.arange(n, device=device)
        key = buckets * n + position  # among real tokens, position order is rank order
        if mask is not None:
            key = torch.where(mask[:, None, None, :], key, (2 * self.max_half_buckets + 1) * n + position)
        # One flat sort with an offset per (example, head, round): keys are unique, and a 1-D integer sort of
        # ≥ 32K elements takes PyTorch's radix sort on the CPU (4× faster than a row-wise sort at n = 4096).
        rows = torch.arange(batch * heads * rounds, device=device).view(batch, heads, rounds, 1)
        span = (2 * self.max_half_buckets + 2) * n  # > every key
        order = (key + rows * span).flatten().argsort()  # ascending: rows stay in order
        order = (order.view(batch, heads, rounds, n) - rows * n).view(batch, heads, rounds * n)  # token ids

        # Slot σ of example b holds round r = σ // n_pad_b, entry e = σ mod n_pad_b (a pad if r ≥ R or e ≥ L_b).
        sigma = torch.arange(slots, device=device)
        r = sigma[None, :] // padded.clamp(min=1)[:, None]  # [B, slots]
        e = sigma[None, :] - r * padded[:, None]
        valid = (r < rounds) & (e < lengths[:, None])
        entry = (r.clamp(max=rounds - 1) * n + e.clamp(max=n - 1))[:, None, :].expand(batch, heads, slots)
        source = torch.where(valid[:, None, :], order.gather(2, entry), n)  # [B, H, slots]

        # Chunk c looks back to c − 1; the first chunk wraps around to the example's last chunk.
        last_chunk = (rounds * padded // size - 1).clamp(min=0)
        source = source.view(batch, heads, chunks, size)
        wrap = source.gather(2, last_chunk[:, None, None, None].expand(batch, heads, 1, size))

        # Round starts (chunk r·n_pad_b / size, + 1 for the wrap chunk in front) of every example and head.
        starts = torch.arange(rounds, device=device)[None, :] * (padded[:, None] // size) + 1  # [B, R]
        flat = torch.arange(batch * heads, device=device).view(batch, heads, 1) * (chunks + 1)
        crossing = (flat + starts[:, None, :]).flatten()

        # Inverse map; pads (and internal pad slots) write to a dummy column n that is dropped.
        slot_of = torch.zeros(batch, heads, rounds, n + 1, dtype=torch.int64, device=device)
        target = r.clamp(max=rounds - 1)[:, None, :] * (n + 1) + source.view(batch, heads, slots)
        slot_of.view(batch, heads, -1).scatter_(2, target, sigma.expand(batch, heads, slots))
        return torch.cat([wrap, source], dim=2), slot_of[..., :n], crossing.sort().values


def _check_num_buckets(value: int | str | None) -> int | str | None:
    """Return ``value`` if it is None, ``"auto"`` or an even int ≥ 2, else raise a ValueError saying so."""
    if value is None or value == "auto":
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < 2 or value % 2:
        raise ValueError(
            f"num_buckets must be None, 'auto' or an even integer >= 2 (buckets come in ±R pairs), got {value!r}"
        )
    return value


def _block_elements(device: torch.device) -> int:
    """Elements of one block of logits (or of the hash projection). CPU: 2^21 (8 MB), so blocks stay in cache
    and the allocator reuses their buffers instead of mapping fresh pages for every call (a large fresh tensor
    costs ~0.4 ms per MB in page faults here). GPU: 2^25 (128 MB), few kernel launches, bounded memory."""
    return 2**25 if device.type == "cuda" else 2**21


class _ChunkedLSH(torch.autograd.Function):
    """Chunked attention of the sorted tokens, block by block (blocks of a few MB stay in cache on the CPU).

    ``table [N, 3d]`` holds ``[q·log2(e)/√d, k̂, v]`` per token; ``index [T·size]`` the table row of every slot
    of T chunks, ``source [T, size]`` the token (``pad`` marks pads). Chunk g (g ≥ 1) attends to chunks g − 1
    and g. Returns the unnormalised sums ``[Σ 2^(s − m) v, Σ 2^(s − m)]`` ``[T, size, d + 1]`` (s: logits in
    log2 units) and the row maxima m ``[T, size]`` (−inf where no key is left; not differentiable: the shifts
    cancel after normalisation). Chunk 0 only serves as look-back. Masked: pad keys and the token itself (the
    caller falls back to the token's own value where nothing is left). Rows are gathered per block (no
    [T·size, 3d] copy); when a gradient is needed, the attention weights 2^(s − m) ``[T, size, 2·size]`` are
    kept for backward (one copy; recomputing them instead measured ~25 % slower fwd+bwd here).

    The gathered chunks lie one after another, so chunk g's keys and values (chunks g − 1 and g) are one
    overlapping strided window of the rows: each product is one batched GEMM over ``2·size`` keys. The
    denominator is a row sum, not a column of ones in the value GEMM (d + 1 = 33 columns measured 25 % slower
    than 32 here).
    """

    @staticmethod
    def forward(ctx, table, index, source, crossing, pad, dim, has_pads, block):  # type: ignore[override]
        total, size = source.shape
        sums = table.new_empty((total, size, dim + 1))
        sums[0] = 0.0  # chunk 0 is only a look-back target
        row_max = table.new_full((total, size), -math.inf)
        starts = list(range(1, total, block))
        bounds = torch.searchsorted(crossing, torch.tensor([*starts, total], device=crossing.device)).tolist()
        kept = []
        for number, start in enumerate(starts):
            stop = min(total, start + block)
            queries, keys, values = _windows(table.index_select(0, index[(start - 1) * size : stop * size]), size)
            cross = crossing[bounds[number] : bounds[number + 1]] - start
            logits = torch.bmm(queries, keys.transpose(1, 2))  # [nb, size, 2·size]
            _mask_logits(logits, source[start - 1 : stop], cross, pad, has_pads)
            top = logits.amax(dim=-1, keepdim=True)
            weights = logits.sub_(torch.where(torch.isfinite(top), top, 0.0)).exp2_()
            sums[start:stop, :, :dim] = torch.bmm(weights, values)
            sums[start:stop, :, dim] = weights.sum(dim=-1)
            row_max[start:stop] = top.squeeze(-1)
            if ctx.needs_input_grad[0]:
                kept.append(weights)
        ctx.save_for_backward(table, index)
        ctx.weights, ctx.settings = kept, (size, block)
        ctx.mark_non_differentiable(row_max)
        return sums, row_max

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_sums, _):  # type: ignore[override]
        with full_precision(grad_sums.device):
            return _ChunkedLSH._backward(ctx, grad_sums)

    @staticmethod
    def _backward(ctx, grad_sums: Tensor) -> tuple[Tensor | None, ...]:
        table, index = ctx.saved_tensors
        size, block = ctx.settings
        total, dim = grad_sums.shape[0], grad_sums.shape[2] - 1
        grad_table = torch.zeros_like(table)
        for start, weights in zip(range(1, total, block), ctx.weights, strict=True):
            stop = min(total, start + block)
            rows_index = index[(start - 1) * size : stop * size]
            queries, keys, values = _windows(table.index_select(0, rows_index), size)
            grad_sum = grad_sums[start:stop] * math.log(2)  # d(2^x)/dx = ln 2 · 2^x
            grad_logits = torch.bmm(grad_sum[..., :dim], values.transpose(1, 2))
            grad_logits.add_(grad_sum[..., dim:]).mul_(weights)  # masked entries have weight 0
            # Window g covers chunks g − 1 (its first half) and g; the values' gradient takes the unscaled sums.
            grad_keys = torch.bmm(grad_logits.transpose(1, 2), queries)
            grad_values = torch.bmm(weights.transpose(1, 2), grad_sums[start:stop, :, :dim])
            grad_rows = table.new_zeros((stop - start + 1, size, 3 * dim))
            grad_rows[1:, :, :dim] = torch.bmm(grad_logits, keys)
            for chunks, half in ((slice(None, -1), slice(None, size)), (slice(1, None), slice(size, None))):
                grad_rows[chunks, :, dim : 2 * dim] += grad_keys[:, half]
                grad_rows[chunks, :, 2 * dim :] += grad_values[:, half]
            grad_table.index_add_(0, rows_index, grad_rows.view(-1, 3 * dim))
        return grad_table, None, None, None, None, None, None, None


def _windows(rows: Tensor, size: int) -> tuple[Tensor, Tensor, Tensor]:
    """Views of the gathered rows ``[(nb + 1)·size, 3d]`` of nb + 1 consecutive chunks: the queries of chunks
    1..nb ``[nb, size, d]`` and, for each, the keys and values of itself and the chunk before (``[nb, 2·size,
    d]`` each; overlapping windows, no copy)."""
    width = rows.shape[1]
    dim, chunks = width // 3, rows.shape[0] // size - 1
    queries = rows[size:, :dim].unflatten(0, (chunks, size))
    window, stride = (chunks, 2 * size, dim), (size * width, width, 1)
    keys = rows.as_strided(window, stride, rows.storage_offset() + dim)
    values = rows.as_strided(window, stride, rows.storage_offset() + 2 * dim)
    return queries, keys, values


def _mask_logits(logits: Tensor, source: Tensor, crossing: Tensor, pad: int, has_pads: bool) -> None:
    """Set to −inf, in place, the logits ``[nb, size, 2·size]`` (chunks 1.. of ``source [nb + 1, size]`` against
    their look-back chunk and themselves) of pad keys and of the query's own token: the own-chunk diagonal and,
    in the ``crossing`` chunks (0-based among the queries), whose look-back chunk holds another round, the same
    token met again."""
    size = source.shape[1]
    if has_pads:
        is_pad = (source == pad).unfold(0, 2, 1).transpose(1, 2).flatten(1)  # [nb, 2·size]: look-back, own
        logits.masked_fill_(is_pad[:, None, :], -math.inf)
    logits[:, :, size:].diagonal(dim1=-2, dim2=-1).fill_(-math.inf)
    if crossing.numel():
        same = source[crossing + 1][:, :, None] == source[crossing][:, None, :]
        logits[crossing, :, :size] = logits[crossing, :, :size].masked_fill_(same, -math.inf)
