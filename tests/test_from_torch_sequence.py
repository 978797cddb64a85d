"""torch's sequence modules ported to bridge (bridge/interop/torch_sequence.py, bridge/nn/torch_layers.py):
LSTM, GRU, MultiheadAttention, TransformerEncoderLayer and TransformerEncoder, each alone (its
converter called as ``from_torch``'s walker calls it) and inside small models through
``from_torch``, against torch itself: eval forward, gradients with respect to the inputs and
every weight (through the ``WeightSource`` mapping), and SGD steps giving the same weights."""

from __future__ import annotations

import subprocess
import sys
import types

import numpy as np
import pytest

import bridge as br
from bridge import nn

pytestmark = pytest.mark.needs("torch")

RNG = np.random.default_rng(7)
#: relative tolerance (max |difference| / max |torch's|) per dtype: the issue's goals
TOLERANCE = {"float32": 1e-5, "float64": 1e-10}


# --- the torch modules, built fresh per test -------------------------------------------------
def _lstm(torch):
    return torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True), [(5, 2, 3)], {}


def _lstm_batch_first_hx(torch):
    module = torch.nn.LSTM(3, 4, batch_first=True)
    states = tuple(RNG.normal(size=(1, 2, 4)) for _ in range(2))
    return module, [(2, 5, 3)], {"hx": states}


def _gru(torch):
    return torch.nn.GRU(3, 4, num_layers=2, bidirectional=True, batch_first=True), [(2, 5, 3)], {}


def _gru_unbatched_no_bias(torch):
    return torch.nn.GRU(3, 4, bias=False), [(5, 3)], {}


def _attention(torch):
    return torch.nn.MultiheadAttention(8, 2), [(5, 2, 8), (6, 2, 8), (6, 2, 8)], {}


def _attention_masks_kvdim(torch):
    module = torch.nn.MultiheadAttention(8, 2, kdim=3, vdim=5, batch_first=True)
    padding = np.zeros((2, 6), bool)
    padding[1, 4:] = True  # the second sequence's last two keys are padding
    causal = np.triu(np.ones((5, 6), bool), k=1)
    kwargs = {"key_padding_mask": padding, "attn_mask": causal, "average_attn_weights": False}
    return module, [(2, 5, 8), (2, 6, 3), (2, 6, 5)], kwargs


def _attention_no_weights(torch):
    return (
        torch.nn.MultiheadAttention(8, 4, bias=False, batch_first=True),
        [(2, 5, 8)] * 3,
        {"need_weights": False},
    )


def _encoder_layer(torch):
    return torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0), [(5, 2, 8)], {}


def _encoder_layer_norm_first_gelu_padding(torch):
    module = torch.nn.TransformerEncoderLayer(
        8, 2, 16, dropout=0.0, activation="gelu", batch_first=True, norm_first=True, layer_norm_eps=1e-3
    )
    padding = np.zeros((2, 5), bool)
    padding[0, 3:] = True
    return module, [(2, 5, 8)], {"src_key_padding_mask": padding}


def _encoder(torch):
    layer = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
    module = torch.nn.TransformerEncoder(layer, 2, norm=torch.nn.LayerNorm(8), enable_nested_tensor=False)
    return module, [(2, 5, 8)], {"mask": np.triu(np.ones((5, 5), bool), k=1)}


CASES = {
    "lstm_2_layers_bidirectional": _lstm,
    "lstm_batch_first_hx": _lstm_batch_first_hx,
    "gru_2_layers_bidirectional": _gru,
    "gru_unbatched_no_bias": _gru_unbatched_no_bias,
    "attention": _attention,
    "attention_masks_kdim_vdim": _attention_masks_kvdim,
    "attention_no_weights": _attention_no_weights,
    "encoder_layer": _encoder_layer,
    "encoder_layer_norm_first_gelu_padding": _encoder_layer_norm_first_gelu_padding,
    "encoder_2_layers_norm": _encoder,
}


def _case(name, dtype):
    """A torch module in ``dtype``, its inputs (arrays) and keyword arguments (float arrays cast)."""
    import torch

    torch.manual_seed(0)
    module, shapes, kwargs = CASES[name](torch)
    module = module.to(getattr(torch, dtype))
    for parameter in module.parameters():  # biases too, so that they count in the comparison
        torch.nn.init.uniform_(parameter, -0.5, 0.5)
    inputs = [RNG.normal(size=shape).astype(dtype) for shape in shapes]
    cast = {k: tuple(s.astype(dtype) for s in v) if isinstance(v, tuple) else v for k, v in kwargs.items()}
    return module, inputs, cast


