"""Tests of biobft.train.losses: analytic values, BFT weights, the registry and bad input.

The naive-loop oracle of the kernel under every loss type is in ``test_terms.py``.
"""

from __future__ import annotations

import math

import pytest
import torch

from biobft.train import losses as L


# ---------------------------------------------------------------------------------------------
# analytic values
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("vocab", [2, 7, 50])
def test_uniform_logits_analytic(vocab):
    logits = torch.zeros(3, 6, vocab)
    labels = torch.randint(0, vocab, (3, 6), generator=torch.Generator().manual_seed(1))
    labels[:, :2] = -100
    p, logv = 1.0 / vocab, math.log(vocab)
    assert L.sft_loss(logits, labels).item() == pytest.approx(logv, rel=1e-6)
    assert L.dft_loss(logits, labels).item() == pytest.approx(p * logv, rel=1e-6)
    assert L.p_alpha_loss(logits, labels, alpha=3.0).item() == pytest.approx(p**3 * logv, rel=1e-5)
    assert L.chord_phi_loss(logits, labels).item() == pytest.approx(p * (1 - p) * logv, rel=1e-6)
    for g in (1, 2, 100):
        released = L.bft_loss(logits, labels, group_size=g).item()
        assert released == pytest.approx((1 - p) * p * logv, rel=1e-6)
        gn = L.bft_loss(logits, labels, variant="group_normalized", group_size=g).item()
        assert gn == pytest.approx((1 - p) * logv, rel=1e-6)  # w_t = p / (p + 1e-8) ~ 1
    assert L.bft_loss(logits, labels, gamma=2.0).item() == pytest.approx(
        (1 - p**2) * p * logv, rel=1e-6
    )
    # matches torch's cross-entropy for SFT
    ref = torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, vocab), labels[:, 1:].reshape(-1), ignore_index=-100
    )
    assert L.sft_loss(logits, labels).item() == pytest.approx(ref.item(), rel=1e-6)


def test_sft_matches_cross_entropy_on_random_logits(random_case):
    logits, labels = random_case(seed=3, bsz=3, seq=20, vocab=30)
    x1 = logits.clone().requires_grad_(True)
    x2 = logits.clone().requires_grad_(True)
    L.sft_loss(x1, labels, chunk_size=7).backward()
    ref = torch.nn.functional.cross_entropy(
        x2[:, :-1].reshape(-1, 30), labels[:, 1:].reshape(-1), ignore_index=-100
    )
    ref.backward()
    torch.testing.assert_close(x1.grad, x2.grad, rtol=1e-5, atol=1e-7)


def test_all_valid_rows_path_matches_masked_path():
    # every row valid (fast slicing path) vs the same rows through the index path
    g = torch.Generator().manual_seed(5)
    logits = torch.randn(2, 5, 9, generator=g)
    labels = torch.randint(0, 9, (2, 5), generator=g)
    logp, valid = L.target_log_probs(logits, labels)
    ref = torch.log_softmax(logits, -1)[:, :-1].gather(2, labels[:, 1:, None])[..., 0]
    torch.testing.assert_close(logp[:, :-1], ref)
    assert not valid[:, -1].any() and valid[:, :-1].all()


# ---------------------------------------------------------------------------------------------
# intended behaviour on hand-made sequences
# ---------------------------------------------------------------------------------------------
def _logits_for_probs(probs, vocab=8):
    """Logits [1, T+1, V] and labels whose i-th target has probability probs[i] (target id 0)."""
    seq = len(probs) + 1
    logits = torch.zeros(1, seq, vocab)
    for i, p in enumerate(probs):
        # p = e^a / (e^a + (V - 1))  =>  a = log(p (V - 1) / (1 - p))
        logits[0, i, 0] = math.log(p * (vocab - 1) / (1 - p))
    labels = torch.zeros(1, seq, dtype=torch.long)
    labels[0, 0] = -100
    return logits, labels


def test_target_probabilities_helper_is_exact():
    probs = [0.9, 0.5, 0.01]
    logits, labels = _logits_for_probs(probs)
    logp, _ = L.target_log_probs(logits, labels)
    torch.testing.assert_close(logp[0, :3].exp(), torch.tensor(probs), rtol=1e-5, atol=1e-7)


