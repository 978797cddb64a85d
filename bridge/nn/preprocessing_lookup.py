"""``IntegerLookup`` and ``StringLookup``, as Keras 3's: a vocabulary kept on the host (learned by
``adapt`` or given, and saved in the layer's config) maps tokens to indices, then ``output_mode``
encodes them.

Where each part runs:

- ``IntegerLookup``: the lookup and the encoding are bridge ops, so the layer works inside a
  model, ``br.jit`` and compiled ``fit`` on every backend (the vocabulary becomes constants there).
- ``StringLookup``: strings cannot be backend tensors, so the layer maps NumPy string arrays (or
  lists of ``str``) to ids on the host, eagerly, and returns a Tensor (the encoding, when
  ``output_mode`` is not ``"int"``, is bridge ops). Apply it to the data before ``fit`` (or
  call it eagerly), and put the integer layers after it in the model; ``invert=True`` maps ids
  back to a NumPy array of ``str``.
"""

from __future__ import annotations

import collections
import itertools
from collections.abc import Iterable
from typing import Any

import numpy as np

from .. import ops
from ..dtypes import default_float, int64
from ..errors import (
    ArgumentTypeError,
    DTypeError,
    InvalidArgumentError,
    NotBuiltError,
    SymbolicTensorError,
)
from ..ops._core import integer_arg
from ..tensor import Tensor
from .layer import Layer
from .preprocessing import encode_categorical, first_of, host_constant, output_mode_arg, refuse_sparse
from .symbolic import is_symbolic

#: the output modes of the lookups
OUTPUT_MODES = ("int", "one_hot", "multi_hot", "count", "tf_idf")
#: the index a mask token gets in the encoded output modes: outside every vocabulary, so it is dropped
_DROPPED = np.iinfo(np.int64).max


def _listed(value: Any) -> Any:
    """A vocabulary or weights (list, tuple, array, Tensor) as a list, for the config."""
    if value is None:
        return None
    array = value.numpy() if isinstance(value, Tensor) else np.asarray(value)
    return array.tolist()


