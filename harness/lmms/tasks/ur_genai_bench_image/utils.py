"""lmms-eval hooks of ur_genai_bench_image (seed 0); generated, do not edit. The code is harness.lmms.bridge."""

from harness.lmms.bridge import PluginTask

_TASK = PluginTask('ur_genai_bench_image', seed=0)


def process_docs(dataset):
    return _TASK.process_docs(dataset)


def doc_to_visual(doc):
    return _TASK.doc_to_visual(doc)


def doc_to_text(doc, lmms_eval_specific_kwargs=None):
    return _TASK.doc_to_text(doc, lmms_eval_specific_kwargs)


def doc_to_target(doc):
    return _TASK.doc_to_target(doc)


def process_results(doc, results):
    return _TASK.process_results(doc, results)


def agg_tau(records):
    return _TASK.aggregate('tau', records)


def agg_diff(records):
    return _TASK.aggregate('diff', records)
