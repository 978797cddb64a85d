"""bridge primitives on PyTorch."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from bridge.backend import Backend, Tape, dtype_tables
from bridge.dtypes import DType, bfloat16

_TO_TORCH, _FROM_TORCH = dtype_tables(lambda dtype: getattr(torch, dtype.name))


def _device(name: str) -> torch.device:
    return torch.device("cpu" if name == "cpu" else f"cuda:{name.partition(':')[2]}")


def _canonical(device: torch.device) -> str:
    return "cpu" if device.type == "cpu" else f"gpu:{device.index or 0}"


_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_CONV_TRANSPOSE = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
_MAX_POOL = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
_AVG_POOL = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


def _torch_widths(widths) -> tuple[int, ...]:
    """(before, after) per spatial axis in the order ``F.pad`` takes them: last axis first."""
    return tuple(w for pair in reversed(widths) for w in pair)


class TorchTape(Tape):
    """torch.autograd behind the Tape interface: watching makes a leaf that requires grad."""

    def __init__(self, persistent: bool, watch_accessed_variables: bool) -> None:
        self.persistent = persistent
        self.watch_accessed_variables = watch_accessed_variables
        self.watched: set[int] = set()
        self._grad_was_enabled = True

    def __enter__(self) -> TorchTape:  # set_grad_enabled calls, which torch.compile traces
        self._grad_was_enabled = torch.is_grad_enabled()
        torch.set_grad_enabled(True)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        torch.set_grad_enabled(self._grad_was_enabled)

    def watch(self, x: torch.Tensor) -> torch.Tensor:
        if not x.requires_grad:
            x = x.detach().requires_grad_(True)
        self.watched.add(id(x))
        return x

    def _differentiable(self, x: torch.Tensor) -> bool:
        if not x.requires_grad:
            return False
        unwatched_variable = isinstance(x, torch.nn.Parameter) and id(x) not in self.watched
        return self.watch_accessed_variables or not unwatched_variable

    def gradient(self, targets, sources, create_graph):
        wanted = [i for i, s in enumerate(sources) if self._differentiable(s)]
        targets = [t for t in targets if t.requires_grad]
        grads: list[torch.Tensor | None] = [None] * len(sources)
        if not targets or not wanted:
            return grads
        found = torch.autograd.grad(
            targets,
            [sources[i] for i in wanted],
            grad_outputs=[torch.ones_like(t) for t in targets],
            allow_unused=True,
            retain_graph=self.persistent or create_graph,
            create_graph=create_graph,
        )
        for i, g in zip(wanted, found):
            grads[i] = g
        return grads

    def spent(self, targets):  # torch.compile refuses to return a tensor whose graph is used up
        return [t.detach() for t in targets] if torch.compiler.is_compiling() else targets


def _adam_foreach(variables, grads, m, v, v_max, beta_1_rate, beta_2_rate, alpha, epsilon):
    """``Backend.adam_update`` with one multi-tensor kernel per op."""
    step = torch._foreach_sub(grads, m)
    torch._foreach_mul_(step, beta_1_rate)
    torch._foreach_add_(m, step)
    step = torch._foreach_mul(grads, grads)
    torch._foreach_sub_(step, v)
    torch._foreach_mul_(step, beta_2_rate)
    torch._foreach_add_(v, step)
    if v_max is not None:
        torch._foreach_maximum_(v_max, v)
    denominator = torch._foreach_sqrt(v if v_max is None else v_max)
    torch._foreach_add_(denominator, epsilon)
    step = torch._foreach_mul(m, alpha)
    torch._foreach_div_(step, denominator)
    torch._foreach_sub_(variables, step)


def _adam_one(var, grad, m, v, v_max, beta_1_rate, beta_2_rate, alpha, epsilon):
    """``Backend.adam_update`` of one variable, in two scratch tensors."""
    step = torch.sub(grad, m)
    step.mul_(beta_1_rate)
    m.add_(step)
    torch.mul(grad, grad, out=step)
    step.sub_(v)
    step.mul_(beta_2_rate)
    v.add_(step)
    if v_max is not None:
        torch.maximum(v_max, v, out=v_max)
    denominator = torch.sqrt(v if v_max is None else v_max)
    denominator.add_(epsilon)
    torch.mul(m, alpha, out=step)
    step.div_(denominator)
    var.sub_(step)


def _quiet_inductor_hints() -> None:
    """Silence two performance hints inductor prints as warnings when it compiles for a GPU: bridge
    keeps float32 products in float32 (torch's default; TF32 is the user's call, made with
    ``torch.set_float32_matmul_precision``), and the online-softmax note is for torch's developers."""
    for hint in (
        "TensorFloat32 tensor cores for float32 matrix multiplication",
        "\nOnline softmax is disabled",
    ):
        warnings.filterwarnings("ignore", message=hint, category=UserWarning, module=r"torch\._inductor\.")


