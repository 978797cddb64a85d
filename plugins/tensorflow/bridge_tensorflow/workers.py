"""Data-parallel workers on ``tf.distribute``: a ``MultiWorkerMirroredStrategy`` from
``TF_CONFIG`` (one replica a worker, on the GPU of its ``LOCAL_RANK`` where there are GPUs),
whose replica context sums a list of tensors over the workers in one collective, eagerly or
inside a ``tf.function``."""

from __future__ import annotations

import os

import tensorflow as tf


class Workers:
    """The strategy of this process's group, made once (TensorFlow asks for it at startup)."""

    strategy: tf.distribute.MultiWorkerMirroredStrategy | None = None

    @classmethod
    def join(cls, timeout: float) -> tuple[int, int]:
        """This worker's rank and the number of workers; without ``TF_CONFIG``, the process works
        alone, with no strategy."""
        if cls.strategy is None:
            if "TF_CONFIG" not in os.environ:
                return 0, 1
            gpus = tf.config.list_physical_devices("GPU")
            if gpus:  # one replica a worker: its local rank's GPU (all would be replicas of it)
                tf.config.set_visible_devices(gpus[int(os.environ.get("LOCAL_RANK", 0)) % len(gpus)], "GPU")
            options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=timeout)
            cls.strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
        return cls.strategy.cluster_resolver.task_id or 0, cls.strategy.num_replicas_in_sync

    @classmethod
    def all_reduce(cls, xs: list[tf.Tensor]) -> list[tf.Tensor]:
        strategy = cls.strategy
        assert strategy is not None, "join_workers first"
        context = tf.distribute.get_replica_context()
        if context is not None and context.strategy is strategy:  # inside strategy.run already
            return list(context.all_reduce("sum", xs))
        # read inside the replica, whose device a traced tensor made outside lacks (and needs)
        return list(strategy.run(lambda: cls.all_reduce([tf.identity(x) for x in xs])))