def test_group_normalized_downweights_isolated_low_p_token_but_not_dense_run():
    isolated = [0.95] * 10 + [0.02] + [0.95] * 10
    dense = [0.95] * 5 + [0.02] * 11 + [0.95] * 5
    tw_iso, _ = L.bft_weights(
        *_logits_for_probs(isolated), variant="group_normalized", group_size=5
    )
    tw_dense, _ = L.bft_weights(*_logits_for_probs(dense), variant="group_normalized", group_size=5)
    # weights are aligned with labels: the i-th target sits at label position i + 1
    w_iso = tw_iso[0, 11].item()
    w_dense = tw_dense[0, 11].item()  # centre of the low-p run
    c_iso = (4 * 0.95 + 0.02) / 5
    assert w_iso == pytest.approx(0.02 / c_iso, rel=1e-4)
    assert w_iso < 0.03
    assert w_dense == pytest.approx(1.0, abs=1e-6)
    # confident neighbours of the isolated token keep weight 1 (p > local mean)
    assert tw_iso[0, 10].item() == pytest.approx(1.0)
    # DFT-style released variant weights the same token by p only
    tw_rel, _ = L.bft_weights(*_logits_for_probs(isolated), variant="released", group_size=5)
    assert tw_rel[0, 11].item() == pytest.approx(0.02, rel=1e-4)


@pytest.mark.parametrize("variant", L.BFT_VARIANTS)
def test_low_confidence_window_gets_larger_sample_weight(variant):
    confident = [0.9] * 20
    weak = [0.9] * 8 + [0.05] * 4 + [0.9] * 8
    logits = torch.cat([_logits_for_probs(confident)[0], _logits_for_probs(weak)[0]])
    labels = torch.cat([_logits_for_probs(confident)[1], _logits_for_probs(weak)[1]])
    _, sw = L.bft_weights(logits, labels, variant=variant, group_size=4)
    assert sw[1] > sw[0] + 0.5
    if variant == "released":
        assert sw[0].item() == pytest.approx(0.1, rel=1e-4)
        assert sw[1].item() == pytest.approx(0.95, rel=1e-4)
        assert L.lowest_group_confidence(logits, labels, group_size=4).tolist() == pytest.approx(
            [0.9, 0.05], rel=1e-4
        )


def test_released_window_is_geometric_mean_of_min_window():
    probs = [0.9, 0.1, 0.2, 0.9, 0.9]
    logits, labels = _logits_for_probs(probs)
    conf = L.lowest_group_confidence(logits, labels, group_size=2).item()
    assert conf == pytest.approx(math.sqrt(0.1 * 0.2), rel=1e-5)
    # fewer valid tokens than the group size: geometric mean of all of them
    conf_all = L.lowest_group_confidence(logits, labels, group_size=6).item()
    assert conf_all == pytest.approx(math.prod(probs) ** (1 / 5), rel=1e-5)


def test_diagnostic_weights_shape_and_sample_without_tokens(random_case):
    logits, labels = random_case(seed=8)
    tw, sw = L.bft_weights(logits, labels, group_size=3)
    assert tw.shape == labels.shape and sw.shape == (labels.shape[0],)
    assert (tw[labels == -100] == 0).all() and (tw[:, 0] == 0).all()
    assert sw[3].item() == 1.0  # no valid token: p_conf = 0 as in the released code


# ---------------------------------------------------------------------------------------------
# registry and bad input
# ---------------------------------------------------------------------------------------------
def test_registry_and_wrapper(random_case):
    assert set(L.LOSS_REGISTRY) == {"sft", "dft", "bft", "p_alpha", "chord_phi"}
    assert list(L.LOSS_REGISTRY) == list(L.LOSS_NORMALIZATION)  # loss_terms checks names there
    assert L.get_loss("dft") is L.dft_loss
    logits, labels = random_case(seed=9)
    seen = []
    fn = L.make_loss_func("bft", group_size=3, on_terms=seen.append)
    assert fn.normalization == "samples"
    out = fn({"logits": logits}, labels)
    assert out.item() == pytest.approx(L.bft_loss(logits, labels, group_size=3).item())
    assert len(seen) == 1 and seen[0].sample_weights.shape == (4,)
    assert fn((logits,), labels, num_items_in_batch=8).item() == pytest.approx(out.item() / 2)