class _IndexLookup(Layer):
    """What IntegerLookup and StringLookup share: the vocabulary, ``adapt``, the indices of the
    special tokens and the output encodings (Keras' ``IndexLookup``)."""

    def __init__(
        self,
        max_tokens: int | None,
        num_oov_indices: int,
        mask_token: Any,
        oov_token: Any,
        vocabulary: Any,
        idf_weights: Any,
        invert: bool,
        output_mode: str,
        sparse: bool,
        pad_to_max_tokens: bool,
        vocabulary_size: int | None,
        **kwargs: Any,
    ) -> None:
        kind = type(self).__name__
        super().__init__(**kwargs)
        if max_tokens is not None and integer_arg(kind, "max_tokens", max_tokens) <= 1:
            raise InvalidArgumentError(f"{kind}: max_tokens must be greater than 1 if set, got {max_tokens}")
        if pad_to_max_tokens and max_tokens is None:
            raise InvalidArgumentError(f"{kind}: pad_to_max_tokens=True needs max_tokens")
        self.max_tokens = max_tokens
        self.num_oov_indices = integer_arg(kind, "num_oov_indices", num_oov_indices)
        self.output_mode = output_mode_arg(kind, output_mode, OUTPUT_MODES)
        if invert and self.output_mode != "int":
            raise InvalidArgumentError(
                f"{kind}: invert=True needs output_mode='int', got {self.output_mode!r}"
            )
        refuse_sparse(kind, sparse)
        if idf_weights is not None and self.output_mode != "tf_idf":
            raise InvalidArgumentError(
                f"{kind}: idf_weights are used only with output_mode='tf_idf', not {self.output_mode!r}"
            )
        if self.output_mode == "tf_idf" and vocabulary is not None and idf_weights is None:
            raise InvalidArgumentError(
                f"{kind}: with vocabulary and output_mode='tf_idf', give idf_weights too"
            )
        self.mask_token = self._token(mask_token, "mask_token")
        self.oov_token = self._token(oov_token, "oov_token")
        self.invert = bool(invert)
        self.pad_to_max_tokens = bool(pad_to_max_tokens)
        self.sparse = False
        self.input_vocabulary: Any = _listed(vocabulary)
        self.input_idf_weights: Any = _listed(idf_weights)
        self._tokens: list[Any] = []  # the vocabulary, special tokens left out, in index order
        self._idf: np.ndarray | None = None  # one weight per output index (tf_idf)
        if vocabulary is not None:
            self.set_vocabulary(self.input_vocabulary, self.input_idf_weights)
            if vocabulary_size is not None and vocabulary_size != self.vocabulary_size():
                raise InvalidArgumentError(
                    f"{kind}: vocabulary_size={vocabulary_size} differs from the vocabulary's "
                    f"{self.vocabulary_size()} entries"
                )

    def _token(self, value: Any, name: str) -> Any:
        """A special token (or None) in the vocabulary's type."""
        raise NotImplementedError

    def _host_tokens(self, data: Any) -> np.ndarray:
        """``data`` as a NumPy array of tokens (int64 or str)."""
        raise NotImplementedError

    # --- the vocabulary ------------------------------------------------------------------------
    def _oov_start_index(self) -> int:
        return 1 if self.mask_token is not None and self.output_mode == "int" else 0

    def _token_start_index(self) -> int:
        return self._oov_start_index() + self.num_oov_indices

    def vocabulary_size(self) -> int:
        """The number of indices: the vocabulary with the mask and OOV tokens."""
        return self._token_start_index() + len(self._tokens)

    def get_vocabulary(self, include_special_tokens: bool = True) -> list[Any]:
        """The vocabulary, a token's position being its index (with ``include_special_tokens``:
        the mask token first in ``"int"`` mode, then one OOV token per OOV index)."""
        special = [self.mask_token] * self._oov_start_index() + [self.oov_token] * self.num_oov_indices
        return (special if include_special_tokens else []) + list(self._tokens)

    def set_vocabulary(self, vocabulary: Any, idf_weights: Any = None) -> None:
        """Replace the vocabulary (a list, tuple, 1-D array or Tensor; the mask and OOV tokens may
        lead it, in ``get_vocabulary``'s order) and, in ``"tf_idf"`` mode, its ``idf_weights``."""
        kind = type(self).__name__
        if (idf_weights is None) == (self.output_mode == "tf_idf"):
            raise InvalidArgumentError(
                f"{kind}: idf_weights must be given with output_mode='tf_idf' and only then "
                f"(output_mode={self.output_mode!r})"
            )
        if isinstance(vocabulary, (str, bytes)):
            raise ArgumentTypeError(
                f"{kind}: vocabulary must be a list or array of tokens (bridge reads no vocabulary files), "
                f"got {vocabulary!r}"
            )
        tokens = self._host_tokens(vocabulary).reshape(-1).tolist()
        if not tokens:
            raise InvalidArgumentError(f"{kind}: vocabulary is empty")
        special = self.get_vocabulary()[: self._token_start_index()]
        found_special = tokens[: len(special)] == special
        if found_special:
            tokens = tokens[len(special) :]
        repeated = [token for token, n in collections.Counter(tokens).items() if n > 1]
        if repeated:
            raise InvalidArgumentError(f"{kind}: vocabulary repeats the tokens {repeated}")
        reserved = [("mask_token", self.mask_token)] + [("oov_token", self.oov_token)] * self.invert
        for name, token in reserved:
            if token is not None and token in tokens:
                raise InvalidArgumentError(
                    f"{kind}: vocabulary holds the {name} {token!r} at index {tokens.index(token)}; "
                    f"leave it out, or lead the vocabulary with exactly {special}"
                )
        size = len(special) + len(tokens)
        if self.max_tokens is not None and size > self.max_tokens:
            raise InvalidArgumentError(
                f"{kind}: a vocabulary of {size} entries (with the special tokens) is more than "
                f"max_tokens={self.max_tokens}"
            )
        idf = None
        if idf_weights is not None:
            idf = np.asarray(
                idf_weights.numpy() if isinstance(idf_weights, Tensor) else idf_weights, np.float64
            )
            if idf.ndim != 1 or len(idf) != len(tokens) + len(special) * found_special:
                raise InvalidArgumentError(
                    f"{kind}: idf_weights must be 1-D, one per vocabulary entry ({len(tokens)}), got "
                    f"shape {idf.shape}"
                )
            front = 0 if found_special else len(special)
            idf = np.concatenate([np.full(front, idf.mean()), idf])
        self._tokens = tokens
        self._idf = None if idf is None else self._padded(idf.astype(np.float32))
        self._constants: dict[Any, Tensor] = {}

    def _padded(self, idf: np.ndarray) -> np.ndarray:
        """The weights padded with zeros to ``max_tokens`` with ``pad_to_max_tokens``."""
        if self.pad_to_max_tokens and self.max_tokens is not None:
            return np.pad(idf, (0, self.max_tokens - len(idf)))
        return idf

    def adapt(self, data: Any, steps: int | None = None) -> None:
        """Learn the vocabulary from ``data``: an array of tokens (NumPy, bridge Tensor, list; each
        row a document for ``"tf_idf"``, each token one when it is 1-D), or an iterable of such
        batches (a generator, ``bridge.data.batches``; at most ``steps`` of them; of an ``(x, y)``
        batch ``x`` is used). The tokens are
        ordered by count, most frequent first, ties by token, highest first; ``max_tokens`` keeps
        the first. The vocabulary is replaced, not extended."""
        kind = type(self).__name__
        if self.input_vocabulary is not None:
            raise InvalidArgumentError(
                f"{self.name}: cannot adapt {kind} after a vocabulary was given (vocabulary=...)"
            )
        if isinstance(data, (list, tuple, np.ndarray, Tensor)):
            array = self._host_tokens(data)
            batches: Iterable[np.ndarray] = [array[:, None] if array.ndim == 1 else array]
        elif isinstance(data, Iterable) and not isinstance(data, (str, bytes, dict)):
            limit = None if steps is None else integer_arg(f"{kind}.adapt", "steps", steps, minimum=1)
            batches = (self._host_tokens(first_of(batch)) for batch in itertools.islice(data, limit))
        else:
            raise ArgumentTypeError(
                f"{kind}.adapt: data must be an array or an iterable of batches, got {data!r}"
            )
        counts: collections.Counter[Any] = collections.Counter()
        documents: collections.Counter[Any] = collections.Counter()
        num_documents = 0
        for batch in batches:
            rows = batch.reshape(1, -1) if batch.ndim < 2 else batch.reshape(len(batch), -1)
            counts.update(rows.reshape(-1).tolist())
            for row in rows.tolist():
                documents.update(set(row))
            num_documents += len(rows)
        for special in (self.mask_token, self.oov_token):
            counts.pop(special, None)
        ranked = sorted(counts, key=lambda token: (counts[token], token), reverse=True)
        if self.max_tokens:
            ranked = ranked[: self.max_tokens - self._token_start_index()]
        self._tokens = ranked
        self._constants = {}
        if self.output_mode == "tf_idf":
            idf = np.log(1 + num_documents / (1 + np.array([documents[t] for t in ranked], np.float64)))
            idf = idf.astype(np.float32)
            self._idf = self._padded(np.concatenate([np.full(self._token_start_index(), idf.mean()), idf]))

    # --- calling ---------------------------------------------------------------------------------
    def _depth(self) -> int:
        """The length of the encoded outputs."""
        if self.pad_to_max_tokens and self.max_tokens is not None:
            return self.max_tokens
        if not self._tokens:
            raise NotBuiltError(
                f"{self.name}: {type(self).__name__} with output_mode={self.output_mode!r} needs a "
                "vocabulary before it is called: pass vocabulary=... or call adapt(data)"
            )
        return self.vocabulary_size()

    def _encode(self, lookups: Tensor) -> Tensor:
        """The indices encoded as ``output_mode`` says (int64, float32 for ``"tf_idf"``)."""
        if self.output_mode == "int":
            return lookups
        depth = self._depth()
        if self.output_mode != "tf_idf":
            return encode_categorical(lookups, self.output_mode, depth, int64)
        counts = encode_categorical(lookups, "count", depth, default_float)
        assert self._idf is not None
        idf = self._idf
        return counts * host_constant(self, "idf", idf.tolist, default_float, lookups)

    def get_config(self) -> dict[str, Any]:
        """Keras' keys; ``vocabulary`` (and ``idf_weights``) hold the vocabulary the layer was
        given, or else the one ``adapt`` learned (with the special tokens), so that a saved model
        keeps it."""
        vocabulary, idf = self.input_vocabulary, self.input_idf_weights
        if vocabulary is None and self._tokens:
            vocabulary = self.get_vocabulary()
            size = self.vocabulary_size()
            idf = None if self._idf is None else self._idf[:size].astype(np.float64).tolist()
        return {
            **super().get_config(),
            "invert": self.invert,
            "max_tokens": self.max_tokens,
            "num_oov_indices": self.num_oov_indices,
            "oov_token": self.oov_token,
            "mask_token": self.mask_token,
            "output_mode": self.output_mode,
            "sparse": self.sparse,
            "pad_to_max_tokens": self.pad_to_max_tokens,
            "idf_weights": idf,
            "vocabulary": vocabulary,
            "vocabulary_size": self.vocabulary_size(),
        }


