"""The conformance kit: bridge's op and gradient parity suite, for any installed backend.

Run it without this repository, against your plugin's backend (and optionally others)::

    pytest --pyargs bridge.testing.conformance --bridge-backends=mine

Each test checks the backend against a NumPy float64 reference, and the chosen backends against
each other. Tests of optional features (``autodiff``, ``jit``) are marked
``bridge_requires(...)`` and deselected on a backend without them, so a forward-only backend
such as the NumPy reference (``--bridge-backends=numpy``) runs the forward part.
Needs the ``bridge[testing]`` extra (pytest and hypothesis).
"""