def test_bad_inputs_raise_clear_errors(random_case):
    logits, labels = random_case()
    with pytest.raises(ValueError, match="no valid target token"):
        L.sft_loss(logits, torch.full_like(labels, -100))
    with pytest.raises(ValueError, match="no valid target token"):
        L.bft_loss(logits, torch.full_like(labels, -100))
    with pytest.raises(ValueError, match=r"labels shape \(4, 11\) does not match"):
        L.dft_loss(logits, labels[:, 1:])
    with pytest.raises(ValueError, match="group_size must be an integer >= 1"):
        L.bft_loss(logits, labels, group_size=0)
    with pytest.raises(ValueError, match=r"gamma .* must be a finite number >= 0"):
        L.bft_loss(logits, labels, gamma=-0.5)
    with pytest.raises(ValueError, match="unknown loss_type 'ce'; valid loss types: sft, dft, bft"):
        L.get_loss("ce")
    with pytest.raises(ValueError, match="unknown loss_type"):
        L.make_loss_func("ce")
    with pytest.raises(ValueError, match="unknown BFT variant 'v2'; valid variants: released"):
        L.bft_loss(logits, labels, variant="v2")
    with pytest.raises(ValueError, match="group_size"):
        L.make_loss_func("bft", group_size=-1)
    with pytest.raises(ValueError, match="alpha must be"):
        L.p_alpha_loss(logits, labels, alpha=-1.0)
    with pytest.raises(TypeError, match="must be torch tensors"):
        L.sft_loss(logits.numpy(), labels)
    with pytest.raises(ValueError, match="num_items_in_batch must be > 0"):
        L.sft_loss(logits, labels, num_items_in_batch=0)


@pytest.mark.parametrize("n_prompt", [2, 14])  # mostly valid rows / mostly ignored rows
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_both_row_paths_match_cross_entropy(n_prompt, dtype):
    g = torch.Generator().manual_seed(11)
    logits = torch.randn(3, 16, 13, generator=g).to(dtype)
    labels = torch.randint(0, 13, (3, 16), generator=g)
    labels[:, :n_prompt] = -100
    x1 = logits.clone().requires_grad_(True)
    x2 = logits.float().clone().requires_grad_(True)
    loss = L.sft_loss(x1, labels, chunk_size=4)
    loss.backward()
    ref = torch.nn.functional.cross_entropy(
        x2[:, :-1].reshape(-1, 13), labels[:, 1:].reshape(-1), ignore_index=-100
    )
    ref.backward()
    assert loss.item() == pytest.approx(ref.item(), rel=1e-5)
    tol = 1e-6 if dtype == torch.float32 else 1e-2
    torch.testing.assert_close(x1.grad.float(), x2.grad, rtol=tol, atol=tol)
    assert (x1.grad[:, : n_prompt - 1] == 0).all()  # rows whose target is ignored get no gradient


@pytest.mark.parametrize(
    ("labels", "exc", "match"),
    [
        (torch.tensor([[-100, 2, 7]]), ValueError, r"1 label\(s\).*value 7 at.*\[\(0, 2\)\]"),
        (torch.tensor([[-100, -1, 3]]), ValueError, r"value -1 at.*\[\(0, 1\)\]"),
        (torch.tensor([[-100.0, 2.0, 3.0]]), TypeError, r"integer tensor.*labels\.long\(\)"),
        (torch.tensor([[False, True, True]]), TypeError, "integer tensor"),
    ],
)
def test_labels_out_of_range_or_wrong_dtype(labels, exc, match):
    """Issue 12 case 14: one clear error instead of a bare torch RuntimeError / IndexError."""
    logits = torch.zeros(1, 3, 5)
    with pytest.raises(exc, match=match):
        L.sft_loss(logits, labels)
    L.sft_loss(logits, torch.tensor([[-100, 0, 4]]))  # the edges of the vocabulary are fine


# ---------------------------------------------------------------------------------------------
# every public option reaches the kernel, every default is the documented one (issue 15's
# mutation run of losses.py): references are loops over hand-set target probabilities
# ---------------------------------------------------------------------------------------------
def _released_reference(probs, group_size, gamma):
    """One sample's released BFT loss from its target probabilities, by loops."""
    lps = [math.log(p) for p in probs]
    n = len(lps)
    if n < group_size:
        m = sum(lps) / n
    else:
        m = min(sum(lps[s : s + group_size]) / group_size for s in range(n - group_size + 1))
    conf = min(max(math.exp(m), 0.0), 1.0) ** gamma
    return (1.0 - conf) * sum(p * -lp for p, lp in zip(probs, lps)) / n


