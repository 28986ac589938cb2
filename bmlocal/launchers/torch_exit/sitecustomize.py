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
node that failed first must still be the first to end.

torchrun copies each rank's log file to its own output (`--tee`, the `[node n rank r]` lines)
in threads that poll the file and sleep 0.1 s at its end; when the workers have exited it
stops them one stream after the other, each waiting out a sleep: 0.15-0.2 s at the end of
every job. Once torchrun imports its tailer, the tailer waits on the event that stops it
instead of sleeping, so the copy ends at once, with every line (the same loop otherwise).
A torch whose tailer takes other arguments is left as it is.

Then any other sitecustomize on the path runs as usual.
"""
from __future__ import annotations  # an image's Python may be older than bmlocal's

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


TAILER = "torch.distributed.elastic.multiprocessing.tail_log"
TAILER_ARGS = ("header", "file", "dst", "finished", "interval_sec", "log_line_filter")


def tail_logfile(header, file, dst, finished, interval_sec,  # noqa: ANN001 - torch's shape
                 log_line_filter=None) -> None:
    """torch 2.13's tail_logfile, waking when `finished` is set rather than after a sleep."""
    while not os.path.exists(file):
        if finished.wait(interval_sec):
            return
    with open(file, errors="replace") as fp:
        while True:
            line = fp.readline()
            if line:
                if log_line_filter and log_line_filter(line):
                    dst.write(f"{header}{line}")
            elif finished.is_set():
                break
            else:
                finished.wait(interval_sec)


class TailerHook:
    """A meta path finder for torchrun's tailer alone: it lets the import run as usual, then
    swaps the tailer's loop for the one above."""

    def find_spec(self, name, path, target=None):  # noqa: ANN001, ANN201 - importlib's shape
        if name != TAILER:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = TailerLoader(spec.loader)
        return spec


class TailerLoader:
    """torch's own loader (its other methods passed through), swapping the loop once it ran."""

    def __init__(self, loader) -> None:  # noqa: ANN001
        self.loader = loader

    def __getattr__(self, name: str):  # noqa: ANN204 - get_source, get_code, ...
        return getattr(self.loader, name)

    def create_module(self, spec):  # noqa: ANN001, ANN201
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:  # noqa: ANN001
        self.loader.exec_module(module)
        theirs = getattr(module, "tail_logfile", None)
        code = getattr(theirs, "__code__", None)
        if code is not None and code.co_varnames[:code.co_argcount] == TAILER_ARGS:
            module.tail_logfile = tail_logfile


def run_next_sitecustomize() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    path = [p for p in sys.path if os.path.abspath(p or ".") != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", path)
    if spec is not None and spec.loader is not None:
        spec.loader.exec_module(importlib.util.module_from_spec(spec))


_original_excepthook, _original_exit = sys.excepthook, sys.exit
sys.excepthook, sys.exit = note_failure, note_exit
atexit.register(destroy_process_groups)
sys.meta_path.insert(0, TailerHook())
run_next_sitecustomize()
