"""Tests of biobft.train.terms (``loss_terms``, the kernel of every loss) against naive
per-sample Python loops, across chunk sizes, dtypes, micro-batches and devices."""

from __future__ import annotations

import math

import pytest
import torch

from biobft.train.terms import LOSS_NORMALIZATION, loss_terms

# ---------------------------------------------------------------------------------------------
# independent references: float64, full log-softmax, plain Python loops over samples and tokens
# ---------------------------------------------------------------------------------------------


def _naive_targets(logits, labels):
    """Per sample: list of (position, log p) of valid shifted targets, computed in float64."""
    logp_full = torch.log_softmax(logits.double(), dim=-1)
    out = []
    for b in range(labels.shape[0]):
        row = []
        for t in range(labels.shape[1] - 1):
            y = int(labels[b, t + 1])
            if y != -100:
                row.append((t, logp_full[b, t, y]))
        out.append(row)
    return out


def _naive_released_conf(lps, group_size, gamma):
    """Released BFT confidence: exp of the lowest stride-1 window mean of log p, ** gamma."""
    n = len(lps)
    if n < group_size:
        m = sum(lps) / n
    else:
        m = min(sum(lps[s : s + group_size]) / group_size for s in range(n - group_size + 1))
    return min(max(math.exp(m), 0.0), 1.0) ** gamma


