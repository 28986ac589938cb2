"""Safe unpacking of code archives: no member may land outside the target, and no archive
may fill the disk. Every refusal, and every error of the archive libraries, is one
ArchiveError naming the archive and the member."""
import os
import shutil
import stat
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from bmlocal.runtime.cancel import Cancelled
from bmlocal.runtime.storage.paths import PathError, clean_parts

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")
ZIP_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate",
               zipfile.ZIP_BZIP2: "bzip2", zipfile.ZIP_LZMA: "lzma"}
ZIP_ENCRYPTED = 0x1


@dataclass(frozen=True)
class Limits:
    """What one archive may unpack to. A zip bomb expands by a factor of thousands; code,
    even with model files, rarely beyond a hundred."""
    max_bytes: int = 32 << 30
    max_members: int = 200_000
    max_ratio: int = 200  # unpacked bytes per archive byte, beyond the first `free_bytes`
    free_bytes: int = 64 << 20
    disk_reserve: int = 1 << 30  # left free on the file system of the target


DEFAULT_LIMITS = Limits()


class ArchiveError(PathError):
    """A hostile, corrupt or unsupported archive: the job fails with this message."""


def is_archive(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(ARCHIVE_SUFFIXES)


def unpack(archive: Path, target: Path, limits: Limits = DEFAULT_LIMITS) -> None:
    """Unpack a .zip, .tar, .tar.gz or .tgz into `target`; ArchiveError for a hostile,
    corrupt or unsupported one, whatever the library raised."""
    target.mkdir(parents=True, exist_ok=True)
    budget = _Budget(archive, target, limits)
    try:
        if archive.name.lower().endswith(".zip"):
            _unzip(archive, target, budget)
        else:
            _untar(archive, target, budget)
    except (ArchiveError, Cancelled):
        raise
    except PathError as exc:
        raise ArchiveError(f"cannot unpack {archive.name}: {exc}") from None
    except OSError as exc:  # a member that cannot be written: no host path in the message
        raise ArchiveError(f"cannot unpack {archive.name}: {exc.strerror or exc}") from None
    except Exception as exc:  # zlib.error, EOFError, RuntimeError, NotImplementedError, ...
        raise ArchiveError(f"cannot unpack {archive.name}: {_reason(exc)}") from None


def _reason(exc: Exception) -> str:
    text = str(exc).split("\n")[0][:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _Budget:
    """Counts members and unpacked bytes against the limits, before anything is written."""

    def __init__(self, archive: Path, target: Path, limits: Limits) -> None:
        self.name = archive.name
        self.limits = limits
        free = shutil.disk_usage(target).free - limits.disk_reserve
        by_ratio = limits.free_bytes + limits.max_ratio * archive.stat().st_size
        self.max_bytes = max(0, min(limits.max_bytes, by_ratio, free))
        self.why = ("the free disk space" if self.max_bytes == free else
                    f"{limits.max_ratio} times its own size" if self.max_bytes == by_ratio
                    else f"{limits.max_bytes >> 30} GiB")
        self.bytes = 0
        self.members = 0

    def take(self, member: str, size: int) -> None:
        self.members += 1
        self.bytes += max(size, 0)
        if self.members > self.limits.max_members:
            raise ArchiveError(f"cannot unpack {self.name}: more than "
                               f"{self.limits.max_members} members")
        if self.bytes > self.max_bytes:
            raise ArchiveError(f"cannot unpack {self.name}: it unpacks to more than "
                               f"{self.why} ({self.max_bytes} bytes) at member {member!r}; "
                               "a zip bomb, or an archive too large to stage")


def _untar(archive: Path, target: Path, budget: _Budget) -> None:
    def member_filter(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
        """The 'data' filter (no links out, no devices, no '..'), absolute names refused
        rather than silently made relative, and the budget counted as members come."""
        if member.name.startswith("/"):
            raise ArchiveError(f"cannot unpack {archive.name}: member {member.name!r} "
                               "is absolute")
        clean_parts(member.name)  # '..' and over-long names refused here, with a reason
        budget.take(member.name, member.size if member.isreg() else 0)
        try:
            return tarfile.data_filter(member, dest)
        except tarfile.FilterError as exc:
            raise ArchiveError(f"cannot unpack {archive.name}: {_filter_reason(exc)}") from None

    with tarfile.open(archive) as tar:
        tar.extractall(target, filter=member_filter)


def _filter_reason(exc: tarfile.FilterError) -> str:
    """tarfile's filter messages hold the host path of the target: say it in our words."""
    name = exc.tarinfo.name
    kinds = {tarfile.AbsolutePathError: "is absolute",
             tarfile.OutsideDestinationError: "would land outside the code directory",
             tarfile.SpecialFileError: "is a device, FIFO or other special file",
             tarfile.AbsoluteLinkError: "is a link to an absolute path",
             tarfile.LinkOutsideDestinationError: "is a link pointing outside the code "
                                                  "directory"}
    for kind, text in kinds.items():
        if isinstance(exc, kind):
            return f"member {name!r} {text}"
    return f"member {name!r} is refused"


def _unzip(archive: Path, target: Path, budget: _Budget) -> None:
    with zipfile.ZipFile(archive) as zf:
        members = zf.infolist()
        for info in members:  # every member checked before anything is written
            _check_zip_member(archive.name, info)
            budget.take(info.filename, info.file_size)
        for info in members:
            _extract_zip_member(zf, info, target)


def _check_zip_member(archive: str, info: zipfile.ZipInfo) -> None:
    where = f"cannot unpack {archive}: member {info.filename!r}"
    if info.filename.startswith("/"):
        raise ArchiveError(f"{where} is absolute")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise ArchiveError(f"{where} is a symbolic link")
    if info.flag_bits & ZIP_ENCRYPTED:
        raise ArchiveError(f"{where} is encrypted; a password-protected zip cannot be "
                           "staged")
    if info.compress_type not in ZIP_METHODS:
        raise ArchiveError(f"{where} uses compression method {info.compress_type}, which "
                           f"is not supported (use one of {', '.join(ZIP_METHODS.values())})")
    clean_parts(info.filename)


def _extract_zip_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path) -> None:
    parts = clean_parts(info.filename)
    if not parts:
        return
    destination = target.joinpath(*parts)
    if info.is_dir():
        destination.mkdir(parents=True, exist_ok=True)
        return
    destination.parent.mkdir(parents=True, exist_ok=True)
    # zipfile stops at the member's declared size, which the budget counted.
    with zf.open(info) as src, open(destination, "wb") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
    if (info.external_attr >> 16) & 0o111:
        os.chmod(destination, 0o755)
