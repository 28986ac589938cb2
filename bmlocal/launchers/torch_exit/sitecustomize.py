"""Loaded by every Python process of a PytorchDDP node (bmlocal puts this directory first on
its PYTHONPATH); imports nothing heavy and does nothing unless torch.distributed is in use.

A script that ends without `destroy_process_group()` (Kubeflow's CPU demo, many others)
leaves gloo's worker threads holding the last collective's work. When one of them lets go of
it while the interpreter finalizes, it needs the GIL, Python ends that thread with
pthread_exit, the unwind crosses a C++ destructor and the rank aborts: `terminate called
without an active exception`, SIGABRT, after every step of the work is done (PyTorch knows
it: pytorch/pytorch#179291). Destroying the process groups at exit, while the interpreter is
still whole, removes that race. A process that fails (an uncaught exception, `sys.exit` with
a non-zero status) is left to exit as it would: its peers may wait in a collective, and the
node that failed first must still be the first to end. Then any other sitecustomize on the
path runs as usual.
"""
import atexit
import importlib.machinery
import importlib.util
import os
import sys


_failed: list[bool] = []


def note_failure(kind, value, traceback) -> None:  # noqa: ANN001 - sys.excepthook's shape
    _failed.append(True)
    _original_excepthook(kind, value, traceback)


def note_exit(status: object = None) -> None:
    if status not in (None, 0):
        _failed.append(True)
    _original_exit(status)


def destroy_process_groups() -> None:
    dist = sys.modules.get("torch.distributed")
    if dist is None or _failed:
        return
    try:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
    except Exception:  # at exit, nothing is left to tell: the rank's work is done
        pass


def run_next_sitecustomize() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    path = [p for p in sys.path if os.path.abspath(p or ".") != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", path)
    if spec is not None and spec.loader is not None:
        spec.loader.exec_module(importlib.util.module_from_spec(spec))


_original_excepthook, _original_exit = sys.excepthook, sys.exit
sys.excepthook, sys.exit = note_failure, note_exit
atexit.register(destroy_process_groups)
run_next_sitecustomize()