# --- porting one module with its converter, as the walker does --------------------------------
def _port(module, inputs, kwargs, dtype, name="seq"):
    """The converted layer (called once on ``inputs``, so built) with the torch weights loaded
    through its ``LayerSource``, and that source."""
    from bridge.interop import torch_sequence  # noqa: F401  (registers the converters)
    from bridge.interop.torch_converters import ConvertContext, lookup

    entry = lookup(type(module))
    assert entry is not None, f"no converter for {type(module).__name__}"
    ctx = ConvertContext(
        name=name,
        node=types.SimpleNamespace(op="call_module"),
        position=0,
        args=(),
        kwargs={},
        input_shapes=tuple(x.shape for x in inputs),
        input_layouts=(),
        output_shapes=(),
        dtype=dtype,
    )
    converted = entry.fn(module, ctx)
    layer = converted.layer
    layer(*inputs, **kwargs)
    (source,) = converted.source_list
    variables = {v.name: v for v in layer.weights}
    assert sorted(source.weights) == sorted(variables)  # every bridge weight has a source
    named = {f"{name}.{n}": p.detach().numpy() for n, p in module.named_parameters()}
    covered = {n for w in source.weights.values() for n in w.native}
    assert covered == set(named)  # and every torch parameter is used
    for variable, weight in source.weights.items():
        variables[variable].assign(weight.convert(*(named[n] for n in weight.native)))
    return layer, source


def _leaves(tree):
    if isinstance(tree, (tuple, list)):
        return [leaf for item in tree for leaf in _leaves(item)]
    return [] if tree is None else [tree]


def _torch_forward(module, inputs, kwargs, watch=False):
    import torch

    tensors = [torch.tensor(x, requires_grad=watch) for x in inputs]
    converted = {
        k: tuple(torch.tensor(s) for s in v) if isinstance(v, tuple) else torch.tensor(v)
        for k, v in kwargs.items()
        if not isinstance(v, bool)
    }
    converted.update({k: v for k, v in kwargs.items() if isinstance(v, bool)})
    return tensors, _leaves(module(*tensors, **converted))


def _relative(actual, expected):
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape
    return float(np.abs(actual - expected).max() / max(np.abs(expected).max(), 1e-30))


def _cotangents(outputs):
    return [RNG.normal(size=tuple(o.shape)) for o in outputs]


@pytest.mark.bridge_requires("autodiff")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_outputs_and_gradients_match_torch(case, dtype, backend):
    """Eval outputs, and the gradients of sum(outputs * fixed cotangents) w.r.t. the float
    inputs and every weight (through ``WeightSource.gradient_of``). The attention's key bias has
    an exact zero gradient (softmax ignores a shift shared by all keys): both sides give rounding
    noise there, measured against the largest weight gradient."""
    import torch

    module, inputs, kwargs = _case(case, dtype)
    module.eval()
    layer, source = _port(module, inputs, kwargs, dtype)
    tensors, expected = _torch_forward(module, inputs, kwargs, watch=True)
    cotangents = _cotangents(expected)
    sum(((o * torch.tensor(c, dtype=o.dtype)).sum() for o, c in zip(expected, cotangents))).backward()
    bridge_inputs = [br.tensor(x) for x in inputs]
    with br.GradientTape() as tape:
        tape.watch(bridge_inputs)
        outputs = _leaves(layer(*bridge_inputs, **kwargs))
        loss = sum((o * c.astype(dtype)).sum() for o, c in zip(outputs, cotangents))
    assert len(outputs) == len(expected)
    for got, want in zip(outputs, expected):
        assert got.dtype.name == dtype
        assert _relative(got.numpy(), want.detach().numpy()) < TOLERANCE[dtype]
    variables = {v.name: v for v in layer.trainable_weights}
    grads = tape.gradient(loss, [bridge_inputs, list(variables.values())])
    for got, x in zip(grads[0], tensors):
        assert _relative(got.numpy(), x.grad.numpy()) < TOLERANCE[dtype]
    native = {f"seq.{n}": p.grad.numpy() for n, p in module.named_parameters()}
    scale = max(float(np.abs(g).max()) for g in native.values())
    for name, got in zip(variables, grads[1]):
        weight = source.weights[name]
        want = weight.gradient_of(*(native[n] for n in weight.native))
        if name.endswith("/key_bias"):
            assert max(np.abs(got.numpy()).max(), np.abs(want).max()) < TOLERANCE[dtype] * scale
        else:
            assert _relative(got.numpy(), want) < TOLERANCE[dtype], name


TRAINED = ["lstm_batch_first_hx", "gru_2_layers_bidirectional", "encoder_layer"]


