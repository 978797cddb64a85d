"""Facts that docs/topics/saving.md relies on and no other test pins: registering a class of your
own again, as re-running a notebook cell (or a docs page) does, replaces it, as Keras'
``register_keras_serializable`` does; two different classes under one name are still an error."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import bridge as br
from bridge import _registry, nn
from bridge.serialization import LAYERS

CELL = """
@nn.register_serializable(package="docs_facts")
class Scale(nn.Layer):
    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}
"""


@pytest.fixture
def registry() -> Iterator[None]:
    """Whatever a test registers is gone after it."""
    names, objects = dict(_registry._REGISTERED), dict(_registry._REGISTERED_NAMES)
    yield
    _registry._REGISTERED.clear()
    _registry._REGISTERED.update(names)
    _registry._REGISTERED_NAMES.clear()
    _registry._REGISTERED_NAMES.update(objects)


def run_cell(module: str) -> type:
    """The class the cell defines, as a notebook cell run in ``module`` would define it."""
    namespace: dict = {"__name__": module, "nn": nn}
    exec(CELL, namespace)
    return namespace["Scale"]


def test_running_a_cell_again_replaces_the_registered_class(registry: None) -> None:
    first = run_cell("__main__")
    second = run_cell("__main__")  # the same cell, run again: a new class object
    assert first is not second
    assert LAYERS.lookup("docs_facts>Scale") is second
    config = nn.serialize(second(3.0))
    assert config["registered_name"] == "docs_facts>Scale"
    layer = nn.deserialize(config)
    assert type(layer) is second and layer.factor == 3.0


def test_another_class_under_the_same_name_is_still_an_error(registry: None) -> None:
    run_cell("__main__")
    with pytest.raises(br.InvalidArgumentError, match="'docs_facts>Scale' is already registered"):
        run_cell("other_module")


def test_registering_the_same_class_twice_is_fine(registry: None) -> None:
    cls = run_cell("__main__")
    assert nn.register_serializable(package="docs_facts")(cls) is cls
    assert LAYERS.lookup("docs_facts>Scale") is cls


def test_the_decorator_without_parentheses_says_to_add_them(registry: None) -> None:
    with pytest.raises(
        br.ArgumentTypeError, match=r"@register_serializable\(\) \(with parentheses\).*'Scale'"
    ):

        @nn.register_serializable  # type: ignore[arg-type]
        class Scale(nn.Layer):
            pass
