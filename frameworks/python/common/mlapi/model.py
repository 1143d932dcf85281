"""The contract's model in numpy: the same splitmix64 weights as workloads/src/model.rs.

numpy is what a Python ML service would use. Its dot products may sum in another order
than the contract's loop (BLAS), which changes only the last bits: the contract allows
1e-9 between implementations, and the conformance corpus checks the golden scores.
"""

import numpy as np

from .contract import FEATURES, label

HIDDEN = 16
LINEAR_SEED = 0x5EED
MLP_SEED = 0x5EED + 1
_MASK = (1 << 64) - 1


def splitmix64(seed: int):
    """Yields splitmix64 outputs (all arithmetic mod 2^64)."""
    state = seed & _MASK
    while True:
        state = (state + 0x9E3779B97F4A7C15) & _MASK
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        yield z ^ (z >> 31)


def _weights(seed: int, n: int) -> np.ndarray:
    g = splitmix64(seed)
    return np.array([(next(g) >> 11) * 2.0**-53 - 0.5 for _ in range(n)], dtype=np.float64)


_lin = _weights(LINEAR_SEED, FEATURES + 1)
LINEAR_W, LINEAR_B = _lin[:FEATURES], float(_lin[FEATURES])
_mlp = _weights(MLP_SEED, HIDDEN * FEATURES + 2 * HIDDEN + 1)
MLP_W1 = _mlp[: HIDDEN * FEATURES].reshape(HIDDEN, FEATURES)
MLP_B1 = _mlp[HIDDEN * FEATURES : HIDDEN * FEATURES + HIDDEN]
MLP_W2 = _mlp[HIDDEN * FEATURES + HIDDEN : HIDDEN * FEATURES + 2 * HIDDEN]
MLP_B2 = float(_mlp[-1])


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def linear(x: np.ndarray) -> np.ndarray:
    """Scores of rows `x` (shape (n, 32) or (32,))."""
    return _sigmoid(LINEAR_B + x @ LINEAR_W)


def mlp(x: np.ndarray) -> np.ndarray:
    """Scores of rows `x` (shape (n, 32) or (32,))."""
    h = np.tanh(MLP_B1 + x @ MLP_W1.T)
    return _sigmoid(MLP_B2 + h @ MLP_W2)


def scores(model: str, rows: list[list[float]]) -> list[float]:
    x = np.asarray(rows, dtype=np.float64)
    return (linear(x) if model == "linear" else mlp(x)).tolist()


def predictions(model: str, inputs, params, make):
    """The predict answer's rows, in input order, each built by `make(id=, score=, label=,
    top_features=)`: the framework's own response type, or `dict`. Every target's predict
    scores through this one function."""
    rows = scores(model, [r.features for r in inputs])
    return [
        make(
            id=r.id,
            score=s,
            label=label(s, params.threshold),
            top_features=top_features(r.features, params.top_k) if params.explain else None,
        )
        for r, s in zip(inputs, rows)
    ]


def top_features(row: list[float], k: int) -> list[int]:
    """Indices of the k largest |w[i]·x[i]| under the linear weights, largest first, ties to
    the lower index (a stable sort on the negated contribution)."""
    contrib = np.abs(LINEAR_W * np.asarray(row, dtype=np.float64))
    return np.argsort(-contrib, kind="stable")[:k].tolist()


def infer_cpu(features: list[float], work: int) -> float:
    """`work` chained MLP passes (docs/contract.md, /v1/infer cpu mode)."""
    f = np.asarray(features, dtype=np.float64)
    x = f.copy()
    s = 0.0
    for _ in range(work):
        x[0] = f[0] + s
        s = float(mlp(x))
    return s


def infer_io(features: list[float]) -> float:
    return float(linear(np.asarray(features, dtype=np.float64)))
