"""A small torch MLP for pair features, as a scikit-learn classifier.

:class:`PairMLP` trains with torch (AdamW, binary cross-entropy, mini-batches, early stopping on a
held-out share of the training pairs, seeds fixed) and keeps the fitted weights as plain NumPy
arrays, so prediction needs no torch and a fitted model saves with skops like any scikit-learn
estimator (no pickle, no torch objects in the file).

Two architectures:

- ``siamese=False`` (default): an MLP on the pair feature vector (e.g. ``sum+hadamard``);
- ``siamese=True``: the input must be ``concat`` features ``[a, b]`` (``2d`` columns); one shared
  gene encoder ``h = enc(x)`` embeds both genes, and the head sees ``[h_a + h_b, h_a * h_b]``, a
  symmetric function of the pair (so ``(a, b)`` and ``(b, a)`` give the same score up to the
  column scaling).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

logger = logging.getLogger(__name__)


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0, out=x)


def _dense(x: np.ndarray, layers: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """ReLU after every layer of ``layers`` (``(W, b)``, ``W`` of shape ``(in, out)``)."""
    for w, b in layers:
        x = _relu(x @ w + b)
    return x


class PairMLP(ClassifierMixin, BaseEstimator):
    """Feed-forward binary classifier on pair features, trained with torch.

    Parameters
    ----------
    hidden_layer_sizes
        Widths of the hidden layers (ReLU, dropout after each). With ``siamese=True`` the first
        ``n_encoder_layers`` of them form the shared gene encoder, the rest the head.
    siamese
        Shared gene encoder on the two halves of ``concat`` features (see module docstring).
    n_encoder_layers
        Number of hidden layers in the gene encoder (``siamese=True`` only).
    dropout
        Dropout rate after each hidden layer (training only).
    learning_rate_init
        AdamW learning rate.
    alpha
        AdamW weight decay.
    batch_size
        Mini-batch size.
    max_iter
        Maximum number of epochs.
    early_stopping
        Hold out ``validation_fraction`` of the training rows and keep the weights of the epoch
        with the lowest validation loss; stop after ``n_iter_no_change`` epochs without
        improvement. ``False``: train ``max_iter`` epochs on everything.
    validation_fraction, n_iter_no_change
        See ``early_stopping``.
    random_state
        Seed of the weight initialisation, the validation cut, dropout and the batch order.
    n_threads
        torch intra-op threads during ``fit`` (restored afterwards); ``None``: leave as is.

    Attributes
    ----------
    classes_
        ``[0, 1]`` (the two labels seen in ``fit``).
    encoder_, head_
        Fitted layers as lists of ``(W, b)`` NumPy arrays (``encoder_`` empty unless siamese).
    out_
        ``(W, b)`` of the output layer.
    n_iter_, best_epoch_, best_loss_, loss_curve_, validation_loss_curve_
        Training trace.
    """

    def __init__(
        self,
        hidden_layer_sizes: Sequence[int] = (512, 128),
        *,
        siamese: bool = False,
        n_encoder_layers: int = 1,
        dropout: float = 0.2,
        learning_rate_init: float = 1e-3,
        alpha: float = 1e-4,
        batch_size: int = 1024,
        max_iter: int = 30,
        early_stopping: bool = True,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 3,
        random_state: int | None = 0,
        n_threads: int | None = None,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.siamese = siamese
        self.n_encoder_layers = n_encoder_layers
        self.dropout = dropout
        self.learning_rate_init = learning_rate_init
        self.alpha = alpha
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.random_state = random_state
        self.n_threads = n_threads

    # ------------------------------------------------------------------ checks
    def _check_params(self, n_features: int) -> tuple[list[int], list[int]]:
        sizes = [int(h) for h in self.hidden_layer_sizes]
        if not sizes or any(h < 1 for h in sizes):
            raise ValueError(
                f"hidden_layer_sizes must be positive widths, e.g. (512, 128); got "
                f"{self.hidden_layer_sizes!r}"
            )
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1); got {self.dropout}")
        if self.early_stopping and not 0 < self.validation_fraction < 1:
            raise ValueError(
                f"validation_fraction must be in (0, 1); got {self.validation_fraction}"
            )
        if self.max_iter < 1 or self.batch_size < 1:
            raise ValueError(
                f"max_iter and batch_size must be >= 1; got {self.max_iter}, {self.batch_size}"
            )
        if not self.siamese:
            return [], sizes
        if n_features % 2:
            raise ValueError(
                f"siamese=True needs 'concat' pair features [a, b] (an even number of columns); "
                f"got {n_features} columns: use features='concat'"
            )
        k = int(self.n_encoder_layers)
        if not 1 <= k <= len(sizes):
            raise ValueError(
                f"n_encoder_layers must be between 1 and len(hidden_layer_sizes)={len(sizes)}; "
                f"got {self.n_encoder_layers}"
            )
        return sizes[:k], sizes[k:]

    # ------------------------------------------------------------------ torch
    def _build(self, n_features: int, enc_sizes: list[int], head_sizes: list[int]):
        import torch
        from torch import nn

        def stack(n_in: int, sizes: list[int]) -> tuple[nn.Sequential, int]:
            layers: list[nn.Module] = []
            for h in sizes:
                layers += [nn.Linear(n_in, h), nn.ReLU(), nn.Dropout(self.dropout)]
                n_in = h
            return nn.Sequential(*layers), n_in

        siamese = bool(self.siamese)
        d_gene = n_features // 2 if siamese else n_features
        encoder, d_enc = stack(d_gene, enc_sizes)
        head, d_head = stack(2 * d_enc if siamese else d_gene, head_sizes)
        out = nn.Linear(d_head, 1)

        class Net(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.encoder, self.head, self.out = encoder, head, out

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                if siamese:
                    ha, hb = self.encoder(x[:, :d_gene]), self.encoder(x[:, d_gene:])
                    x = torch.cat([ha + hb, ha * hb], dim=1)
                return self.out(self.head(x)).squeeze(1)

        return Net()

    def fit(self, X, y) -> PairMLP:
        """Train on ``X`` (``(n, k)`` pair features) and binary labels ``y``."""
        import torch
        from torch import nn

        X = np.ascontiguousarray(np.asarray(X, dtype=np.float32))
        y = np.asarray(y)
        if X.ndim != 2 or len(X) != len(y):
            raise ValueError(f"X must be 2-D with one row per label; got {X.shape}, {y.shape}")
        classes = np.unique(y)
        if len(classes) != 2:
            raise ValueError(f"PairMLP is a binary classifier; y has classes {classes.tolist()}")
        enc_sizes, head_sizes = self._check_params(X.shape[1])
        self.classes_ = classes
        yb = (y == classes[1]).astype(np.float32)

        seed = 0 if self.random_state is None else int(self.random_state)
        rng = np.random.default_rng(seed)
        n = len(X)
        if self.early_stopping:
            perm = rng.permutation(n)
            n_val = max(1, round(self.validation_fraction * n))
            val_idx, tr_idx = np.sort(perm[:n_val]), np.sort(perm[n_val:])
        else:
            val_idx, tr_idx = np.empty(0, np.int64), np.arange(n)

        old_threads = torch.get_num_threads()
        if self.n_threads:
            torch.set_num_threads(int(self.n_threads))
        try:
            torch.manual_seed(seed)
            net = self._build(X.shape[1], enc_sizes, head_sizes)
            opt = torch.optim.AdamW(
                net.parameters(), lr=self.learning_rate_init, weight_decay=self.alpha
            )
            loss_fn = nn.BCEWithLogitsLoss()
            Xt, yt = torch.from_numpy(X), torch.from_numpy(yb)
            gen = torch.Generator().manual_seed(seed)
            best = (np.inf, -1, None)
            losses, val_losses = [], []
            bad = 0
            t0 = time.perf_counter()
            for epoch in range(int(self.max_iter)):
                net.train()
                order = torch.from_numpy(tr_idx)[torch.randperm(len(tr_idx), generator=gen)]
                total = 0.0
                for start in range(0, len(order), int(self.batch_size)):
                    idx = order[start : start + int(self.batch_size)]
                    opt.zero_grad(set_to_none=True)
                    loss = loss_fn(net(Xt[idx]), yt[idx])
                    loss.backward()
                    opt.step()
                    total += float(loss.detach()) * len(idx)
                losses.append(total / len(order))
                if not self.early_stopping:
                    continue
                net.eval()
                with torch.no_grad():
                    vi = torch.from_numpy(val_idx)
                    vloss = float(loss_fn(net(Xt[vi]), yt[vi]))
                val_losses.append(vloss)
                logger.debug("epoch %d: train %.4f valid %.4f", epoch, losses[-1], vloss)
                if vloss < best[0] - 1e-5:
                    state = {k: v.detach().clone() for k, v in net.state_dict().items()}
                    best, bad = (vloss, epoch, state), 0
                else:
                    bad += 1
                    if bad >= int(self.n_iter_no_change):
                        break
            if self.early_stopping and best[2] is not None:
                net.load_state_dict(best[2])
            logger.info(
                "PairMLP: %d epochs in %.1f s (best epoch %d)",
                len(losses),
                time.perf_counter() - t0,
                best[1],
            )
        finally:
            torch.set_num_threads(old_threads)

        def arrays(seq: nn.Sequential) -> list[tuple[np.ndarray, np.ndarray]]:
            return [
                (m.weight.detach().numpy().T.copy(), m.bias.detach().numpy().copy())
                for m in seq
                if isinstance(m, nn.Linear)
            ]

        self.encoder_ = arrays(net.encoder)
        self.head_ = arrays(net.head)
        self.out_ = (
            net.out.weight.detach().numpy().T.copy(),
            net.out.bias.detach().numpy().copy(),
        )
        self.n_features_in_ = X.shape[1]
        self.n_iter_ = len(losses)
        self.best_epoch_ = int(best[1]) if self.early_stopping else len(losses) - 1
        self.best_loss_ = float(best[0]) if self.early_stopping else float(losses[-1])
        self.loss_curve_ = losses
        self.validation_loss_curve_ = val_losses
        return self

    # ------------------------------------------------------------------ numpy inference
    def decision_function(self, X) -> np.ndarray:
        """Logit of the positive class (NumPy forward pass, no torch)."""
        check_is_fitted(self, "out_")
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X must have {self.n_features_in_} columns like the training data; got {X.shape}"
            )
        if self.siamese:
            d = X.shape[1] // 2
            ha = _dense(X[:, :d].copy(), self.encoder_)
            hb = _dense(X[:, d:].copy(), self.encoder_)
            X = np.concatenate([ha + hb, ha * hb], axis=1)
        h = _dense(X.copy(), self.head_)
        return (h @ self.out_[0] + self.out_[1])[:, 0]

    def predict_proba(self, X) -> np.ndarray:
        """``(n, 2)`` class probabilities."""
        z = self.decision_function(X).astype(np.float64)
        p = 1.0 / (1.0 + np.exp(-z))
        return np.column_stack([1.0 - p, p])

    def predict(self, X) -> np.ndarray:
        """Predicted labels (probability >= 0.5)."""
        return self.classes_[(self.decision_function(X) >= 0).astype(int)]
