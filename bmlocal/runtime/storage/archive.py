"""Safe unpacking of code archives: no member may land outside the target."""
import os
import stat
import tarfile
import zipfile
from pathlib import Path

from bmlocal.runtime.storage.paths import PathError, clean_parts

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")


def is_archive(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(ARCHIVE_SUFFIXES)


def unpack(archive: Path, target: Path) -> None:
    """Unpack a .zip, .tar, .tar.gz or .tgz into `target`; PathError for a hostile or
    corrupt one."""
    target.mkdir(parents=True, exist_ok=True)
    try:
        if archive.name.lower().endswith(".zip"):
            _unzip(archive, target)
        else:
            with tarfile.open(archive) as tar:
                tar.extractall(target, filter=_refuse_absolute)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError) as exc:
        raise PathError(f"cannot unpack {archive.name}: {exc}") from exc


def _refuse_absolute(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
    """The 'data' filter (no links out, no devices, no '..'), and absolute names refused
    rather than silently made relative."""
    if member.name.startswith("/"):
        raise PathError(f"archive member {member.name!r} is absolute")
    return tarfile.data_filter(member, dest)


def _unzip(archive: Path, target: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            if info.filename.startswith("/"):
                raise PathError(f"archive member {info.filename!r} is absolute")
            parts = clean_parts(info.filename)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise PathError(f"archive member {info.filename!r} is a symbolic link")
            destination = target.joinpath(*parts)
            if info.is_dir():
                destination.mkdir(parents=True, exist_ok=True)
                continue
            destination.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(destination, "wb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
            if mode & 0o111:
                os.chmod(destination, 0o755)
