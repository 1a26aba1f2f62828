"""Multi-layer perceptron in the book's style (ch. 5–6: MultiLayerNetExtend): Affine →
[BatchNorm] → activation → [Dropout] per hidden layer, then Affine and a fused loss.
``logistic`` and ``linear`` are its zero-hidden-layer cases."""

from __future__ import annotations

import numpy as np

from .layers import Affine, BatchNorm, Dropout, Relu, Sigmoid, Tanh
from .losses import mean_squared_error, softmax_cross_entropy

ACTIVATIONS = {"relu": Relu, "sigmoid": Sigmoid, "tanh": Tanh}
LOSSES = {"cross_entropy": softmax_cross_entropy, "mse": mean_squared_error}
EVAL_BATCH = 4096  # rows per forward pass in evaluate(), to bound memory


def init_std(init: str, fan_in: int, std: float) -> float:
    """He: √(2/n) (for ReLU), Xavier: √(1/n) as in the book, normal: the given std."""
    return {"he": np.sqrt(2.0 / fan_in), "xavier": np.sqrt(1.0 / fan_in), "normal": std}[init]


class MLP:
    """A fully connected network. ``params`` maps names (W1, b1, gamma1, …) to arrays;
    ``buffers`` holds batch-norm running statistics (saved in checkpoints, not trained)."""

    def __init__(self, input_dim: int, output_dim: int, hidden: list[int], activation: str,
                 init: str, init_std_value: float, weight_decay: float, dropout: float,
                 batch_norm: bool, loss: str, dtype: np.dtype, rng: np.random.Generator):
        self.weight_decay = weight_decay
        self.loss_name = loss
        self.dtype = np.dtype(dtype)
        self.params: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}
        self.layers: list = []
        sizes = [input_dim, *hidden, output_dim]
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
            std = init_std(init, fan_in, init_std_value)
            self.params[f"W{i}"] = (rng.standard_normal((fan_in, fan_out)) * std).astype(self.dtype)
            self.params[f"b{i}"] = np.zeros(fan_out, self.dtype)
            self.layers.append(Affine(self.params, f"W{i}", f"b{i}", input_grad=i > 1))
            if i == len(sizes) - 1:
                break
            if batch_norm:
                self.params[f"gamma{i}"] = np.ones(fan_out, self.dtype)
                self.params[f"beta{i}"] = np.zeros(fan_out, self.dtype)
                self.buffers[f"gamma{i}.running_mean"] = np.zeros(fan_out, self.dtype)
                self.buffers[f"gamma{i}.running_var"] = np.ones(fan_out, self.dtype)
                self.layers.append(BatchNorm(self.params, self.buffers, f"gamma{i}", f"beta{i}"))
            self.layers.append(ACTIVATIONS[activation]())
            if dropout:
                self.layers.append(Dropout(dropout))

    def forward(self, x: np.ndarray, train: bool, rng: np.random.Generator | None = None):
        for layer in self.layers:
            x = layer.forward(x, train, rng)
        return x

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Outputs of the last layer at inference (logits for classification)."""
        return self.forward(x.astype(self.dtype, copy=False), train=False)

    def loss_and_grads(self, x: np.ndarray, t: np.ndarray,
                       rng: np.random.Generator | None = None) -> tuple[float, dict]:
        """One forward and backward pass in training mode: the loss (with the L2 penalty
        ½λΣ‖W‖², the book's coupled weight decay) and gradients keyed like ``params``.
        ``rng`` draws the dropout masks."""
        out = self.forward(x, train=True, rng=rng)
        loss, dout = LOSSES[self.loss_name](out, t)
        grads: dict[str, np.ndarray] = {}
        for layer in reversed(self.layers):
            dout = layer.backward(dout, grads)
        if self.weight_decay:
            lam = self.weight_decay
            for name, w in self.params.items():
                if name.startswith("W"):
                    loss += 0.5 * lam * float(np.dot(w.reshape(-1), w.reshape(-1)))
                    grads[name] += lam * w
        return loss, {k: grads[k] for k in self.params}

    def evaluate(self, x: np.ndarray, t: np.ndarray) -> dict[str, float]:
        """Loss and accuracy (classification) or RMSE (regression) at inference, in batches."""
        total, correct, rows = 0.0, 0, len(x)
        for start in range(0, rows, EVAL_BATCH):
            xb, tb = x[start:start + EVAL_BATCH], t[start:start + EVAL_BATCH]
            out = self.predict(xb)
            loss, _ = LOSSES[self.loss_name](out, tb)
            total += loss * len(xb)
            if self.loss_name == "cross_entropy":
                correct += int(np.count_nonzero(out.argmax(axis=1) == tb))
        loss = total / rows
        if self.loss_name == "cross_entropy":
            return {"val_loss": loss, "val_accuracy": correct / rows}
        return {"val_loss": loss, "val_rmse": float(np.sqrt(loss))}
