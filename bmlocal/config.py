"""Settings of `bmlocal serve`: flags, BMLOCAL_<NAME> environment variables, the TOML file."""
import ipaddress
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from bmlocal.config_model import ConfigFile, validate

EXECUTORS = ("auto", "process", "docker", "simulate")


class ConfigError(ValueError):
    """A configuration that cannot work, with a message that says why."""


@dataclass(frozen=True)
class Credential:
    ak: str
    sk: str
    projects: frozenset[str]

    def allows(self, project: str) -> bool:
        return "*" in self.projects or project in self.projects

    def __repr__(self) -> str:
        return f"Credential(ak={self.ak!r}, projects={sorted(self.projects)})"


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8765
    data_dir: Path = Path(".bmlocal").absolute()
    pfs_root: Path | None = None
    bos_root: Path | None = None
    executor: str = "auto"
    hour_seconds: float = 3600.0
    grace_seconds: float = 30.0
    threads: int = 16
    credentials: tuple[Credential, ...] = ()
    token_ttl_seconds: int = 2592000
    max_jobs_per_project: int | None = None
    table: Mapping[str, Any] = field(default_factory=dict)  # the whole TOML file, as written
    config: ConfigFile = field(default_factory=ConfigFile)  # the same, validated
    sections: Mapping[str, Any] = field(default_factory=dict)  # plug-in sections, validated

    def section(self, name: str) -> Any:
        """A plug-in's section ("simulate", "replay", "pools.slurm.<pool>"), None if absent."""
        return self.sections.get(name)

    @property
    def pfs(self) -> Path:
        return self.pfs_root or self.data_dir / "pfs"

    @property
    def bos(self) -> Path:
        return self.bos_root or self.data_dir / "bos"


def load(flags: Mapping[str, Any], environ: Mapping[str, str] = os.environ) -> Settings:
    """Flags win over BMLOCAL_<NAME> variables, which win over the file and the defaults."""
    config_file = flags.get("config") or environ.get("BMLOCAL_CONFIG")
    table = _read_toml(Path(config_file)) if config_file else {}
    config, sections, problems = validate(table)
    if problems:
        raise ConfigError(f"{len(problems)} mistake(s) in config file {config_file}:\n  "
                          + "\n  ".join(problems))
    values: dict[str, Any] = {}
    for name, kind in (("host", str), ("port", int), ("data_dir", Path), ("pfs_root", Path),
                       ("bos_root", Path), ("executor", str), ("hour_seconds", float),
                       ("grace_seconds", float), ("threads", int)):
        raw = flags.get(name)
        if raw is None:
            raw = environ.get(f"BMLOCAL_{name.upper()}")
        if raw is None:
            raw = table.get("server", {}).get(name)
        if raw is not None:
            values[name] = _convert(name, raw, kind)
            if kind is Path:
                values[name] = values[name].absolute()
    settings = Settings(
        **values,
        credentials=tuple(Credential(c.ak, c.sk, frozenset(c.projects))
                          for c in config.auth.credentials),
        token_ttl_seconds=config.auth.token_ttl_seconds,
        max_jobs_per_project=config.quotas.max_jobs_per_project,
        table=table, config=config, sections=sections,
    )
    check(settings)
    return settings


def check(settings: Settings) -> None:
    if settings.executor not in EXECUTORS:
        raise ConfigError(f"unknown executor {settings.executor!r}: use auto, process, docker "
                          "or simulate")
    if settings.hour_seconds <= 0 or settings.grace_seconds < 0:
        raise ConfigError("hour-seconds must be positive and grace-seconds not negative")
    if not settings.credentials and not is_loopback(settings.host):
        raise ConfigError(
            f"refusing to listen on {settings.host} without credentials: anyone could run "
            "jobs on this machine. Add [[auth.credentials]] to the --config file, or listen "
            "on 127.0.0.1")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def _convert(name: str, raw: Any, kind: type) -> Any:
    try:
        return kind(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{name.replace('_', '-')}: {raw!r} is not a valid value") from None

