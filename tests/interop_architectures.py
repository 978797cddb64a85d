"""Real architectures written in plain PyTorch and plain Keras 3, with no bridge in them: the
native side of tests/test_ported_architectures.py (import, prove, train on the other framework,
save and load, export back).

The torch models are built here (torch may be imported in tests); the Keras model is a program
(``KERAS_CNN``) run in a subprocess per ``KERAS_BACKEND`` (Keras is never imported in the pytest
process), which builds the model and then runs the checks that the test module appends to it."""

from __future__ import annotations

import torch
from torch import nn


class BasicBlock(nn.Module):
    """torchvision's ResNet BasicBlock: two 3x3 conv + BN, a 1x1 conv + BN shortcut where the
    stride or the width changes, the residual add, ReLU."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet18(nn.Module):
    """torchvision's ``resnet18`` structure (conv1 7x7/2 + BN + ReLU + 3x3/2 max pool, four stages
    of two BasicBlocks, adaptive average pool, fc), with stage widths ``width * (1, 2, 4, 8)``
    (torchvision: width 64) so that tests can keep it small. Takes NCHW images."""

    def __init__(self, width: int = 64, num_classes: int = 1000, in_channels: int = 3) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 7, 2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, padding=1)
        widths = [width * 2**i for i in range(4)]
        stages, inplanes = [], width
        for i, planes in enumerate(widths):
            stride = 1 if i == 0 else 2
            stages.append(nn.Sequential(BasicBlock(inplanes, planes, stride), BasicBlock(planes, planes)))
            inplanes = planes
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[-1], num_classes)
        for module in self.modules():  # torchvision's initialization
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


class TransformerClassifier(nn.Module):
    """Token ids -> nn.Embedding -> two nn.TransformerEncoderLayer (batch_first, post-norm) ->
    the mean over time -> nn.Linear logits."""

    def __init__(
        self,
        vocabulary: int = 20,
        dim: int = 16,
        heads: int = 2,
        hidden: int = 32,
        num_classes: int = 3,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocabulary, dim)
        self.encoder1 = nn.TransformerEncoderLayer(dim, heads, hidden, dropout, batch_first=True)
        self.encoder2 = nn.TransformerEncoderLayer(dim, heads, hidden, dropout, batch_first=True)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.encoder2(self.encoder1(self.embedding(ids)))
        return self.head(x.mean(dim=1))


class LSTMClassifier(nn.Module):
    """Token ids -> nn.Embedding -> nn.LSTM (batch_first) -> its output at the last step ->
    nn.Linear logits."""

    def __init__(self, vocabulary: int = 20, dim: int = 8, units: int = 16, num_classes: int = 3) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocabulary, dim)
        self.lstm = nn.LSTM(dim, units, batch_first=True)
        self.head = nn.Linear(units, num_classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        output, _ = self.lstm(self.embedding(ids))
        return self.head(output[:, -1])


def randomize_batchnorm(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm random scales, offsets and running statistics (a trained network's,
    not the identity of a fresh one), so that eval-mode comparisons test the conversion."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                size = module.num_features
                module.weight.copy_(1 + 0.2 * torch.randn(size, generator=generator))
                module.bias.copy_(0.2 * torch.randn(size, generator=generator))
                module.running_mean.copy_(0.2 * torch.randn(size, generator=generator))
                module.running_var.copy_(0.5 + torch.rand(size, generator=generator))
    return model


def without_dropout(model: nn.Module) -> bool:
    """Set every dropout probability of ``model`` to 0 (``nn.Dropout`` and the attention dropout
    of ``nn.MultiheadAttention``); whether any was not 0."""
    found = False
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            found, module.p = found or module.p > 0, 0.0
        elif isinstance(module, nn.MultiheadAttention):
            found, module.dropout = found or module.dropout > 0, 0.0
    return found


#: A Keras 3 functional CNN on 12x12 RGB images (channels last), 5 classes. The program defines
#: ``build_cnn(seed)``, ``images(n, seed)`` and ``labels(n, seed)``; the test appends its checks.
KERAS_CNN = r"""
import json
import numpy as np
import keras
from keras import layers


def build_cnn(seed=0, dropout=0.25):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((12, 12, 3), name="images")
    x = layers.Conv2D(8, 3, padding="same", name="conv1")(inputs)
    x = layers.BatchNormalization(name="bn1")(x)
    x = layers.Activation("relu", name="relu1")(x)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Conv2D(16, 3, activation="relu", name="conv2")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(5, name="logits")(x)
    model = keras.Model(inputs, outputs, name="cnn")
    rng = np.random.default_rng(seed)  # a trained network's BatchNorm, not the identity
    bn = model.get_layer("bn1")
    bn.set_weights([
        (1 + 0.2 * rng.standard_normal(8)).astype("float32"),
        (0.2 * rng.standard_normal(8)).astype("float32"),
        (0.2 * rng.standard_normal(8)).astype("float32"),
        (0.5 + rng.random(8)).astype("float32"),
    ])
    return model


def images(n=2, seed=1):
    return np.random.default_rng(seed).standard_normal((n, 12, 12, 3)).astype("float32")


def labels(n=2, seed=2):
    return np.random.default_rng(seed).integers(0, 5, n).astype("int64")
"""
