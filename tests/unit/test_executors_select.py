"""A stored node whose executor is gone (no Docker engine after a restart) is not an error."""
from bmlocal.runtime.executors.process import ProcessExecutor
from bmlocal.runtime.executors.select import Executors


def test_a_node_of_a_missing_executor_counts_as_running() -> None:
    executors = Executors(ProcessExecutor(), None)
    handle = {"kind": "docker", "id": "abc", "name": "bmlocal-job1-node0"}
    executor = executors.for_handle(handle)
    executor.adopt(handle)
    executor.stop(handle, 1.0)
    assert executor.poll(handle) is None
