"""Port a PyTorch model to TensorFlow with proof that it is the same model.

    python examples/port_from_pytorch.py [--epochs 5]

1. A small CNN in plain PyTorch learns scikit-learn's handwritten digits (8x8 images) with
   ``torch.optim``.
2. ``bridge.interop.from_torch`` ports it to a bridge model on the TensorFlow backend.
3. ``bridge.testing.assert_equivalent`` proves the port against torch itself: forward passes in
   eval and training mode, layer by layer, the gradients of every weight, and optimizer steps
   taken on both sides; its report is printed.
4. The port is fine-tuned on TensorFlow with bridge's ``fit``, saved with ``model.save``, and
   exported as a TensorFlow SavedModel, which ``tf.saved_model.load`` runs without bridge.
"""

from __future__ import annotations

import argparse
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

import bridge as br  # noqa: E402
from bridge import losses, nn, optim  # noqa: E402
from bridge.interop import from_torch  # noqa: E402
from bridge.testing import assert_equivalent  # noqa: E402


def make_data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The digits as (N, 1, 8, 8) float32 images scaled to [0, 1] (torch's NCHW layout) and
    integer labels, split 80/20 with a fixed seed."""
    images, labels = load_digits(return_X_y=True)
    images = (images / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    order = np.random.default_rng(0).permutation(len(images))
    images, labels = images[order], labels[order].astype(np.int64)
    split = int(0.8 * len(images))
    return images[:split], labels[:split], images[split:], labels[split:]


class DigitsCNN(torch.nn.Module):
    """conv + BatchNorm + ReLU + max pool, conv + ReLU, flatten, a linear classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 8, 3, padding=1)
        self.bn1 = torch.nn.BatchNorm2d(8)
        self.pool = torch.nn.MaxPool2d(2)
        self.conv2 = torch.nn.Conv2d(8, 16, 3, padding=1)
        self.classifier = torch.nn.Linear(16 * 4 * 4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(torch.relu(self.bn1(self.conv1(x))))
        x = torch.relu(self.conv2(x))
        return self.classifier(torch.flatten(x, 1))


def train_natively(model: torch.nn.Module, x: np.ndarray, y: np.ndarray, epochs: int) -> None:
    """Plain PyTorch: Adam, cross-entropy, batches of 32."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    images, labels = torch.as_tensor(x), torch.as_tensor(y)
    generator = torch.Generator().manual_seed(0)
    model.train()
    for epoch in range(epochs):
        total = 0.0
        for batch in torch.randperm(len(images), generator=generator).split(32):
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(images[batch]), labels[batch])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        print(f"   epoch {epoch + 1}: loss {total / len(images):.4f}")


def torch_accuracy(model: torch.nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    model.eval()
    with torch.no_grad():
        return float((model(torch.as_tensor(x)).argmax(1).numpy() == y).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    epochs = parser.parse_args().epochs
    x_train, y_train, x_test, y_test = make_data()

    print("1. PyTorch: train the CNN natively with torch.optim")
    torch.manual_seed(0)
    native = DigitsCNN()
    train_natively(native, x_train, y_train, epochs)
    native.eval()
    print(f"   torch test accuracy: {torch_accuracy(native, x_test, y_test):.4f}")

    print("\n2. Port it to bridge, on the TensorFlow backend")
    with br.use_backend("tensorflow"):
        ported = from_torch(native, torch.as_tensor(x_train[:2]))
        ported.summary()

        print("\n3. Prove the port against torch: forward, gradients and 3 SGD steps on both sides")
        report = assert_equivalent(
            native,
            ported,
            x_train[:16],
            train_steps=3,
            optimizer="sgd",
            learning_rate=0.01,
            loss="sparse_categorical_crossentropy",
            targets=y_train[:16],
        )
        print(report)

        print("\n4. Fine-tune on TensorFlow with bridge's fit")
        ported.compile(
            optim.Adam(1e-3), losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"]
        )
        _, before = ported.evaluate(x_test, y_test, verbose=0)
        ported.fit(x_train, y_train, batch_size=32, epochs=2, seed=0, verbose=0)
        _, after = ported.evaluate(x_test, y_test, verbose=0)
        print(f"   test accuracy on TensorFlow: {before:.4f} before, {after:.4f} after")
        predictions = ported.predict(x_test, verbose=0)

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "digits.bridge")
        print("\n5. Save it with model.save, load it back (on torch, for a change)")
        ported.save(path)
        with br.use_backend("torch"):
            loaded = nn.load_model(path)
            difference = np.abs(loaded.predict(x_test, verbose=0) - predictions).max()
        print(f"   loaded on torch: logits differ by at most {difference:.1e}")

        print("\n6. Export a TensorFlow SavedModel and run it with tf.saved_model.load, without bridge")
        import tensorflow as tf

        saved = os.path.join(folder, "digits_saved_model")
        ported.export(saved, format="saved_model")
        serve = tf.saved_model.load(saved).signatures["serving_default"]
        served = next(iter(serve(tf.constant(x_test)).values())).numpy()
        difference = np.abs(served - predictions).max()
        print(f"   SavedModel outputs differ from the bridge model's by at most {difference:.1e}")
    print("\nported, proven, fine-tuned, saved and exported.")


if __name__ == "__main__":
    main()
