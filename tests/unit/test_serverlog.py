"""The server's log: every line reaches the stream, in order, within a batch's time; a
forked child writes its own lines at once and never the parent's."""
import io
import logging
import os
import time

from bmlocal.serverlog import BATCH_SECONDS, BatchedHandler, OncePer


def logger(handler: logging.Handler) -> logging.Logger:
    log = logging.getLogger(f"test-serverlog-{id(handler)}")
    log.propagate = False
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    return log


def test_lines_arrive_in_order_within_a_batch() -> None:
    stream = io.StringIO()
    handler = BatchedHandler(stream)
    log = logger(handler)
    for n in range(500):
        log.info("line %d", n)
    deadline = time.monotonic() + 5
    while stream.getvalue().count("\n") < 500:
        assert time.monotonic() < deadline, "the writer thread did not write"
        time.sleep(BATCH_SECONDS)
    assert stream.getvalue().splitlines() == [f"line {n}" for n in range(500)]
    handler.close()


def test_close_writes_what_is_left() -> None:
    stream = io.StringIO()
    handler = BatchedHandler(stream, every=60)  # the writer would wait a minute
    logger(handler).warning("last words")
    handler.close()
    assert stream.getvalue() == "last words\n"


def test_a_forked_child_writes_its_own_lines_only(tmp_path) -> None:
    path = tmp_path / "log"
    with open(path, "w") as stream:
        handler = BatchedHandler(stream, every=60)
        log = logger(handler)
        log.info("parent, not yet written")
        pid = os.fork()
        if pid == 0:  # the child: no writer thread
            log.info("child")
            os._exit(0 if path.read_text() == "child\n" else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, path.read_text()
        handler.close()
    assert path.read_text() == "child\nparent, not yet written\n"


def test_once_per_lets_one_record_through_and_counts_the_rest() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(OncePer(seconds=0.3))
    log = logger(handler)
    for depth in range(1, 6):
        log.warning("Task queue depth is %d", depth)
    time.sleep(0.35)
    log.warning("Task queue depth is %d", 9)
    assert stream.getvalue().splitlines() == [
        "Task queue depth is 1", "Task queue depth is 9 (4 more since the last such line)"]
