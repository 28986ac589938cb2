"""Hostile and broken code archives, each with the words its job's reason must hold. Shared by
tests/hardening/test_archives.py and bench/bench_hostile.py (which counts the outcomes)."""
import io
import struct
import tarfile
import zipfile
from dataclasses import dataclass
from typing import Callable

BOMB_BYTES = 160 << 20  # 160 MiB of zeros: about 160 KiB deflated, a ratio near 1000


@dataclass(frozen=True)
class Hostile:
    name: str  # the attack, in a few words
    filename: str  # the archive's name on PFS
    make: Callable[[], bytes]
    reason: str  # a fragment the job's status_reason must hold


def tar_of(*members: tuple[tarfile.TarInfo, bytes | None], mode: str = "w:gz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


def zip_of(*members: tuple[str, bytes], method: int = zipfile.ZIP_DEFLATED,
           flags: int = 0, mode: int | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=method) as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name)
            info.compress_type = method
            if mode is not None:
                info.external_attr = mode << 16
            zf.writestr(info, data)
    raw = bytearray(buf.getvalue())
    if flags:
        _patch(raw, flag=flags)
    return bytes(raw)


def _patch(raw: bytearray, flag: int | None = None, method: int | None = None) -> None:
    """Set the general-purpose flags or the method in every local and central header."""
    for signature, flag_at, method_at in ((b"PK\x03\x04", 6, 8), (b"PK\x01\x02", 8, 10)):
        at = raw.find(signature)
        while at != -1:
            if flag is not None:
                raw[at + flag_at:at + flag_at + 2] = struct.pack("<H", flag)
            if method is not None:
                raw[at + method_at:at + method_at + 2] = struct.pack("<H", method)
            at = raw.find(signature, at + 4)


def zip_with_method(method: int) -> bytes:
    raw = bytearray(zip_of(("main.py", b"print(1)\n"), method=zipfile.ZIP_STORED))
    _patch(raw, method=method)
    return bytes(raw)


def zip_bomb() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open("zeros.bin", "w", force_zip64=True) as f:
            chunk = bytes(1 << 20)
            for _ in range(BOMB_BYTES >> 20):
                f.write(chunk)
    return buf.getvalue()


def zip_claiming_4_gib() -> bytes:
    """A small member whose central header claims 4 GiB: refused from the headers alone."""
    raw = bytearray(zip_of(("big.bin", b"x" * 64), method=zipfile.ZIP_STORED))
    at = raw.find(b"PK\x01\x02")
    raw[at + 24:at + 28] = struct.pack("<I", 0xFFFFFFFE)  # uncompressed size, central header
    return bytes(raw)


def tar_bomb() -> bytes:
    class Zeros(io.RawIOBase):
        def __init__(self) -> None:
            self.left = BOMB_BYTES

        def readable(self) -> bool:
            return True

        def readinto(self, b: bytearray) -> int:
            n = min(len(b), self.left)
            b[:n] = bytes(n)
            self.left -= n
            return n

    info = member("zeros.bin")
    info.size = BOMB_BYTES
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=9) as tar:
        tar.addfile(info, io.BufferedReader(Zeros()))
    return buf.getvalue()


def truncated(data: bytes) -> bytes:
    return data[:len(data) // 2]


def device(kind: bytes) -> tarfile.TarInfo:
    info = member("dev", kind)
    info.devmajor, info.devminor = 1, 3
    return info


HOSTILE: list[Hostile] = [
    Hostile("zip: encrypted member", "enc.zip",
            lambda: zip_of(("main.py", b"x" * 40), flags=0x1), "is encrypted"),
    Hostile("zip: unknown compression method (99)", "method.zip",
            lambda: zip_with_method(99), "compression method 99"),
    Hostile("zip: bomb (160 MiB of zeros in ~160 KiB)", "bomb.zip", zip_bomb, "zip bomb"),
    Hostile("zip: headers claim 4 GiB", "claims.zip", zip_claiming_4_gib, "zip bomb"),
    Hostile("zip: path traversal ../", "up.zip", lambda: zip_of(("../escape.py", b"x")), "'..'"),
    Hostile("zip: absolute name", "abs.zip", lambda: zip_of(("/abs/escape.py", b"x")),
            "is absolute"),
    Hostile("zip: symbolic link member", "link.zip",
            lambda: zip_of(("link", b"/etc/passwd"), mode=0o120777), "symbolic link"),
    Hostile("zip: name over 255 bytes", "long.zip", lambda: zip_of(("a" * 300, b"x")),
            "longer than 255 bytes"),
    Hostile("zip: member path over PATH_MAX once unpacked", "deep.zip",
            lambda: zip_of(("/".join(["d" * 250] * 20) + "/x.py", b"x")), "File name too long"),
    Hostile("zip: a file used as a directory", "clash.zip",
            lambda: zip_of(("a", b"x"), ("a/b.py", b"x")), "File exists"),
    Hostile("zip: not a zip at all", "junk.zip", lambda: b"not a zip at all", "cannot unpack"),
    Hostile("tar.gz: bomb (160 MiB of zeros)", "bomb.tgz", tar_bomb, "zip bomb"),
    Hostile("tar: character device", "chr.tar",
            lambda: tar_of((device(tarfile.CHRTYPE), None), mode="w"), "special file"),
    Hostile("tar: block device", "blk.tar",
            lambda: tar_of((device(tarfile.BLKTYPE), None), mode="w"), "special file"),
    Hostile("tar: FIFO", "fifo.tgz", lambda: tar_of((member("pipe", tarfile.FIFOTYPE), None)),
            "special file"),
    Hostile("tar: symlink to an absolute path", "abslink.tgz",
            lambda: tar_of((member("etc", tarfile.SYMTYPE, "/etc"), None),
                           (member("etc/escape.py"), b"x")), "link to an absolute path"),
    Hostile("tar: symlink pointing out (../..)", "uplink.tgz",
            lambda: tar_of((member("up", tarfile.SYMTYPE, "../../.."), None)),
            "pointing outside"),
    Hostile("tar: hard link out", "hardlink.tgz",
            lambda: tar_of((member("pw", tarfile.LNKTYPE, "/etc/passwd"), None)),
            "link to an absolute path"),
    Hostile("tar: path traversal ../", "up.tgz", lambda: tar_of((member("a/../../x.py"), b"x")),
            "'..'"),
    Hostile("tar: absolute name", "abs.tgz", lambda: tar_of((member("/abs/x.py"), b"x")),
            "is absolute"),
    Hostile("tar.gz: truncated", "cut.tgz",
            lambda: truncated(tar_of((member("main.py"), bytes(range(256)) * 400))),
            "cannot unpack"),
]