@pytest.mark.bridge_requires("autodiff", "variables")
@pytest.mark.parametrize("case", TRAINED)
def test_sgd_steps_match_torch(case, backend):
    """Three SGD steps (momentum 0.9) in float64 give the same weights: LSTM's two torch biases
    are two bridge weights (one summed bias would move half as far)."""
    import torch

    module, inputs, kwargs = _case(case, "float64")
    layer, source = _port(module, inputs, kwargs, "float64")
    variables = {v.name: v for v in layer.trainable_weights}
    torch_optimizer = torch.optim.SGD(module.parameters(), lr=0.1, momentum=0.9)
    optimizer = br.optim.SGD(learning_rate=0.1, momentum=0.9)
    cotangents = None
    for _ in range(3):
        torch_optimizer.zero_grad()
        _, outputs = _torch_forward(module, inputs, kwargs)
        cotangents = cotangents or _cotangents(outputs)
        sum(((o * torch.tensor(c)).sum() for o, c in zip(outputs, cotangents))).backward()
        torch_optimizer.step()
        with br.GradientTape() as tape:
            loss = sum((o * c).sum() for o, c in zip(_leaves(layer(*inputs, **kwargs)), cotangents))
        optimizer.apply(tape.gradient(loss, list(variables.values())), list(variables.values()))
    named = {f"seq.{n}": p.detach().numpy() for n, p in module.named_parameters()}
    for name, weight in source.weights.items():
        want = weight.convert(*(named[n] for n in weight.native))
        assert _relative(variables[name].numpy(), want) < 1e-10, name


@pytest.mark.bridge_requires("autodiff", "variables")
def test_one_summed_lstm_bias_would_train_differently(backend):
    """Why ``TorchLSTM`` keeps torch's two biases: Keras' one-bias LSTM holding their sum
    computes the same outputs, but one SGD step moves the sum half as far as torch does."""
    import torch

    module, inputs, _ = _case("lstm_batch_first_hx", "float64")
    p = {n: v.detach().numpy() for n, v in module.named_parameters()}
    keras_lstm = nn.LSTM(4, return_sequences=True, dtype="float64")
    keras_lstm(inputs[0])
    keras_lstm.set_weights([p["weight_ih_l0"].T, p["weight_hh_l0"].T, p["bias_ih_l0"] + p["bias_hh_l0"]])
    x = torch.tensor(inputs[0])
    np.testing.assert_allclose(keras_lstm(inputs[0]).numpy(), module(x)[0].detach().numpy(), rtol=1e-12)
    module(x)[0].sum().backward()
    torch.optim.SGD(module.parameters(), lr=0.5).step()
    with br.GradientTape() as tape:
        loss = keras_lstm(inputs[0]).sum()
    br.optim.SGD(0.5).apply(tape.gradient(loss, keras_lstm.trainable_weights), keras_lstm.trainable_weights)
    stepped = module(x)[0].detach().numpy()
    assert _relative(keras_lstm(inputs[0]).numpy(), stepped) > 1e-3  # measured: 0.15 to 0.18


# --- inside models, through from_torch -------------------------------------------------------
def _text_model(torch):
    class TextModel(torch.nn.Module):
        """Embedding -> 2-layer LSTM -> Linear on the last step."""

        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(20, 6)
            self.lstm = torch.nn.LSTM(6, 5, num_layers=2, batch_first=True, dropout=0.3)
            self.head = torch.nn.Linear(5, 3)

        def forward(self, ids):
            out, (h, c) = self.lstm(self.embed(ids))
            return self.head(out[:, -1])

    return TextModel(), RNG.integers(0, 20, size=(2, 7))


def _encoder_model(torch):
    class EncoderModel(torch.nn.Module):
        """A stack of two TransformerEncoderLayers -> mean over time -> Linear."""

        def __init__(self):
            super().__init__()
            layer = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.1, batch_first=True)
            self.encoder = torch.nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
            self.head = torch.nn.Linear(8, 3)

        def forward(self, x):
            return self.head(self.encoder(x).mean(dim=1))

    return EncoderModel(), RNG.normal(size=(2, 5, 8))


def _attention_model(torch):
    class AttentionModel(torch.nn.Module):
        """A bidirectional GRU -> self-attention over it, padded keys masked -> mean -> Linear."""

        def __init__(self):
            super().__init__()
            self.gru = torch.nn.GRU(3, 4, batch_first=True, bidirectional=True)
            self.attention = torch.nn.MultiheadAttention(8, 2, batch_first=True)
            self.head = torch.nn.Linear(8, 2)

        def forward(self, x, padding):
            out, _ = self.gru(x)
            attended, _ = self.attention(out, out, out, key_padding_mask=padding, need_weights=False)
            return self.head(attended.mean(dim=1))

    padding = np.zeros((2, 5), bool)
    padding[1, 3:] = True
    return AttentionModel(), RNG.normal(size=(2, 5, 3)), padding


