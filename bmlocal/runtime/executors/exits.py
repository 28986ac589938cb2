"""Knowing at once that a node's supervisor ended: one thread waits on a pidfd a
supervisor and calls back with the key it was watched under (its job), so the scheduler
looks at that job now instead of at its next tick. Where pidfds are missing (Linux before
5.3) nothing is called and the tick still sees every end."""
import os
import select
import threading
from typing import Callable, Generic, TypeVar

from bmlocal.runtime.executors import proc

Key = TypeVar("Key")


class ExitWatcher(Generic[Key]):
    def __init__(self, on_exit: Callable[[Key], None]) -> None:
        self.on_exit = on_exit
        self._lock = threading.Lock()
        self._epoll: select.epoll | None = None
        self._watched: dict[int, Key] = {}  # pidfd: its key

    def watch(self, pid: int, start: int, key: Key) -> None:
        """Call back with `key` once the process that has `pid` and `start` ends (now, if
        it has)."""
        try:
            pidfd = os.pidfd_open(pid)
        except ProcessLookupError:  # gone already
            self.on_exit(key)
            return
        except (AttributeError, OSError):  # no pidfds here: the tick sees the end
            return
        if not proc.alive(pid, start):  # ended, or the pid names another process now
            os.close(pidfd)
            self.on_exit(key)
            return
        with self._lock:
            if self._epoll is None:
                self._epoll = select.epoll()
                threading.Thread(target=self._loop, args=(self._epoll,), daemon=True,
                                 name="bmlocal-exits").start()
            self._watched[pidfd] = key
            self._epoll.register(pidfd, select.EPOLLIN)

    def _loop(self, epoll: select.epoll) -> None:
        while True:
            ended = [fd for fd, _ in epoll.poll()]
            with self._lock:
                keys = [self._watched.pop(fd) for fd in ended]
                for fd in ended:
                    epoll.unregister(fd)
                    os.close(fd)
            for key in keys:
                self.on_exit(key)
