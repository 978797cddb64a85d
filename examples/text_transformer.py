"""A small Transformer text classifier, written once and trained on both backends: it reads
strings of letters and learns whether an "a" comes before the first "b", which takes attention
across positions (a bag of letters cannot tell).

    python examples/text_transformer.py [--epochs 12]

Both backends train from the same seed; the script prints their losses and accuracies side by
side, then saves the torch model and loads it on TensorFlow, which must predict the same.
"""

from __future__ import annotations

import argparse
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import bridge as br  # noqa: E402
from bridge import losses, nn, optim  # noqa: E402

LETTERS = "abcdefgh"
LENGTH = 16


def make_data(n: int = 1024, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` strings of 6 to 16 letters, as ids (0 is padding), and 1 where an "a" comes before
    the first "b" (half of them)."""
    rng = np.random.default_rng(seed)
    ids = np.zeros((n, LENGTH), np.int32)
    labels = np.zeros(n, np.int64)
    for row in range(n):
        length = rng.integers(6, LENGTH + 1)
        text = rng.choice(list(LETTERS[2:]), length)
        first, second = rng.choice(length, 2, replace=False)  # where "a" and "b" go
        text[first], text[second] = "a", "b"
        labels[row] = first < second
        ids[row, :length] = [LETTERS.index(c) + 1 for c in text]
    return ids, labels


class TokenAndPositionEmbedding(nn.Layer):
    """Letter embeddings plus position embeddings (keras_hub's TokenAndPositionEmbedding), with
    the padding mask of the letters: the layers after it skip the padding."""

    def __init__(self, vocabulary: int, length: int, dim: int, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary, self.length, self.dim = vocabulary, length, dim
        self.tokens = nn.Embedding(vocabulary, dim, mask_zero=True)
        self.positions = nn.PositionEmbedding(length)

    def call(self, ids):
        tokens = self.tokens(ids)
        return tokens + self.positions(tokens)

    def compute_mask(self, ids, previous_mask):
        return self.tokens.compute_mask(ids, previous_mask)

    def get_config(self):
        return {**super().get_config(), "vocabulary": self.vocabulary, "length": self.length, "dim": self.dim}


class TransformerBlock(nn.Layer):
    """Self-attention and a feed-forward network, each with a residual connection and layer
    normalization (the post-norm block of "Attention is all you need"); padding is neither
    attended to nor changes the mask."""

    def __init__(self, dim: int, heads: int, hidden: int, **kwargs):
        super().__init__(**kwargs)
        self.dim, self.heads, self.hidden = dim, heads, hidden
        self.attention = nn.MultiHeadAttention(heads, dim // heads)
        self.feed_forward = nn.Sequential([nn.Dense(hidden, activation="relu"), nn.Dense(dim)])
        self.norm1, self.norm2 = nn.LayerNormalization(), nn.LayerNormalization()

    def call(self, x, mask=None):
        padding = None if mask is None else mask[:, None, :]  # (batch, 1, keys): no attention to padding
        x = self.norm1(x + self.attention(x, x, attention_mask=padding))
        return self.norm2(x + self.feed_forward(x))

    def compute_mask(self, inputs, previous_mask):
        return previous_mask

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "heads": self.heads, "hidden": self.hidden}


CUSTOM_LAYERS = {"TokenAndPositionEmbedding": TokenAndPositionEmbedding, "TransformerBlock": TransformerBlock}


def build_model() -> nn.Model:
    """Embeddings, one Transformer block, the mean over the letters (not the padding), logits."""
    ids = nn.Input((LENGTH,), dtype="int32", name="ids")
    x = TokenAndPositionEmbedding(len(LETTERS) + 1, LENGTH, 32, name="embed")(ids)
    x = TransformerBlock(32, 4, 64, name="block")(x)
    logits = nn.Dense(2, name="logits")(nn.GlobalAveragePooling1D(name="pool")(x))
    model = nn.Model(ids, logits, name="before")
    model.compile(
        optim.Adam(1e-3), losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"]
    )
    return model


def train(backend: str, epochs: int) -> tuple[nn.Model, dict[str, list[float]]]:
    x, y = make_data()
    with br.use_backend(backend):
        br.random.seed(0)
        model = build_model()
        history = model.fit(x, y, epochs=epochs, batch_size=32, seed=0, verbose=0)
    return model, history.history


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12)
    epochs = parser.parse_args().epochs
    runs = {backend: train(backend, epochs) for backend in ("torch", "tensorflow")}
    torch_log, tensorflow_log = runs["torch"][1], runs["tensorflow"][1]
    print("epoch   torch loss  accuracy   tensorflow loss  accuracy")
    for epoch in range(len(torch_log["loss"])):
        print(
            f"{epoch + 1:5d}   {torch_log['loss'][epoch]:10.5f}  {torch_log['accuracy'][epoch]:8.4f}"
            f"   {tensorflow_log['loss'][epoch]:15.5f}  {tensorflow_log['accuracy'][epoch]:8.4f}"
        )
    x, y = make_data(256, seed=1)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "before.bridge")
        torch_model = runs["torch"][0]
        torch_model.save(path)
        with br.use_backend("torch"):
            expected = torch_model.predict(x)
        with br.use_backend("tensorflow"):
            loaded = nn.load_model(path, custom_objects=CUSTOM_LAYERS)
            predicted = loaded.predict(x)
    accuracy = float(np.mean(expected.argmax(axis=1) == y))
    print(f"\naccuracy on 256 new strings: {accuracy:.3f}")
    difference = np.abs(predicted - expected).max()
    print(f"saved on torch, loaded on tensorflow: logits differ by at most {difference:.1e}")
    agree = all(np.allclose(torch_log[k], tensorflow_log[k], rtol=1e-4) for k in torch_log)
    print("torch and tensorflow agree." if agree else "torch and tensorflow DIFFER.")


if __name__ == "__main__":
    main()
