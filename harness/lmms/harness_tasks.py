"""The plugin tasks' names as harness tasks, so runs converted from lmms-eval can be compared.

`harness compare` rebuilds a task's metrics from its sample records through the harness task registry.
Registering `ur_vlrewardbench` and `ur_genai_bench_image` (the `strict` protocol of `vlrewardbench` and
`genai_bench_image`, nothing else) lets it compare two lmms-eval runs of them, or an lmms-eval run with
`harness run --tasks ur_vlrewardbench` on the same data: same sample ids, same records, same scoring.
"""

from __future__ import annotations

from harness.registry import task
from tasks.genai_bench import GenAIBenchImage
from tasks.vlrewardbench import PROTOCOLS, VLRewardBench


@task("ur_vlrewardbench")
class URVLRewardBench(VLRewardBench):
    """vlrewardbench, strict protocol only: the task lmms-eval runs as ur_vlrewardbench."""

    protocols = {"strict": PROTOCOLS["strict"]}


@task("ur_genai_bench_image")
class URGenAIBenchImage(GenAIBenchImage):
    """genai_bench_image, strict protocol only: the task lmms-eval runs as ur_genai_bench_image."""

    protocols = {"strict": GenAIBenchImage.protocols["strict"]}
    scorer_protocol = None