def _refuse_hashing(kind: str, oov_method: str, salt: Any) -> None:
    """Keras' hashed OOV buckets (FarmHash64, SipHash) are not implemented: refuse them."""
    if oov_method != "floormod":
        raise InvalidArgumentError(
            f"{kind}: oov_method must be 'floormod' (bridge has no FarmHash), got {oov_method!r}"
        )
    if salt is not None:
        raise InvalidArgumentError(f"{kind}: salt is not supported (it salts FarmHash buckets), got {salt!r}")


class IntegerLookup(_IndexLookup):
    """Map integer tokens to indices through a vocabulary (Keras' ``IntegerLookup``): index 0 is
    the ``mask_token``'s when one is set (``"int"`` mode), then ``num_oov_indices`` OOV indices (a
    token outside the vocabulary takes ``token % num_oov_indices`` of them), then the vocabulary.
    ``output_mode`` ``"int"`` gives the indices (int64), ``"one_hot"``, ``"multi_hot"``,
    ``"count"`` (int64) and ``"tf_idf"`` (float32) encode them over ``vocabulary_size()`` (or
    ``max_tokens`` with ``pad_to_max_tokens``); ``invert=True`` maps indices back to tokens.

    The lookup is bridge ops (inside ``br.jit`` and compiled ``fit`` too), comparing each token
    with the whole vocabulary: memory grows with inputs x vocabulary. With ``num_oov_indices=0``
    an OOV token raises in eager code; inside ``br.jit`` it gets index -1 (no output in the
    encoded modes)."""

    def __init__(
        self,
        max_tokens: int | None = None,
        num_oov_indices: int = 1,
        mask_token: int | None = None,
        oov_token: int = -1,
        vocabulary: Any = None,
        vocabulary_dtype: str = "int64",
        idf_weights: Any = None,
        invert: bool = False,
        output_mode: str = "int",
        sparse: bool = False,
        pad_to_max_tokens: bool = False,
        oov_method: str = "floormod",
        salt: Any = None,
        vocabulary_size: int | None = None,
        **kwargs: Any,
    ) -> None:
        if vocabulary_dtype != "int64":
            raise InvalidArgumentError(
                f"IntegerLookup: vocabulary_dtype must be 'int64' (as Keras), got {vocabulary_dtype!r}"
            )
        _refuse_hashing("IntegerLookup", oov_method, salt)
        self.vocabulary_dtype = vocabulary_dtype
        self.oov_method = oov_method
        super().__init__(
            max_tokens,
            num_oov_indices,
            mask_token,
            oov_token,
            vocabulary,
            idf_weights,
            invert,
            output_mode,
            sparse,
            pad_to_max_tokens,
            vocabulary_size,
            **kwargs,
        )

    def _token(self, value: Any, name: str) -> Any:
        return None if value is None else integer_arg("IntegerLookup", name, value, minimum=None)

    def _host_tokens(self, data: Any) -> np.ndarray:
        array = np.asarray(data.numpy() if isinstance(data, Tensor) else data)
        if array.dtype.kind not in "iu":
            raise DTypeError(f"IntegerLookup: tokens must be integers, got {array.dtype} ({array!r:.80})")
        return array.astype(np.int64)

    def call(self, x: Tensor) -> Tensor:
        if x.dtype.kind not in "iu":
            raise DTypeError(f"{self.name}: IntegerLookup needs integer tokens, got {x.dtype}")
        x = x.astype(int64)
        if self.invert:
            return self._tokens_at(x)
        return self._encode(self._lookup(x))

    def _lookup(self, x: Tensor) -> Tensor:
        """The index of each token (bridge ops): the mask, the vocabulary, else OOV."""
        start = self._token_start_index()
        keys = host_constant(self, "keys", lambda: self._tokens, int64, x)
        positions = host_constant(
            self, "positions", lambda: range(start, start + len(self._tokens)), int64, x
        )
        hits = ops.equal(ops.expand_dims(x, -1), keys)
        found = ops.any(hits, -1)
        index = ops.sum(hits.astype(int64) * positions, -1)
        default = self._oov_start_index() if self.num_oov_indices == 1 else -1
        lookups = ops.where(found, index, default)
        if self.mask_token is not None:
            lookups = ops.where(
                ops.equal(x, self.mask_token), 0 if self.output_mode == "int" else _DROPPED, lookups
            )
        if self.num_oov_indices > 1:
            buckets = ops.mod(x, self.num_oov_indices) + self._oov_start_index()
            lookups = ops.where(ops.equal(lookups, -1), buckets, lookups)
        elif self.num_oov_indices == 0 and not x._backend.tracing():
            missing = x.numpy()[lookups.numpy() == -1]
            if missing.size:
                raise InvalidArgumentError(
                    f"{self.name}: IntegerLookup with num_oov_indices=0 got tokens outside the vocabulary: "
                    f"{sorted(set(missing.tolist()))[:10]}; set num_oov_indices=1 for them"
                )
        return lookups

    def _tokens_at(self, x: Tensor) -> Tensor:
        """invert=True: the token at each index, ``oov_token`` outside the vocabulary."""
        table = host_constant(self, "table", self.get_vocabulary, int64, x)
        size = self.vocabulary_size()
        valid = ops.logical_and(ops.greater_equal(x, 0), ops.less(x, size))
        tokens = ops.sum(ops.one_hot(x, size, dtype=int64) * table, -1)  # as the lookup: no gather
        return ops.where(valid, tokens, self.oov_token)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "vocabulary_dtype": self.vocabulary_dtype,
            "oov_method": self.oov_method,
            "salt": None,
        }