def _integer_matmul(a, b):
    """``torch.matmul`` of integer tensors as products summed in their own dtype (wrapping on
    overflow, as the CPU kernel and NumPy do)."""
    rows, columns = a.unsqueeze(-2) if a.dim() == 1 else a, b.unsqueeze(-1) if b.dim() == 1 else b
    out = (rows.unsqueeze(-1) * columns.unsqueeze(-3)).sum(-2, dtype=a.dtype)
    out = out.squeeze(-1) if b.dim() == 1 else out
    return out.squeeze(-2 if b.dim() > 1 else -1) if a.dim() == 1 else out


def _copy_unless_parameter(x):
    return x if isinstance(x, torch.nn.Parameter) else x.clone()  # a Variable stays itself


def _copied_out(compiled):
    """``compiled`` whose tensor outputs are copied out of the CUDA graph's memory, which its next
    replay overwrites (a step's logs are read after the next step has run)."""

    def run(*args):
        torch.compiler.cudagraph_mark_step_begin()
        out = compiled(*args)
        return torch.utils._pytree.tree_map_only(torch.Tensor, _copy_unless_parameter, out)

    return run


class _CustomGradient(torch.autograd.Function):
    """``forward(*xs) -> (y, grad_fn)`` as an autograd Function (double backward included)."""

    @staticmethod
    def forward(ctx, forward, *xs):
        y, ctx.grad_fn = forward(*xs)
        return y

    @staticmethod
    def backward(ctx, dy):
        return (None, *ctx.grad_fn(dy))


class _Sqrt(torch.autograd.Function):
    """``sqrt`` (or ``rsqrt``) whose gradient is 0 where the incoming gradient is 0, as
    TensorFlow's kernels: the untaken branch of ``where(x > 0, sqrt(x), 0)`` gets 0, not 0 * inf."""

    @staticmethod
    def forward(ctx, x, reciprocal):
        y = torch.rsqrt(x) if reciprocal else torch.sqrt(x)
        ctx.save_for_backward(y)
        ctx.reciprocal = reciprocal
        return y

    @staticmethod
    def backward(ctx, dy):
        (y,) = ctx.saved_tensors
        dx = dy * (y * y * y * -0.5) if ctx.reciprocal else dy * 0.5 / y
        return torch.where(dy == 0, torch.zeros_like(dx), dx), None


def _sqrt(reciprocal: bool):
    plain = torch.rsqrt if reciprocal else torch.sqrt

    def sqrt(x):
        return _Sqrt.apply(x, reciprocal) if x.requires_grad and torch.is_grad_enabled() else plain(x)

    return staticmethod(sqrt)


def _one_run(x: torch.Tensor, axis: tuple[int, ...] | None) -> bool:
    """Whether ``axis`` is one run of adjacent axes of a contiguous tensor (None: all axes)."""
    return axis is None or not axis or (x.is_contiguous() and max(axis) - min(axis) < len(axis))


