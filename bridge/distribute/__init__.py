"""``bridge.distribute``: data-parallel training on the frameworks' own engines — torch.distributed
(gloo on CPUs, NCCL on GPUs) and tf.distribute (``MultiWorkerMirroredStrategy``), never a transport
of bridge's own. Start workers with ``python -m bridge.distribute.launch --nproc N script.py``
(or torchrun, or TF_CONFIG on a cluster); in the script, ``DataParallel()`` joins them."""

from .data_parallel import DataParallel, current, joined

__all__ = ["DataParallel", "current", "joined"]
