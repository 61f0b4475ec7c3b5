"""The plugin tasks' names as harness tasks, so runs converted from lmms-eval can be compared.

`harness compare` rebuilds a task's metrics from its sample records through the harness task registry. A
plugin task `ur_NAME` (harness.lmms.bridge) is registered as the `strict` protocol of task NAME, nothing else,
so two lmms-eval runs of it, or an lmms-eval run and `harness run --tasks ur_NAME` on the same data, compare
item by item: same sample ids, same records, same scoring.

The classes are made on first use from the registered task: the entry point
`ur_vlrewardbench = "harness.lmms.harness_tasks:URVLRewardBench"` names `UR` + the class of `vlrewardbench`, and
this module builds it then; a new plugin task is that one line in pyproject.toml, and nothing here imports a
task module of its own.
"""

from __future__ import annotations

from typing import Any

#: lmms-eval's name of the plugin task of our task NAME is PREFIX + NAME, run under PROTOCOL only. Defined here,
#: not in harness.lmms.bridge (which imports them), because `harness list` builds these classes and must not
#: import the lmms-eval wing.
PREFIX = "ur_"
PROTOCOL = "strict"


def plugin_task_class(name: str) -> type:
    """The registered task `name` restricted to its `strict` protocol, named `ur_NAME`."""
    from harness.registry import TASKS

    base = TASKS.get(name)
    return type(f"UR{base.__name__}", (base,), {
        "__doc__": f"{name}, {PROTOCOL} protocol only: the task lmms-eval runs as {PREFIX}{name}.",
        "__module__": __name__, "name": PREFIX + name, "protocols": {PROTOCOL: base.protocols[PROTOCOL]},
        "scorer_protocol": None, "family_protocols": {}})


def __getattr__(attr: str) -> Any:
    from harness.registry import TASKS

    if attr.startswith("UR"):
        for name in TASKS.names():
            if not name.startswith(PREFIX) and TASKS.get(name).__name__ == attr[2:]:
                cls = globals()[attr] = plugin_task_class(name)
                return cls
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")
