#!/usr/bin/env python3
"""Independent re-implementation of the contract's model (docs/contract.md, "The model").

It shares no code with the Rust crate `workloads`; its printed values are pasted into
workloads/src/model.rs as constants, so a bug common to every Rust server still fails a test.
Run: python3 scripts/crosscheck_model.py
"""
import math

M = (1 << 64) - 1


def splitmix64(seed):
    state = seed
    while True:
        state = (state + 0x9E3779B97F4A7C15) & M
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
        yield z ^ (z >> 31)


def weights(seed):
    g = splitmix64(seed)
    while True:
        yield (next(g) >> 11) * 2.0**-53 - 0.5


def sigmoid(z):
    return 1.0 / (1.0 + math.exp(-z))


def linear_params():
    g = weights(0x5EED)
    w = [next(g) for _ in range(32)]
    return w, next(g)


def mlp_params():
    g = weights(0x5EED + 1)
    w1 = [[next(g) for _ in range(32)] for _ in range(16)]
    b1 = [next(g) for _ in range(16)]
    w2 = [next(g) for _ in range(16)]
    return w1, b1, w2, next(g)


def linear(x):
    w, b = linear_params()
    acc = b
    for i in range(32):
        acc += w[i] * x[i]
    return sigmoid(acc)


def mlp(x):
    w1, b1, w2, b2 = mlp_params()
    acc = b2
    for j in range(16):
        h = b1[j]
        for i in range(32):
            h += w1[j][i] * x[i]
        acc += w2[j] * math.tanh(h)
    return sigmoid(acc)


def top_features(x, k):
    w, _ = linear_params()
    c = [abs(w[i] * x[i]) for i in range(32)]
    return sorted(range(32), key=lambda i: (-c[i], i))[:k]


def infer_cpu(f, work):
    s = 0.0
    for _ in range(work):
        x = list(f)
        x[0] = f[0] + s
        s = mlp(x)
    return s


zeros = [0.0] * 32
ramp = [i / 8.0 - 2.0 for i in range(32)]
print(f"const PY_LINEAR_ZEROS: f64 = {linear(zeros)!r};")
print(f"const PY_MLP_ZEROS: f64 = {mlp(zeros)!r};")
print(f"const PY_LINEAR_RAMP: f64 = {linear(ramp)!r};")
print(f"const PY_MLP_RAMP: f64 = {mlp(ramp)!r};")
print(f"const PY_TOP3_RAMP: [usize; 3] = {top_features(ramp, 3)!r};")
print(f"const PY_CPU3_RAMP: f64 = {infer_cpu(ramp, 3)!r};")
g = splitmix64(0)
print("# splitmix64(0):", [hex(next(g)) for _ in range(3)])
