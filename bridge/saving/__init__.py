"""Saving and loading: whole models (``save_model`` / ``load_model``, ``Model.save`` /
``nn.load_model``) and weights (``save_weights`` / ``load_weights``), in safetensors files that
hold only arrays and strings, so that opening one can never run code. A model saved on one
backend loads on the other. The format: docs/topics/file-format.md."""

from __future__ import annotations

from .._registry import register_serializable
from .model_file import load_model, load_weights, save_model, save_weights

__all__ = ["save_model", "load_model", "save_weights", "load_weights", "register_serializable"]
