"""The PyTorch backend plugin. Importing this module does not import torch."""

from bridge import BackendInfo, hookimpl


@hookimpl
def bridge_backends() -> list[BackendInfo]:
    return [
        BackendInfo(
            name="torch",
            load="bridge_torch.backend:TorchBackend",
            framework="torch",
            pip_name="torch",
            native_modules=("torch",),
            priority=2,
        )
    ]