def _naive_bft_weights(row, variant, group_size, gamma):
    """One sample's BFT token weights and sample weight ``s_b`` by loops (the issue's formulas)."""
    lps = [float(lp) for _, lp in row]
    ps = [math.exp(x) for x in lps]
    if variant == "released":
        return ps, 1.0 - _naive_released_conf(lps, group_size, gamma)
    cs = []
    for k in range(len(ps)):
        lo = max(0, k - group_size // 2)
        hi = min(len(ps) - 1, k + (group_size - 1) // 2)
        cs.append(sum(ps[lo : hi + 1]) / (hi - lo + 1))
    weights = [min(max(p / (c + 1e-8), 0.0), 1.0) for p, c in zip(ps, cs)]
    return weights, 1.0 - min(cs) ** gamma


def naive_loss(logits, labels, loss_type, *, variant="released", group_size=256, gamma=1.0,
               alpha=1.0):  # fmt: skip
    """Loss (float64, differentiable w.r.t. logits) by loops, straight from the issue's formulas."""
    rows = _naive_targets(logits, labels)
    if loss_type != "bft":
        num = 0.0
        n_tok = 0
        for row in rows:
            for _, lp in row:
                p = math.exp(float(lp))
                w = {
                    "sft": 1.0,
                    "dft": p,
                    "p_alpha": p**alpha,
                    "chord_phi": p * (1 - p),
                }[loss_type]
                num = num + w * (-lp)
                n_tok += 1
        return num / n_tok
    total = 0.0
    for row in rows:
        if not row:
            continue  # L_b = 0
        weights, s_b = _naive_bft_weights(row, variant, group_size, gamma)
        l_b = sum(w * (-lp) for w, (_, lp) in zip(weights, row)) / len(row)
        total = total + s_b * l_b
    return total / len(rows)


LOSS_KW = [
    ("sft", {}),
    ("dft", {}),
    ("p_alpha", {"alpha": 0.5}),
    ("p_alpha", {"alpha": 2.0}),
    ("chord_phi", {}),
    ("bft", {"variant": "released", "group_size": 1}),
    ("bft", {"variant": "released", "group_size": 3}),
    ("bft", {"variant": "released", "group_size": 5, "gamma": 0.5}),
    ("bft", {"variant": "released", "group_size": 256}),
    ("bft", {"variant": "released", "group_size": 4, "gamma": 0.0}),
    ("bft", {"variant": "group_normalized", "group_size": 1}),
    ("bft", {"variant": "group_normalized", "group_size": 4}),
    ("bft", {"variant": "group_normalized", "group_size": 5, "gamma": 2.0}),
    ("bft", {"variant": "group_normalized", "group_size": 256}),
]


@pytest.mark.parametrize(("loss_type", "kw"), LOSS_KW)
def test_loss_and_grad_match_naive_loop(loss_type, kw, random_case):
    logits, labels = random_case()
    x = logits.clone().requires_grad_(True)
    got = loss_terms(x, labels, loss_type, **kw).loss
    got.backward()
    # reference with the same weights detached: differentiate the float64 loop
    xr = logits.double().clone().requires_grad_(True)

    def ref_fn(z):
        # weights must be stop-gradient: evaluate them on a detached copy, loss on z
        return _naive_detached(z, labels, loss_type, **kw)

    ref = ref_fn(xr)
    ref.backward()
    assert got.dtype == torch.float32
    assert got.item() == pytest.approx(float(ref.detach()), rel=1e-5, abs=1e-7)
    torch.testing.assert_close(x.grad, xr.grad.float(), rtol=1e-4, atol=1e-6)


def _naive_detached(z, labels, loss_type, **kw):
    """naive_loss with every weight computed from a detached copy (only -log p carries gradient)."""
    # value = sum_i c_i * (-logp_i) where c_i are constants derived from detached quantities
    detached = z.detach()
    with torch.no_grad():
        base = naive_loss(detached, labels, loss_type, **kw)
    # numerical trick: c_i = d base / d(-logp_i) is not available from a float; recompute explicitly
    coeffs = _naive_coefficients(detached, labels, loss_type, **kw)
    logp = torch.log_softmax(z, dim=-1)
    total = z.new_zeros(())
    for (b, t, y), c in coeffs.items():
        total = total + c * (-logp[b, t, y])
    assert float(total.detach()) == pytest.approx(float(base), rel=1e-9, abs=1e-12)
    return total


def _naive_coefficients(z, labels, loss_type, *, variant="released", group_size=256, gamma=1.0,
                        alpha=1.0):  # fmt: skip
    """{(b, t, target): constant coefficient of -log p} by loops (the issue's formulas)."""
    rows = _naive_targets(z, labels)
    out = {}
    if loss_type != "bft":
        n_tok = sum(len(r) for r in rows)
        for b, row in enumerate(rows):
            for t, lp in row:
                p = math.exp(float(lp))
                w = {"sft": 1.0, "dft": p, "p_alpha": p**alpha, "chord_phi": p * (1 - p)}[loss_type]
                out[(b, t, int(labels[b, t + 1]))] = w / n_tok
        return out
    for b, row in enumerate(rows):
        if not row:
            continue
        weights, s_b = _naive_bft_weights(row, variant, group_size, gamma)
        for (t, _), w in zip(row, weights):
            out[(b, t, int(labels[b, t + 1]))] = s_b * w / len(row) / len(rows)
    return out


# ---------------------------------------------------------------------------------------------
# chunking, dtypes, accumulation
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("loss_type", "kw"), [LOSS_KW[1], LOSS_KW[6], LOSS_KW[11]])
def test_chunk_size_does_not_change_loss_or_grad(loss_type, kw, random_case):
    logits, labels = random_case(seed=4)
    results = []
    for chunk in (1, 5, None):
        x = logits.clone().requires_grad_(True)
        loss_terms(x, labels, loss_type, chunk_size=chunk, **kw).loss.backward()
        results.append(x.grad)
    torch.testing.assert_close(results[0], results[1], rtol=1e-6, atol=1e-8)
    torch.testing.assert_close(results[0], results[2], rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize(("loss_type", "kw"), [LOSS_KW[2], LOSS_KW[7], LOSS_KW[12]])
def test_bf16_logits_close_to_fp32_reference(loss_type, kw, random_case):
    logits, labels = random_case(seed=6, vocab=64)
    x16 = logits.bfloat16().requires_grad_(True)
    loss16 = loss_terms(x16, labels, loss_type, **kw).loss
    loss16.backward()
    x32 = logits.bfloat16().float().requires_grad_(True)  # same rounded values, fp32 maths
    loss32 = loss_terms(x32, labels, loss_type, **kw).loss
    loss32.backward()
    assert loss16.dtype == torch.float32
    assert x16.grad.dtype == torch.bfloat16
    assert loss16.item() == pytest.approx(loss32.item(), rel=1e-5)
    torch.testing.assert_close(x16.grad.float(), x32.grad, rtol=2e-2, atol=1e-4)


@pytest.mark.parametrize(("loss_type", "kw"), [LOSS_KW[0], LOSS_KW[4], LOSS_KW[6], LOSS_KW[11]])
def test_micro_batches_with_global_count_sum_to_full_batch(loss_type, kw, random_case):
    logits, labels = random_case(seed=7, bsz=4)
    full = loss_terms(logits, labels[:, :], loss_type, **kw).loss
    if LOSS_NORMALIZATION[loss_type] == "tokens":
        count = int((labels[:, 1:] != -100).sum())
    else:
        count = labels.shape[0]
    parts = [
        loss_terms(
            logits[i : i + 2], labels[i : i + 2], loss_type, num_items_in_batch=torch.tensor(count),
            **kw,
        ).loss
        for i in (0, 2)
    ]  # fmt: skip
    # the second micro-batch holds the sample without a valid token plus one valid sample
    assert sum(parts).item() == pytest.approx(full.item(), rel=1e-6)


def test_no_fp32_copy_of_full_logits_is_saved_for_backward():
    bsz, seq, vocab = 2, 16, 512
    logits = torch.randn(bsz, seq, vocab).bfloat16().requires_grad_(True)
    labels = torch.randint(0, vocab, (bsz, seq))
    big = []

    def pack(t):
        if t.numel() >= bsz * seq * vocab // 4:
            big.append((t.dtype, t.numel(), t.untyped_storage().data_ptr()))
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        for loss_type in LOSS_NORMALIZATION:
            loss_terms(logits, labels, loss_type, group_size=4, chunk_size=8).loss.backward()
    # the only large saved tensor is the logits themselves (bf16, same storage)
    assert big
    assert all(d == torch.bfloat16 for d, _, _ in big)
    assert {ptr for _, _, ptr in big} == {logits.untyped_storage().data_ptr()}


@pytest.mark.gpu
@pytest.mark.parametrize(("loss_type", "kw"), LOSS_KW)
def test_loss_and_grad_on_cuda_match_cpu(loss_type, kw, random_case):
    logits, labels = random_case()
    cpu = logits.clone().requires_grad_(True)
    ref = loss_terms(cpu, labels, loss_type, **kw).loss
    ref.backward()
    gpu = logits.cuda().requires_grad_(True)
    got = loss_terms(gpu, labels.cuda(), loss_type, **kw).loss
    got.backward()
    assert got.device.type == "cuda"
    assert got.item() == pytest.approx(ref.item(), rel=1e-5, abs=1e-7)
    torch.testing.assert_close(gpu.grad.cpu(), cpu.grad, rtol=1e-4, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# every LossTerms field, every default and every message (issue 15's mutation run of terms.py)
# ---------------------------------------------------------------------------------------------
def _naive_fields(logits, labels, loss_type, *, variant="released", group_size=256, gamma=1.0,
                  alpha=1.0):  # fmt: skip
    """(token_weights [B, T], sample_weights [B], group_confidence [B], valid [B, T]) by loops."""
    bsz, seq = labels.shape
    tw = torch.zeros(bsz, seq, dtype=torch.float64)
    valid = torch.zeros(bsz, seq, dtype=torch.bool)
    sw = torch.ones(bsz, dtype=torch.float64)
    conf = torch.zeros(bsz, dtype=torch.float64)
    for b, row in enumerate(_naive_targets(logits, labels)):
        lps = [float(lp) for _, lp in row]
        for t, _ in row:
            valid[b, t] = True
        if loss_type == "bft":
            weights, s_b = _naive_bft_weights(row, variant, group_size, gamma) if row else ([], 0.0)
            sw[b] = s_b if row else 1.0 - 0.0**gamma
        else:
            w = {"sft": lambda p: 1.0, "dft": lambda p: p, "p_alpha": lambda p: p**alpha,
                 "chord_phi": lambda p: p * (1 - p)}[loss_type]  # fmt: skip
            weights = [w(math.exp(lp)) for lp in lps]
        for (t, _), w_t in zip(row, weights):
            tw[b, t] = w_t
        if not row:
            continue  # confidence 0 without a valid token, as in the released code
        if loss_type == "bft" and variant == "group_normalized":
            conf[b] = 1.0 - _naive_bft_weights(row, variant, group_size, 1.0)[1]  # min_t C_t
        else:
            conf[b] = _naive_released_conf(lps, group_size, 1.0)
    return tw, sw, conf, valid


@pytest.mark.parametrize(("loss_type", "kw"), LOSS_KW)
@pytest.mark.parametrize("one_token", [False, True])
def test_loss_terms_fields_match_naive_loop(loss_type, kw, one_token, random_case):
    logits, labels = random_case(seed=12)
    if one_token:  # sample 1 keeps a single valid target: its mean is over one token
        labels[1] = -100
        labels[1, 6] = 3
    terms = loss_terms(logits, labels, loss_type, **kw)
    tw, sw, conf, valid = _naive_fields(logits, labels, loss_type, **kw)
    assert terms.loss.item() == pytest.approx(
        float(naive_loss(logits, labels, loss_type, **kw)), rel=1e-5, abs=1e-7
    )
    assert terms.valid.dtype == torch.bool and torch.equal(terms.valid, valid)
    torch.testing.assert_close(terms.token_weights.double(), tw, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(terms.sample_weights.double(), sw, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(terms.group_confidence.double(), conf, rtol=1e-5, atol=1e-7)
    for field in (terms.token_weights, terms.sample_weights, terms.group_confidence):
        assert not field.requires_grad


def _long_case():
    """One sample of 300 targets (more than the default group_size of 256) with probabilities
    set by hand: 256 less confident tokens between confident ones, so that the lowest window of
    256 tokens differs from those of 255 and 257."""
    probs = [0.99] * 22 + [0.85, 0.95] * 128 + [0.99] * 22
    vocab = 8
    logits = torch.zeros(1, len(probs) + 1, vocab)
    for i, p in enumerate(probs):  # p = e^a / (e^a + V - 1)
        logits[0, i, 0] = math.log(p * (vocab - 1) / (1 - p))
    labels = torch.zeros(1, len(probs) + 1, dtype=torch.long)
    labels[0, 0] = -100
    return logits, labels


def test_loss_terms_defaults_are_the_documented_ones():
    logits, labels = _long_case()
    ref = float(naive_loss(logits, labels, "bft", variant="released", group_size=256, gamma=1.0))
    for other in (naive_loss(logits, labels, "bft", group_size=257),
                  naive_loss(logits, labels, "bft", group_size=255),
                  naive_loss(logits, labels, "bft", gamma=2.0),
                  naive_loss(logits, labels, "bft", variant="group_normalized")):  # fmt: skip
        assert abs(float(other) - ref) > 1e-4 * ref  # the case tells the defaults apart
    assert loss_terms(logits, labels).loss.item() == pytest.approx(ref, rel=1e-5)
    dft = float(naive_loss(logits, labels, "dft"))
    assert loss_terms(logits, labels, "p_alpha").loss.item() == pytest.approx(dft, rel=1e-5)
    # the group-confidence diagnostic of token-mean losses uses the same default window
    lps = [float(lp) for _, lp in _naive_targets(logits, labels)[0]]
    conf = loss_terms(logits, labels, "sft").group_confidence.item()
    assert conf == pytest.approx(_naive_released_conf(lps, 256, 1.0), rel=1e-5)
    assert abs(_naive_released_conf(lps, 257, 1.0) - conf) > 1e-4


@pytest.mark.parametrize(("loss_type", "kw"), [LOSS_KW[0], LOSS_KW[4], LOSS_KW[7]])
def test_num_items_in_batch_is_the_denominator(loss_type, kw, random_case):
    logits, labels = random_case(seed=13)
    rows = _naive_targets(logits, labels)
    local = len(rows) if loss_type == "bft" else sum(len(r) for r in rows)
    total = float(naive_loss(logits, labels, loss_type, **kw)) * local  # the weighted sum
    for n in (1, 2, torch.tensor(7), torch.tensor(7.0, dtype=torch.float64)):
        got = loss_terms(logits, labels, loss_type, num_items_in_batch=n, **kw).loss
        assert got.dtype == torch.float32  # whatever the type of the count
        assert got.item() == pytest.approx(total / float(n), rel=1e-5)
    with pytest.raises(ValueError, match=r"^num_items_in_batch must be > 0, got -1$"):
        loss_terms(logits, labels, loss_type, num_items_in_batch=-1, **kw)


def test_loss_terms_errors_name_the_problem(random_case):
    logits, labels = random_case()
    names = "sft, dft, bft, p_alpha, chord_phi"
    with pytest.raises(ValueError, match=rf"^unknown loss_type 'ce'; valid loss types: {names}$"):
        loss_terms(logits, labels, "ce")
    with pytest.raises(
        ValueError, match=r"^unknown BFT variant 'v2'; valid variants: released, group_normalized$"
    ):
        loss_terms(logits, labels, "bft", variant="v2")
    with pytest.raises(
        ValueError,
        match=r"^labels contain no valid target token \(all -100 after the causal shift\): "
        r"nothing to train on; check the response-only label mask and max_length truncation$",
    ):
        loss_terms(logits, torch.full_like(labels, -100), "dft")
    for bad in (math.nan, math.inf, -0.5):
        with pytest.raises(ValueError, match=r"^alpha must be a finite number >= 0, got "):
            loss_terms(logits, labels, "p_alpha", alpha=bad)
    # alpha = 0 is allowed: the weight p ** 0 = 1 is SFT
    assert loss_terms(logits, labels, "p_alpha", alpha=0.0).loss.item() == pytest.approx(
        float(naive_loss(logits, labels, "sft")), rel=1e-5
    )
    with pytest.raises(ValueError, match=r"^chunk_size must be >= 1"):  # reaches the gather
        loss_terms(logits, labels, "sft", chunk_size=0)


@pytest.mark.gpu
@pytest.mark.parametrize(("loss_type", "kw"), LOSS_KW)
def test_loss_terms_fields_on_cuda_match_cpu(loss_type, kw, random_case):
    # every field lives on the logits' device (a CPU sample-weight vector is invisible on CPU)
    logits, labels = random_case()
    cpu = loss_terms(logits, labels, loss_type, **kw)
    gpu = loss_terms(logits.cuda(), labels.cuda(), loss_type, **kw)
    for name in ("loss", "token_weights", "sample_weights", "group_confidence", "valid"):
        got, ref = getattr(gpu, name), getattr(cpu, name)
        assert got.device.type == "cuda", name
        torch.testing.assert_close(got.cpu(), ref, rtol=1e-5, atol=1e-7)
