"""Files a job could have touched, read and written without following its links.

Every component below a trusted root is opened with O_NOFOLLOW relative to its parent's
descriptor, and what was opened is checked with fstat: a name that a job swaps for a
symbolic link (or a FIFO, or a device) between a check and its use is never followed.
Standard library only, besides the stop check of a copy under way."""
import errno
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bmlocal.runtime.cancel import check as check_cancel

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: opening a FIFO a job planted must not hang the server.
FILE_FLAGS = os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
CHUNK = 1 << 20
MAX_DEPTH = 128  # a job nesting directories deeper costs the server a scan that grows with it


class NotRegular(OSError):
    """A name that is a symbolic link, a FIFO, a device or a socket where a plain file or
    directory was expected: it is neither read, nor written, nor followed."""


@dataclass(frozen=True)
class Entry:
    """One name found under a root: `path` is relative, '/'-separated."""
    path: str
    kind: str  # "file", "dir", "link" or "other"
    size: int = 0
    mtime_ns: int = 0


KIND_TEXT = {"file": "a plain file", "dir": "a directory", "link": "a symbolic link",
             "other": "a special file (or a directory nested too deep)"}


def kind_of(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    return "link" if stat.S_ISLNK(mode) else "other"


def _nofollow(exc: OSError, name: str) -> OSError:
    """ELOOP from O_NOFOLLOW means the name is a link: say so plainly."""
    if exc.errno == errno.ELOOP:
        return NotRegular(errno.ELOOP, "is a symbolic link", name)
    return exc


def open_dir(root: Path | str, parts: Iterable[str] = (), create: bool = False) -> int:
    """A descriptor of the directory root/parts. `root` is trusted (the server's own); no
    component below it may be a link. With `create`, missing directories are made."""
    return _walk(os.open(root, DIR_FLAGS & ~os.O_NOFOLLOW), parts, create)


def _walk(fd: int, parts: Iterable[str], create: bool) -> int:
    """A descriptor of fd/parts, each step without following a link; `fd` is closed."""
    for part in parts:
        try:
            child = _child_dir(fd, part, create)
        finally:
            os.close(fd)
        fd = child
    return fd


def _child_dir(parent: int, name: str, create: bool) -> int:
    """A new descriptor of the directory `name` under `parent` (left open)."""
    if create:
        try:
            os.mkdir(name, 0o755, dir_fd=parent)
        except FileExistsError:
            pass
    try:
        return os.open(name, DIR_FLAGS, dir_fd=parent)
    except NotADirectoryError:  # what O_DIRECTORY|O_NOFOLLOW answers for a link
        if stat.S_ISLNK(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode):
            raise NotRegular(errno.ELOOP, "is a symbolic link", name) from None
        raise
    except OSError as exc:
        raise _nofollow(exc, name) from None


def open_file(dir_fd: int, name: str, flags: int = os.O_RDONLY, mode: int = 0o644) -> int:
    """A descriptor of the plain file `name` in `dir_fd`; NotRegular for anything else."""
    if not flags & os.O_CREAT:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        if not stat.S_ISREG(st.st_mode):  # never even open a device or FIFO
            raise NotRegular(errno.EINVAL, f"is a {kind_of(st.st_mode)}, not a file", name)
    try:
        fd = os.open(name, flags | FILE_FLAGS, mode, dir_fd=dir_fd)
    except OSError as exc:
        raise _nofollow(exc, name) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped since the stat above
        os.close(fd)
        raise NotRegular(errno.EINVAL, "is not a file", name)
    os.set_blocking(fd, True)
    return fd


@contextmanager
def opened(root: Path | str, relative: str, flags: int = os.O_RDONLY,
           start: tuple[str, ...] = ()) -> Iterator[int]:
    """The plain file root/start/relative (a '/'-separated name), no link followed below
    the trusted `root`."""
    *dirs, name = relative.split("/")
    dir_fd = open_dir(root, (*start, *dirs))
    try:
        fd = open_file(dir_fd, name, flags)
    finally:
        os.close(dir_fd)
    try:
        yield fd
    finally:
        os.close(fd)


def scan(root: Path | str, start: tuple[str, ...] = ()) -> Iterator[Entry]:
    """Every name under root/start (paths relative to it), each directory listed before
    its contents, with one lstat each. Directories are entered by O_NOFOLLOW steps from
    the trusted `root`, one descriptor open at a time whatever the depth; links and special
    files are only reported, and so is a directory deeper than MAX_DEPTH."""
    pending = [""]
    while pending:
        prefix = pending.pop()
        parts = prefix.split("/")[:-1]
        try:
            fd = open_dir(root, (*start, *parts))
        except FileNotFoundError:
            continue
        except NotRegular:  # swapped for a link since its parent was listed
            continue
        try:
            found = list(_listed(fd, prefix))
        finally:
            os.close(fd)
        for entry in found:
            if entry.kind == "dir" and entry.path.count("/") >= MAX_DEPTH:
                entry = Entry(entry.path, "other")
            yield entry
            if entry.kind == "dir":
                pending.append(entry.path + "/")


def list_dir(root: Path | str) -> list[Entry]:
    """The names directly in `root` (not below), sorted, with one lstat each; [] when
    `root` is absent or not a directory."""
    try:
        fd = open_dir(root)
    except (FileNotFoundError, NotADirectoryError, NotRegular):
        return []
    try:
        return list(_listed(fd, ""))
    finally:
        os.close(fd)


def _listed(fd: int, prefix: str) -> Iterator[Entry]:
    for name in sorted(os.listdir(fd)):
        try:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            continue
        yield Entry(prefix + name, kind_of(st.st_mode), st.st_size, st.st_mtime_ns)


def copy_fd(src: int, dst: int) -> int:
    """Copy from the current offset of `src` to `dst`; the bytes copied."""
    total = 0
    try:
        while sent := os.sendfile(dst, src, None, 1 << 26):
            total += sent
            check_cancel()  # a stopped job's copy ends within a chunk
        return total
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOSYS) or total:
            raise
    while data := os.read(src, CHUNK):
        os.write(dst, data)
        total += len(data)
        check_cancel()
    return total


