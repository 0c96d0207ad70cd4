"""fastloss in one minute: values, fused gradients, Hessians, the oracle, threads.

python examples/quickstart.py
"""

import time

import numpy as np

import fastloss as fl
from fastloss import reference

rng = np.random.default_rng(0)

# Regression: one value, and value + gradient in one pass over memory.
pred = rng.normal(size=1_000_000).astype(np.float32)
target = rng.normal(size=1_000_000).astype(np.float32)
print("huber               ", fl.huber(pred, target, delta=0.5))
value, grad = fl.huber.value_and_grad(pred, target, delta=0.5)
print("value_and_grad      ", value, grad.dtype, grad.shape)

# A training loop reuses one gradient buffer with out=.
buf = np.empty_like(pred)
fl.mse.grad(pred, target, out=buf)

# Boosting wants per-element gradient and Hessian.
g, h = fl.binary_cross_entropy_with_logits.grad_hess(
    pred, (target > 0).astype(np.float32), reduction="none"
)
print("bce grad_hess       ", g[:3], h[:3])

# Stable where naive formulas are not: logits of +-inf give the limits.
z = np.array([np.inf, -np.inf, 1e4, -1e4])
y = np.array([1.0, 0.0, 0.0, 1.0])
print("bce at +-inf, +-1e4 ", fl.binary_cross_entropy_with_logits(z, y, reduction="none"))

# Multiclass: class axis last, PyTorch semantics, weights and smoothing.
logits = rng.normal(size=(10_000, 10))
labels = rng.integers(0, 10, size=10_000)
ce = fl.cross_entropy(logits, labels, label_smoothing=0.1)
print(
    "cross_entropy       ",
    ce,
    " reference:",
    reference.cross_entropy(logits, labels, label_smoothing=0.1),
)

# Segmentation: one Dice score per sample and class, then the mean.
p = rng.uniform(size=(4, 3, 64, 64))
t = (rng.uniform(size=p.shape) > 0.5).astype(np.float64)
print("dice per (N, C)     ", fl.dice(p, t, axis=(2, 3)))

# Bitwise the same result for any thread count.
big = rng.normal(size=10_000_000)
zero = np.zeros_like(big)
fl.set_num_threads(1)
t0 = time.perf_counter()
one = fl.mse(big, zero)
t1 = time.perf_counter()
fl.set_num_threads(None)
many = fl.mse(big, zero)
t2 = time.perf_counter()
print(f"mse 1e7, 1 thread   {one!r}  {1e3 * (t1 - t0):.1f} ms")
print(
    f"mse 1e7, {fl.get_num_threads()} threads  {many!r}  {1e3 * (t2 - t1):.1f} ms  "
    f"identical: {one == many}"
)

print(f"\n{len(fl.available())} losses:", ", ".join(fl.available()))
fl.show_config()
