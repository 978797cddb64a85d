"""The same tensor program on every installed backend, and a check that they agree.

python examples/tensor_demo.py                       # every installed backend
python examples/tensor_demo.py --backends torch      # just one
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out of the demo

import numpy as np  # noqa: E402

import bridge as br  # noqa: E402


def program() -> dict[str, br.Tensor]:
    """Ordinary tensor code: nothing in it names a framework."""
    x = br.tensor([[1.0, 2.0], [3.0, 4.0]])
    y = br.ops.softmax(x @ x.T / 2 + 1, axis=-1)
    w = br.random.normal((3, 4), seed=42)
    image = br.arange(32.0).reshape(1, 4, 4, 2) / 32
    features = br.ops.max_pool2d(br.ops.conv2d(image, br.ones((2, 2, 2, 3)) / 8, padding="same"), 2)
    return {
        "softmax(x @ x.T / 2 + 1)": y,
        "random.normal(seed=42)": w,
        "x.at[0, 1].set(5.0)": x.at[0, 1].set(5.0),
        "int32 + float32 -> dtype": br.tensor([1, 2], dtype="int32") + br.tensor([0.5, 0.5]),
        "conv2d + max_pool2d": features,
        "norms of w rows": br.ops.norm(w, axis=1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default=",".join(br.backends()), help="comma-separated backends")
    names = [n for n in parser.parse_args().backends.split(",") if n]

    results = {}
    for name in names:
        with br.use_backend(name):
            results[name] = program()
        print(f"=== {name} {br.backends()[name]} ===")
        for label, value in results[name].items():
            shown = np.array2string(value.numpy(), precision=4, suppress_small=True, max_line_width=100)
            print(f"{label:<28} {value.dtype} {value.device}\n{shown}")

    agree = True
    reference = names[0]
    for name in names[1:]:
        print(f"\n{name} against {reference}:")
        for label, value in results[name].items():
            ours, theirs = (
                value.numpy().astype(np.float64),
                results[reference][label].numpy().astype(np.float64),
            )
            difference = float(np.max(np.abs(ours - theirs)))
            same_dtype = value.dtype == results[reference][label].dtype
            ok = same_dtype and difference <= 1e-5
            agree &= ok
            verdict = "ok" if ok else "DIFFERENT"
            print(f"  {label:<28} max |difference| {difference:.2e}  dtype {value.dtype}  {verdict}")
    print(f"\n{' and '.join(names)} {'agree' if agree else 'DISAGREE'}.")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