def _seq2seq_model(torch):
    class Seq2Seq(torch.nn.Module):
        """Time-major LSTM encoder whose final (h, c) start the LSTM decoder -> Linear."""

        def __init__(self):
            super().__init__()
            self.encoder = torch.nn.LSTM(3, 4)
            self.decoder = torch.nn.LSTM(3, 4)
            self.head = torch.nn.Linear(4, 2)

        def forward(self, source, target):
            _, state = self.encoder(source)
            out, _ = self.decoder(target, state)
            return self.head(out)

    return Seq2Seq(), RNG.normal(size=(5, 2, 3)), RNG.normal(size=(4, 2, 3))


MODELS = {
    "text_lstm": _text_model,
    "transformer_encoder": _encoder_model,
    "gru_attention": _attention_model,
    "seq2seq_time_major": _seq2seq_model,
}
#: the ported sequence layer each model's report must cover
SEQUENCE_LAYER = {
    "text_lstm": "lstm",
    "transformer_encoder": "encoder",
    "gru_attention": "attention",
    "seq2seq_time_major": "decoder",
}


@pytest.mark.slow
@pytest.mark.bridge_requires("autodiff", "variables")
@pytest.mark.parametrize("model", sorted(MODELS))
def test_models_port_and_train_as_torch(model, backend):
    """from_torch, then assert_equivalent in float64 (float32 is checked per module above): eval
    and training outputs, gradients, 10 SGD steps."""
    import torch

    from bridge.interop import from_torch
    from bridge.testing.equivalence import assert_equivalent

    torch.manual_seed(0)
    dtype = "float64"
    module, *inputs = MODELS[model](torch)
    module = module.to(getattr(torch, dtype)).eval()
    inputs = [x.astype(dtype) if x.dtype.kind == "f" else x for x in inputs]
    ported = from_torch(module, tuple(torch.tensor(x) for x in inputs))
    report = assert_equivalent(module, ported, tuple(inputs), train_steps=10, learning_rate=0.05)
    assert report.passed and report.rtol == TOLERANCE[dtype]
    sequence_layer = SEQUENCE_LAYER[model]
    assert {c.phase for c in report.comparisons if c.layer == sequence_layer} >= {
        "weights",
        "eval",
        "gradients",
    }
    print(report)


# --- saving, and what is refused ---------------------------------------------------------------
@pytest.mark.bridge_requires("variables")
def test_ported_layers_save_and_load(tmp_path, backend):
    """A model of the Torch* layers saves and loads (registered layers) with the same outputs."""
    import torch

    module, inputs, kwargs = _case("encoder_2_layers_norm", "float32")
    module.eval()
    layer, _ = _port(module, inputs, kwargs, "float32")
    lstm_module = torch.nn.LSTM(3, 4, bidirectional=True)
    lstm_inputs = [RNG.normal(size=(5, 2, 3)).astype("float32")]
    lstm, _ = _port(lstm_module, lstm_inputs, {}, "float32", name="lstm")
    x = nn.Input((5, 8))
    sequence = nn.Input((2, 3), batch_size=5)  # time-major: (time, batch, features)
    output, (h, c) = lstm(sequence)
    model = nn.Model([x, sequence], [layer(x), output, h, c])
    expected = [o.numpy() for o in model([inputs[0], lstm_inputs[0]])]
    model.save(tmp_path / "ported.bridge")
    loaded = nn.load_model(tmp_path / "ported.bridge")
    assert [type(v).__name__ for v in loaded.layers] == [type(v).__name__ for v in model.layers]
    for got, want in zip(loaded([inputs[0], lstm_inputs[0]]), expected):
        np.testing.assert_array_equal(got.numpy(), want)
    with torch.no_grad():
        reference = lstm_module(torch.tensor(lstm_inputs[0]))[0].numpy()
    assert _relative(expected[1], reference) < 1e-5