class StringLookup(_IndexLookup):
    """Map string tokens to indices through a vocabulary (Keras' ``StringLookup``), as
    ``IntegerLookup`` does, with ``oov_token="[UNK]"`` and one OOV index at most (Keras hashes
    OOV strings into several with FarmHash64, which bridge does not have).

    Strings cannot be backend tensors: call the layer eagerly, on a NumPy array of ``str`` (or
    ``bytes``) or a list of them, before the model (on the data you give ``fit``); it returns an
    int64 Tensor of the indices (or the ``output_mode`` encoding of them, a Tensor of the current
    backend). ``invert=True`` maps integer indices to a NumPy array of ``str``. It cannot be called
    on symbolic inputs or inside ``br.jit``."""

    def __init__(
        self,
        max_tokens: int | None = None,
        num_oov_indices: int = 1,
        mask_token: str | None = None,
        oov_token: str = "[UNK]",
        vocabulary: Any = None,
        idf_weights: Any = None,
        invert: bool = False,
        output_mode: str = "int",
        pad_to_max_tokens: bool = False,
        sparse: bool = False,
        encoding: str = "utf-8",
        salt: Any = None,
        oov_method: str = "floormod",
        vocabulary_size: int | None = None,
        **kwargs: Any,
    ) -> None:
        _refuse_hashing("StringLookup", oov_method, salt)
        if integer_arg("StringLookup", "num_oov_indices", num_oov_indices) > 1:
            raise InvalidArgumentError(
                f"StringLookup: num_oov_indices must be 0 or 1 (several OOV indices need Keras' FarmHash64 "
                f"of the strings), got {num_oov_indices}"
            )
        self.encoding = encoding
        self.oov_method = oov_method
        super().__init__(
            max_tokens,
            num_oov_indices,
            mask_token,
            oov_token,
            vocabulary,
            idf_weights,
            invert,
            output_mode,
            sparse,
            pad_to_max_tokens,
            vocabulary_size,
            **kwargs,
        )
        self.built = True  # no weights: nothing to build on

    def _token(self, value: Any, name: str) -> Any:
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, bytes):
            return value.decode(self.encoding)
        raise ArgumentTypeError(f"StringLookup: {name} must be a str or None, got {value!r}")

    def _host_tokens(self, data: Any) -> np.ndarray:
        array = np.asarray(data)
        if array.dtype.kind == "S" or (
            array.dtype.kind == "O" and array.size and isinstance(array.flat[0], bytes)
        ):
            array = np.vectorize(lambda b: b.decode(self.encoding), otypes=[object])(array)
        if array.dtype.kind not in "UO" or not all(isinstance(t, str) for t in array.flat):
            raise DTypeError(f"StringLookup: tokens must be strings, got {array.dtype} ({array!r:.80})")
        return array.astype(object)

    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        """Look ``inputs`` up on the host (see the class's docstring), eagerly."""
        if isinstance(inputs, Tensor) and not self.invert:
            raise DTypeError(f"{self.name}: StringLookup maps strings, got a Tensor of {inputs.dtype}")
        if is_symbolic(inputs) or (isinstance(inputs, Tensor) and inputs._backend.tracing()):
            raise SymbolicTensorError(
                f"{self.name}: StringLookup runs on the host, eagerly: apply it to the data (NumPy arrays "
                "of str), not to symbolic inputs or inside br.jit"
            )
        if args or kwargs:
            raise ArgumentTypeError(
                f"{self.name}: StringLookup takes only the inputs, got more: {args} {kwargs}"
            )
        return self.call(inputs)

    def call(self, inputs: Any) -> Any:
        if self.invert:
            return self._tokens_at(inputs)
        return self._encode(ops.tensor(self._lookup(self._host_tokens(inputs))))

    def _lookup(self, tokens: np.ndarray) -> np.ndarray:
        start = self._token_start_index()
        index = {token: start + i for i, token in enumerate(self._tokens)}
        if self.mask_token is not None:
            index[self.mask_token] = 0 if self.output_mode == "int" else _DROPPED
        default = self._oov_start_index() if self.num_oov_indices else -1
        lookups = np.array([index.get(token, default) for token in tokens.flat], np.int64).reshape(
            tokens.shape
        )
        if self.num_oov_indices == 0 and (lookups == -1).any():
            missing = sorted(set(tokens[lookups == -1].tolist()))[:10]
            raise InvalidArgumentError(
                f"{self.name}: StringLookup with num_oov_indices=0 got tokens outside the vocabulary: "
                f"{missing}; set num_oov_indices=1 for them"
            )
        return lookups

    def _tokens_at(self, inputs: Any) -> np.ndarray:
        """invert=True: the string at each index (a NumPy array of str), ``oov_token`` outside."""
        ids = np.asarray(inputs.numpy() if isinstance(inputs, Tensor) else inputs)
        if ids.dtype.kind not in "iu":
            raise DTypeError(f"{self.name}: StringLookup(invert=True) needs integer indices, got {ids.dtype}")
        table = np.array(self.get_vocabulary() + [self.oov_token], dtype=str)
        valid = (ids >= 0) & (ids < self.vocabulary_size())
        return table[np.where(valid, ids, len(table) - 1)]

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "encoding": self.encoding,
            "oov_method": self.oov_method,
            "salt": None,
        }


__all__ = ["IntegerLookup", "StringLookup"]