def _group_normalized_reference(probs, group_size, gamma):
    """One sample's group-normalised BFT loss (windows centred on each token, clipped)."""
    n = len(probs)
    cs = []
    for k in range(n):
        lo, hi = max(0, k - group_size // 2), min(n - 1, k + (group_size - 1) // 2)
        cs.append(sum(probs[lo : hi + 1]) / (hi - lo + 1))
    ws = [min(max(p / (c + 1e-8), 0.0), 1.0) for p, c in zip(probs, cs)]
    return (1.0 - min(cs) ** gamma) * sum(w * -math.log(p) for w, p in zip(ws, probs)) / n


def _token_mean_reference(probs, weight):
    return sum(weight(p) * -math.log(p) for p in probs) / len(probs)


@pytest.fixture(scope="module")
def long_case():
    """300 target probabilities (more than the default group_size of 256) and their logits: a run
    of exactly 256 less confident tokens between confident ones, so that the lowest window of 256
    tokens differs from that of 255 or 257."""
    probs = [0.99] * 22 + [0.85, 0.95] * 128 + [0.99] * 22
    return probs, *_logits_for_probs(probs)


def test_long_case_separates_the_default_options(long_case):
    # the reference values below tell the documented defaults from their neighbours
    probs = long_case[0]
    ref = _released_reference(probs, 256, 1.0)
    others = [
        _released_reference(probs, 257, 1.0),
        _released_reference(probs, 255, 1.0),
        _released_reference(probs, 256, 2.0),
        _group_normalized_reference(probs, 256, 1.0),
        _token_mean_reference(probs, lambda p: p),
    ]
    for other in others:
        assert abs(other - ref) > 1e-4 * ref


def test_public_defaults_are_the_documented_ones(long_case):
    probs, logits, labels = long_case
    released = _released_reference(probs, 256, 1.0)  # variant, group_size, gamma defaults
    assert L.bft_loss(logits, labels).item() == pytest.approx(released, rel=1e-5)
    fn = L.make_loss_func()
    assert fn.loss_type == "bft" and fn.normalization == "samples"
    assert fn({"logits": logits}, labels).item() == pytest.approx(released, rel=1e-5)
    dft = _token_mean_reference(probs, lambda p: p)  # alpha = 1 is DFT
    assert L.p_alpha_loss(logits, labels).item() == pytest.approx(dft, rel=1e-5)
    fn = L.make_loss_func("p_alpha")
    assert fn.loss_type == "p_alpha" and fn.normalization == "tokens"
    assert fn((logits,), labels).item() == pytest.approx(dft, rel=1e-5)


@pytest.mark.parametrize(
    ("loss_type", "kw", "reference"),
    [
        ("sft", {}, lambda q: _token_mean_reference(q, lambda p: 1.0)),
        ("dft", {}, lambda q: _token_mean_reference(q, lambda p: p)),
        ("p_alpha", {"alpha": 2.0}, lambda q: _token_mean_reference(q, lambda p: p**2)),
        ("p_alpha", {"alpha": 0.0}, lambda q: _token_mean_reference(q, lambda p: 1.0)),
        ("chord_phi", {}, lambda q: _token_mean_reference(q, lambda p: p * (1 - p))),
        ("bft", {"group_size": 7, "gamma": 0.5}, lambda q: _released_reference(q, 7, 0.5)),
        (
            "bft",
            {"variant": "group_normalized", "group_size": 4, "gamma": 2.0},
            lambda q: _group_normalized_reference(q, 4, 2.0),
        ),
    ],
)
def test_make_loss_func_passes_every_option(loss_type, kw, reference, long_case):
    probs, logits, labels = long_case
    ref = reference(probs)
    fn = L.make_loss_func(loss_type, **kw)
    assert fn.loss_type == loss_type
    assert fn({"logits": logits}, labels).item() == pytest.approx(ref, rel=1e-5)
    # num_items_in_batch is the denominator: 3 samples / tokens instead of the local 1 / 300
    local = 1 if loss_type == "bft" else len(probs)
    got = fn({"logits": logits}, labels, num_items_in_batch=3).item()
    assert got == pytest.approx(ref * local / 3, rel=1e-5)
    # the public function of the same name gives the same value and honours the same options
    pub = L.get_loss(loss_type)
    assert pub(logits, labels, **kw).item() == pytest.approx(ref, rel=1e-5)
    got = pub(logits, labels, num_items_in_batch=torch.tensor(3), **kw).item()
    assert got == pytest.approx(ref * local / 3, rel=1e-5)


@pytest.mark.parametrize("loss_type", list(L.LOSS_REGISTRY))
def test_chunk_size_reaches_the_gather(loss_type, random_case):
    # chunk_size only changes memory, so it is checked by its validation in the gather
    logits, labels = random_case()
    with pytest.raises(ValueError, match=r"chunk_size must be >= 1"):
        L.get_loss(loss_type)(logits, labels, chunk_size=0)
    with pytest.raises(ValueError, match=r"chunk_size must be >= 1"):
        L.make_loss_func(loss_type, chunk_size=0)((logits,), labels)


def test_make_loss_func_errors_name_the_problem(random_case):
    logits, _ = random_case()
    with pytest.raises(
        ValueError, match=r"^unknown BFT variant 'v2'; valid variants: released, group_normalized$"
    ):
        L.make_loss_func("bft", variant="v2")
    fn = L.make_loss_func("sft")
    msg = r"^the loss needs labels: the batch has no 'labels' entry$"
    with pytest.raises(ValueError, match=msg):
        fn({"logits": logits}, None)