def test_a_fresh_program_finds_the_ported_layers_without_torch():
    """``nn.load_model`` of a ported model needs no ``from_torch`` call first (bridge.nn
    registers the Torch* layers), and that registration imports no torch."""
    program = (
        "import sys; import bridge.nn; from bridge.serialization import LAYERS\n"
        "names = ['TorchLSTM', 'TorchGRU', 'TorchMultiheadAttention', 'TorchTransformerEncoderLayer',"
        " 'TorchTransformerEncoder']\n"
        "print([LAYERS.lookup('bridge.torch>' + n).__name__ for n in names] == names, 'torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["True", "False"], done.stderr


def test_refused_modules_name_the_module_and_what_is_supported():
    import torch

    from bridge.interop import torch_sequence  # noqa: F401

    cases = [
        (torch.nn.LSTM(3, 4, proj_size=2), "proj_size"),
        (torch.nn.MultiheadAttention(8, 2, add_bias_kv=True), "add_bias_kv"),
        (torch.nn.TransformerEncoderLayer(8, 2, 16, activation=torch.nn.SiLU()), "activation"),
    ]
    for module, what in cases:
        with pytest.raises(
            br.UnsupportedConversionError, match=f"{type(module).__name__} at 'seq'.*{what}.*supported"
        ):
            _port(
                module,
                [RNG.normal(size=(5, 2, module.input_size if hasattr(module, "input_size") else 8))],
                {},
                "float32",
            )


def test_attention_masks_must_be_torch_boolean_masks(backend):
    from bridge.nn.torch_layers import TorchMultiheadAttention

    attention = TorchMultiheadAttention(8, 2, batch_first=True, name="attention")
    x = RNG.normal(size=(2, 5, 8)).astype("float32")
    with pytest.raises(br.DTypeError, match="attention: attn_mask must be a bool tensor.*float32"):
        attention(x, x, x, attn_mask=np.zeros((5, 5), "float32"))
    with pytest.raises(br.ShapeError, match=r"per-head attn_mask.*\(4, 5, 5\) with 2 heads"):
        attention(x, x, x, attn_mask=np.zeros((4, 5, 5), bool))
    with pytest.raises(
        br.ShapeError, match=r"attention: .* of 8, 8 and 8 features, got \(2, 5, 8\), \(2, 5, 4\)"
    ):
        attention(x, x[..., :4], x)


def _nested_encoder(torch, norm):
    class Encoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            layer = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
            self.encoder = torch.nn.TransformerEncoder(layer, 2, norm=torch.nn.LayerNorm(8) if norm else None)

        def forward(self, x, padding):
            return self.encoder(x, src_key_padding_mask=padding)

    return Encoder().eval()


@pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors")
@pytest.mark.parametrize("norm", [False, True])
def test_encoder_follows_torchs_nested_fast_path(norm, backend):
    """torch's default ``enable_nested_tensor`` path (eval, no grad, a padding mask) gives zeros
    at padded positions before the final norm; where a row's padding is not at its end torch's
    mask check turns the path off, and values come back there."""
    import torch

    from bridge.interop import from_torch

    torch.manual_seed(0)
    module = _nested_encoder(torch, norm)
    for parameter in module.parameters():
        torch.nn.init.uniform_(parameter, -0.5, 0.5)
    x = RNG.normal(size=(2, 4, 8)).astype("float32")
    at_end = np.array([[False, False, True, True], [False, False, False, False]])
    inside = np.array([[False, True, False, True], [False, False, False, False]])
    ported = from_torch(module, (torch.tensor(x), torch.tensor(at_end)))
    for mask, zeroed in ((at_end, True), (inside, False)):
        with torch.no_grad():
            want = module(torch.tensor(x), torch.tensor(mask)).numpy()
        padded = want[0, 2:] - (module.encoder.norm.bias.detach().numpy() if norm else 0)
        assert bool(np.all(padded == 0)) is zeroed  # torch's own behaviour, as described
        got = ported([x, mask]).numpy()
        assert _relative(got, want) < TOLERANCE["float32"]


def test_is_causal_needs_attn_mask_as_in_torch(backend):
    import torch

    from bridge.nn.torch_layers import TorchMultiheadAttention

    x = RNG.normal(size=(2, 5, 8)).astype("float32")
    with pytest.raises(RuntimeError, match="Need attn_mask if specifying the is_causal hint"):
        t = torch.tensor(x)
        torch.nn.MultiheadAttention(8, 2, batch_first=True)(t, t, t, is_causal=True)
    attention = TorchMultiheadAttention(8, 2, batch_first=True, name="attention")
    with pytest.raises(br.InvalidArgumentError, match="attention: .*is_causal=True needs attn_mask"):
        attention(x, x, x, is_causal=True)
    causal = np.triu(np.ones((5, 5), bool), k=1)
    out, _ = attention(x, x, x, attn_mask=causal, is_causal=True)
    np.testing.assert_array_equal(out.numpy(), attention(x, x, x, attn_mask=causal)[0].numpy())
