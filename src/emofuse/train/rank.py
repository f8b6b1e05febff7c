"""Which process of a distributed job this is, without importing Lightning (the report step of a grid whose
runs trained in worker processes never needs it)."""

from __future__ import annotations

import os
import sys

#: where Lightning reads a process's rank before its strategy sets it (the same order as Lightning's)
RANK_ENV_VARS = ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK")


def is_rank_zero() -> bool:
    """True in the process that writes results: the only one, or rank 0 of a DDP job (Lightning sets the rank
    when its strategy starts; under ``torchrun``/SLURM every process runs the runner, only rank 0 writes).

    When Lightning is loaded its ``rank_zero_only.rank`` decides; otherwise the rank variables of the
    environment do, as Lightning itself would read them.
    """
    module = sys.modules.get("lightning.fabric.utilities.rank_zero")
    if module is not None:
        return int(getattr(module.rank_zero_only, "rank", 0) or 0) == 0
    for key in RANK_ENV_VARS:
        value = os.environ.get(key)
        if value is not None:
            return int(value) == 0
    return True
