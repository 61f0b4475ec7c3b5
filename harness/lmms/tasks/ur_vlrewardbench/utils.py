"""lmms-eval hooks of ur_vlrewardbench (seed 0); generated, do not edit. The code is harness.lmms.bridge."""

from harness.lmms.bridge import PluginTask

_TASK = PluginTask('ur_vlrewardbench', seed=0)


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


def agg_accuracy_general(records):
    return _TASK.aggregate('accuracy/general', records)


def agg_accuracy_hallucination(records):
    return _TASK.aggregate('accuracy/hallucination', records)


def agg_accuracy_reasoning(records):
    return _TASK.aggregate('accuracy/reasoning', records)


def agg_overall_accuracy(records):
    return _TASK.aggregate('overall_accuracy', records)


def agg_macro_accuracy(records):
    return _TASK.aggregate('macro_accuracy', records)