def write_file(dir_fd: int, name: str, src: int) -> None:
    """Make `name` in `dir_fd` a plain file holding what `src` holds, with its permission
    bits (no set-id bits) and mtime: written under a temporary name, then renamed over
    whatever `name` was (a link is replaced, never followed)."""
    st = os.fstat(src)

    def fill(fd: int) -> None:
        copy_fd(src, fd)
        os.fchmod(fd, st.st_mode & 0o777)
        os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))
    _replace(dir_fd, name, fill)


def write_bytes(dir_fd: int, name: str, data: bytes, mode: int = 0o644) -> None:
    """Make `name` in `dir_fd` a plain file holding `data`, as write_file does."""
    def fill(fd: int) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fchmod(fd, mode)
    _replace(dir_fd, name, fill)


def _replace(dir_fd: int, name: str, fill: Callable[[int], None]) -> None:
    partial = f".{name}.bmlocal-partial"[-255:]
    try:
        os.unlink(partial, dir_fd=dir_fd)
    except FileNotFoundError:
        pass
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | FILE_FLAGS, 0o600,
                 dir_fd=dir_fd)
    try:
        os.set_blocking(fd, True)
        fill(fd)
    except BaseException:
        os.close(fd)
        os.unlink(partial, dir_fd=dir_fd)
        raise
    os.close(fd)
    os.replace(partial, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)


def copy_tree(root: Path | str, start: tuple[str, ...], dst: int, links: bool
              ) -> list[Entry]:
    """Copy the tree under root/start (no link followed below the trusted `root`) into
    the directory `dst` (a descriptor): plain files by content, directories made, links
    copied as links when `links` is true. The entries not copied (special files; links
    when `links` is false) are returned."""
    skipped = []
    for entry in scan(root, start):
        check_cancel()
        try:
            _copy_entry(root, start, entry, dst, links)
        except NotRegular:
            skipped.append(entry)
        except FileNotFoundError:
            continue  # removed while it was copied
    return skipped


def _copy_entry(root: Path | str, start: tuple[str, ...], entry: Entry, dst: int,
                links: bool) -> None:
    *dirs, name = entry.path.split("/")
    target = _descend(dst, dirs)
    try:
        if entry.kind == "dir":
            try:
                os.mkdir(name, 0o755, dir_fd=target)
            except FileExistsError:
                os.close(_child_dir(target, name, False))  # must be a directory
        elif entry.kind == "link" and links:
            source_dir = open_dir(root, (*start, *dirs))
            try:
                value = os.readlink(name, dir_fd=source_dir)
            finally:
                os.close(source_dir)
            os.symlink(value, name, dir_fd=target)
        elif entry.kind == "file":
            with opened(root, entry.path, start=start) as fd:
                write_file(target, name, fd)
        else:
            raise NotRegular(errno.EINVAL, f"is a {entry.kind}", entry.path)
    finally:
        os.close(target)


def _descend(fd: int, parts: list[str]) -> int:
    """A new descriptor of fd/parts (links refused), leaving `fd` open."""
    return _walk(os.dup(fd), parts, False)