class TorchBackend(Backend):
    name = "torch"
    contract_version = 1

    def version(self) -> str:
        return torch.__version__

    def is_native(self, x: Any) -> bool:
        return isinstance(x, torch.Tensor)

    def is_pipeline(self, x: Any) -> bool:
        return isinstance(x, torch.utils.data.DataLoader)

    # --- dtypes, devices, conversion -----------------------------------------------------
    def dtype_of(self, x: torch.Tensor) -> DType:
        return _FROM_TORCH[x.dtype]

    def cast(self, x: torch.Tensor, dtype: DType) -> torch.Tensor:
        return x.to(_TO_TORCH[dtype])

    def shape(self, x: torch.Tensor) -> tuple[int, ...]:
        return tuple(x.shape)

    def ndim(self, x: torch.Tensor) -> int:
        return x.dim()

    def find_devices(self) -> list[str]:
        return ["cpu"] + [f"gpu:{i}" for i in range(torch.cuda.device_count())]

    def device(self, x: torch.Tensor) -> str:
        return _canonical(x.device)

    def to_device(self, x: torch.Tensor, device: str) -> torch.Tensor:
        return x.to(_device(device))

    def from_numpy(self, array: np.ndarray, dtype: DType, device: str) -> torch.Tensor:
        if dtype is bfloat16:
            return torch.tensor(array.astype(np.float32), device=_device(device)).to(torch.bfloat16)
        return torch.tensor(array, dtype=_TO_TORCH[dtype], device=_device(device))

    def to_numpy(self, x: torch.Tensor) -> np.ndarray:
        """A copy: ``Tensor.numpy()`` must not alias a variable updated in place later."""
        x = x.detach()
        if x.dtype == torch.bfloat16:
            return x.to(torch.float32).cpu().numpy().astype(bfloat16.numpy)
        return x.cpu().numpy().copy() if x.device.type == "cpu" else x.cpu().numpy()

    def to_dlpack(self, x: torch.Tensor, alignment: int = 1) -> Any:
        """``x``, or a contiguous copy (torch allocates 64-byte aligned) of a view that is not
        contiguous or whose data does not start at a multiple of ``alignment`` bytes."""
        x = x.detach()
        if x.is_contiguous() and x.data_ptr() % alignment == 0:
            return x
        return x.clone(memory_format=torch.contiguous_format)

    def from_dlpack(self, obj: Any) -> torch.Tensor:
        return torch.from_dlpack(obj)

    # --- creation --------------------------------------------------------------------------
    def full(self, shape, value, dtype, device):
        return torch.full(shape, value, dtype=_TO_TORCH[dtype], device=_device(device))

    def arange(self, start, stop, step, dtype, device):
        return torch.arange(start, stop, step, dtype=_TO_TORCH[dtype], device=_device(device))

    # --- elementwise -----------------------------------------------------------------------
    negative = staticmethod(torch.neg)
    abs = staticmethod(torch.abs)

    def sign(self, x):  # NaN stays NaN, as NumPy (torch.sign gives 0)
        return torch.where(torch.isnan(x), x, torch.sign(x)) if x.is_floating_point() else torch.sign(x)

    exp = staticmethod(torch.exp)
    expm1 = staticmethod(torch.expm1)
    log = staticmethod(torch.log)
    log1p = staticmethod(torch.log1p)
    sqrt = _sqrt(reciprocal=False)
    rsqrt = _sqrt(reciprocal=True)
    sin = staticmethod(torch.sin)
    cos = staticmethod(torch.cos)
    tan = staticmethod(torch.tan)
    tanh = staticmethod(torch.tanh)
    sinh = staticmethod(torch.sinh)
    cosh = staticmethod(torch.cosh)
    arctan = staticmethod(torch.atan)
    sigmoid = staticmethod(torch.sigmoid)
    relu = staticmethod(torch.relu)
    erf = staticmethod(torch.erf)
    floor = staticmethod(torch.floor)
    ceil = staticmethod(torch.ceil)
    round = staticmethod(torch.round)
    isnan = staticmethod(torch.isnan)
    isinf = staticmethod(torch.isinf)
    isfinite = staticmethod(torch.isfinite)
    logical_not = staticmethod(torch.logical_not)
    invert = staticmethod(torch.bitwise_not)

    add = staticmethod(torch.add)
    subtract = staticmethod(torch.sub)
    multiply = staticmethod(torch.mul)
    divide = staticmethod(torch.div)
    floor_divide = staticmethod(torch.floor_divide)
    mod = staticmethod(torch.remainder)
    power = staticmethod(torch.pow)
    equal = staticmethod(torch.eq)
    not_equal = staticmethod(torch.ne)
    less = staticmethod(torch.lt)
    less_equal = staticmethod(torch.le)
    greater = staticmethod(torch.gt)
    greater_equal = staticmethod(torch.ge)
    logical_and = staticmethod(torch.logical_and)
    logical_or = staticmethod(torch.logical_or)
    bitwise_and = staticmethod(torch.bitwise_and)
    bitwise_or = staticmethod(torch.bitwise_or)
    bitwise_xor = staticmethod(torch.bitwise_xor)
    left_shift = staticmethod(torch.bitwise_left_shift)
    right_shift = staticmethod(torch.bitwise_right_shift)

    def maximum(self, a, b):
        return torch.maximum(a, b) if isinstance(b, torch.Tensor) else torch.clamp_min(a, b)

    def minimum(self, a, b):
        return torch.minimum(a, b) if isinstance(b, torch.Tensor) else torch.clamp_max(a, b)

    def where(self, cond, x, y):
        return torch.where(cond, x, y)

    # --- reductions ------------------------------------------------------------------------
    def sum(self, x, axis, keepdims):
        if x.dtype == torch.float32 and (torch.compiler.is_compiling() or not _one_run(x, axis)):
            # Eager torch sums one run of reduced axes pairwise but adds one element after another
            # over the others, and compiled kernels do so everywhere (relative error 7e-7 over
            # 2e3 values): a float64 accumulator keeps the float32 result correctly rounded.
            return torch.sum(x, dim=axis, keepdim=keepdims, dtype=torch.float64).to(torch.float32)
        if axis is None and not keepdims:
            return torch.sum(x)
        return torch.sum(x, dim=axis, keepdim=keepdims)

    def prod(self, x, axis, keepdims):
        if axis is None:
            return torch.prod(x).reshape((1,) * x.dim() if keepdims else ())
        for a in sorted(axis, reverse=True):
            x = torch.prod(x, dim=a, keepdim=keepdims)
        return x

    def max(self, x, axis, keepdims):
        return torch.amax(x, dim=() if axis is None else axis, keepdim=keepdims)

    def min(self, x, axis, keepdims):
        return torch.amin(x, dim=() if axis is None else axis, keepdim=keepdims)

    def all(self, x, axis, keepdims):
        return torch.all(x, dim=axis, keepdim=keepdims)

    def any(self, x, axis, keepdims):
        return torch.any(x, dim=axis, keepdim=keepdims)

    def argmax(self, x, axis):
        return torch.argmax(x, dim=axis)

    def argmin(self, x, axis):
        return torch.argmin(x, dim=axis)

    def cumsum(self, x, axis):
        return torch.cumsum(x, dim=axis)

    def cumprod(self, x, axis):
        return torch.cumprod(x, dim=axis)

    # --- linear algebra --------------------------------------------------------------------
    def matmul(self, a, b):
        if a.is_cuda and not a.is_floating_point():  # CUDA has no integer matrix product
            return _integer_matmul(a, b)
        return torch.matmul(a, b)

    inv = staticmethod(torch.linalg.inv)
    solve = staticmethod(torch.linalg.solve)
    det = staticmethod(torch.linalg.det)

    def cholesky(self, a):  # NaN factors where not positive definite (cholesky raises; jit-safe)
        factor, info = torch.linalg.cholesky_ex(a)
        return torch.where((info != 0)[..., None, None], torch.full_like(factor, float("nan")), factor)

    svdvals = staticmethod(torch.linalg.svdvals)

    def einsum(self, subscripts, *operands):
        first = operands[0]
        if first.is_cuda and not first.is_floating_point():  # CUDA has no integer contraction
            return torch.einsum(subscripts, *(x.cpu() for x in operands)).to(first.device)
        return torch.einsum(subscripts, *operands)

    # --- shape -----------------------------------------------------------------------------
    def reshape(self, x, shape):
        return torch.reshape(x, shape)

    def transpose(self, x, axes):
        return torch.permute(x, axes)

    def broadcast_to(self, x, shape):
        return torch.broadcast_to(x, shape)

    def concat(self, xs, axis):
        return torch.cat(xs, dim=axis)

    def stack(self, xs, axis):
        return torch.stack(xs, dim=axis)

    def unstack(self, x, axis):
        return list(torch.unbind(x, dim=axis))

    def split(self, x, sizes, axis):
        return list(torch.split(x, sizes, dim=axis))

    def tile(self, x, reps):
        return torch.tile(x, reps)

    def repeat(self, x, repeats, axis):
        return torch.repeat_interleave(x, repeats, dim=axis)

    def pad(self, x, widths, value):
        flat = [w for pair in reversed(widths) for w in pair]
        return F.pad(x, flat, mode="constant", value=value)

    def flip(self, x, axes):
        return torch.flip(x, axes)

    def slice(self, x, key):
        return x[key]

    # --- gathering and scattering ----------------------------------------------------------
    def take(self, x, indices, axis):
        picked = torch.index_select(x, axis, indices.reshape(-1))
        return picked.reshape(x.shape[:axis] + indices.shape + x.shape[axis + 1 :])

    def scatter(self, x, indices, updates, accumulate):
        return x.index_put((indices,), updates, accumulate=accumulate)

    def argwhere(self, x):
        return torch.argwhere(x)

    def sort(self, x, axis):
        return torch.sort(x, dim=axis, stable=True).values

    def argsort(self, x, axis):
        return torch.argsort(x, dim=axis, stable=True)

    def topk(self, x, k):
        # torch.topk orders equal values (NaNs too) as its kernel happens to, differently on a
        # GPU; a stable sort puts the lower index first, as TensorFlow's top_k does
        if x.dtype == torch.bool:  # no bool sort kernel on CPU
            values, indices = self.topk(x.to(torch.uint8), k)
            return values.to(torch.bool), indices
        values, indices = torch.sort(x, dim=-1, descending=True, stable=True)
        return values[..., :k], indices[..., :k]

    # --- nn --------------------------------------------------------------------------------
    def softmax(self, x, axis):
        return torch.softmax(x, dim=axis)

    def log_softmax(self, x, axis):
        return torch.log_softmax(x, dim=axis)

    def sparse_cross_entropy(self, logits, labels):
        flat = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), reduction="none")
        return flat.reshape(labels.shape)

    def dot_product_attention(self, query, key, value, bias, scale, is_causal):
        q, k, v = (t.transpose(1, 2) for t in (query, key, value))  # torch's (B, N, T, H)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, is_causal=is_causal, scale=scale)
        return out.transpose(1, 2)

    def recurrent(self, mode, x, states, weights):
        hx = [h.unsqueeze(0) for h in states]  # (layers * directions, batch, units)
        if x.is_cuda:  # cuDNN views its operands flat: the transposed kernels must be copied first
            x, hx, weights = x.contiguous(), [h.contiguous() for h in hx], [w.contiguous() for w in weights]
            with warnings.catch_warnings():  # and it warns that they are (bridge holds no flat copy)
                warnings.filterwarnings("ignore", "RNN module weights are not part of single contiguous")
                return self._recurrent(mode, x, hx, weights)
        return self._recurrent(mode, x, hx, weights)

    @staticmethod
    def _recurrent(mode, x, hx, weights):
        # has_biases, num_layers, dropout, train (cuDNN's backward needs it), bidirectional, batch_first
        options = (True, 1, 0.0, True, False, True)
        if mode == "LSTM":
            out, h, c = torch.lstm(x, hx, weights, *options)
            return out, [h[0], c[0]]
        run = torch.gru if mode == "GRU" else torch.rnn_tanh
        out, h = run(x, hx[0], weights, *options)
        return out, [h[0]]

    def all_finite(self, xs):
        # all finite iff each tensor's smallest and largest elements are (aminmax: one pass, NaN
        # propagates), compared per dtype (a float64 extreme may not fit float32)
        extrema: dict[torch.dtype, list[torch.Tensor]] = {}
        for x in xs:
            x = torch.view_as_real(x) if x.is_complex() else x
            if x.is_floating_point() and x.numel():
                extrema.setdefault(x.dtype, []).extend(torch.aminmax(x.detach()))
        flags = [torch.isfinite(torch.stack(found)).all() for found in extrema.values()]
        if not flags:
            return torch.tensor(True, device=xs[0].device if xs else None)
        return flags[0] if len(flags) == 1 else torch.stack(flags).all()

    def adam_update(self, variables, grads, m, v, v_max, beta_1_rate, beta_2_rate, alpha, epsilon):
        # the core's composite, op for op (the same bits), in place: on a GPU a multi-tensor kernel
        # per op (launches dominate there), and compiled (inductor fuses them; torch.compile takes
        # no out= tensor of another layout); eagerly on the CPU tensor by tensor into one scratch
        # buffer each (allocations dominate there), as torch.optim's own defaults choose
        rates = (beta_1_rate, beta_2_rate, alpha, epsilon)
        with torch.no_grad():
            if variables[0].device.type != "cpu" or torch.compiler.is_compiling():
                _adam_foreach(variables, grads, m, v, v_max, *rates)
                return
            for i, (var, grad) in enumerate(zip(variables, grads)):
                _adam_one(var, grad, m[i], v[i], None if v_max is None else v_max[i], *rates)

    channels_last = False  # torch's conv and pool kernels take (N, C, *spatial)

    def conv(self, x, kernel, strides, padding, dilation, groups):
        pad = tuple(before for before, _ in padding)
        if any(before != after for before, after in padding):  # torch's own padding is symmetric
            x, pad = F.pad(x, _torch_widths(padding)), (0,) * len(padding)
        rank = len(strides)
        # (out, in / groups, *spatial), contiguous: torch 2.13's CPU backward refuses some permuted
        # weights ("slow_conv2d: grad_weight must be contiguous", e.g. one filter on NHWC input)
        weight = kernel.permute(rank + 1, rank, *range(rank)).contiguous()
        return _CONV[rank](x, weight, None, strides, pad, dilation, groups)

    def conv_transpose(self, x, kernel, strides, padding, output_padding, dilation):
        rank = len(strides)
        weight = kernel.permute(rank + 1, rank, *range(rank)).contiguous()  # (in, out, *spatial), as conv
        conv = _CONV_TRANSPOSE[rank]
        axes = zip(padding, output_padding, strides, dilation, x.shape[2:], kernel.shape[:rank])
        # torch's own padding crops symmetrically, and refuses an empty result
        if all(
            before == after and extra < max(s, d) and (n - 1) * s + d * (k - 1) + 1 - 2 * before + extra > 0
            for (before, after), extra, s, d, n, k in axes
        ):
            pad = tuple(before for before, _ in padding)
            return conv(x, weight, None, strides, pad, output_padding, 1, dilation)
        out = conv(x, weight, None, strides, 0, 0, 1, dilation)
        return F.pad(out, _torch_widths([(-b, e - a) for (b, a), e in zip(padding, output_padding)]))

    def max_pool(self, x, window, strides):
        return _MAX_POOL[len(window)](x, window, strides)

    def avg_pool(self, x, window, strides):
        return _AVG_POOL[len(window)](x, window, strides)

    # --- variables -------------------------------------------------------------------------
    def variable(self, value, trainable, name):
        return torch.nn.Parameter(
            value.detach().clone(), requires_grad=trainable and value.is_floating_point()
        )

    def is_variable(self, x):
        return isinstance(x, torch.nn.Parameter)

    def is_trainable(self, var):
        return var.requires_grad

    def assign(self, var, value):
        with torch.no_grad():
            var.copy_(value)

    def assign_add(self, var, value):
        with torch.no_grad():
            var.add_(value)

    def assign_sub(self, var, value):
        with torch.no_grad():
            var.sub_(value)

    def read(self, var):
        return var.clone()

    # --- autodiff --------------------------------------------------------------------------
    def tape(self, persistent, watch_accessed_variables):
        return TorchTape(persistent, watch_accessed_variables)

    def stop_gradient(self, x):
        return x.detach()

    def custom_gradient(self, forward, *xs):
        return _CustomGradient.apply(forward, *xs)

    # --- jit -------------------------------------------------------------------------------
    # data-parallel workers: torch.distributed, imported when first asked for (see workers.py)
    def join_workers(self, timeout):
        from . import workers

        return workers.join(timeout)

    def all_reduce(self, xs):
        from . import workers

        return workers.all_reduce(xs)

    def leave_workers(self):
        from . import workers

        workers.leave()

    def jit(self, fn, jit_mode="default", **options):
        _quiet_inductor_hints()
        # bridge's tapes call torch.autograd.grad: traced into the graph, a step's forward,
        # backward and optimizer update compile as one graph. torch leaves this off by default;
        # it is set for the process (torch versions without it split the graph at the gradient).
        if hasattr(torch._dynamo.config, "trace_autograd_ops"):
            torch._dynamo.config.trace_autograd_ops = True
        if jit_mode == "graph":  # inductor's CUDA graphs (on a GPU; the same as "default" elsewhere)
            return _copied_out(torch.compile(fn, **{"mode": "reduce-overhead", **options}))
        return torch.compile(fn, **options)  # fn has a code object of its own (see bridge.jit)

    def tracing(self):
        return torch.compiler.is_compiling()


__all__ = ["TorchBackend"]
