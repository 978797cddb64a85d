"""The TensorFlow backend plugin. Importing this module does not import tensorflow."""

from bridge import BackendInfo, hookimpl


@hookimpl
def bridge_backends() -> list[BackendInfo]:
    return [
        BackendInfo(
            name="tensorflow",
            load="bridge_tensorflow.backend:TensorFlowBackend",
            framework="tensorflow",
            pip_name="tensorflow  (or tensorflow-cpu)",
            native_modules=("tensorflow", "keras"),
            priority=1,
        )
    ]
