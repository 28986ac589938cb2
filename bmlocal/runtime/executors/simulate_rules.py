"""The `[simulate]` section: rules that set how simulated jobs end.

    [[simulate.rules]]
    name = "^sweep-"                      # regular expressions, searched; all given must match
    start_cmd = "--lr (?P<lr>[0-9.]+)"    # named groups become ${lr} in outputs and log lines
    status = "FAILED"                     # SUCCESSED (default), FAILED or STOPPED
    status_reason = "loss was NaN"        # default: the runtime's own words
    exit_code = 3                         # default 0 / 1 / 143 by status
    pending_seconds = 0.5                 # PENDING this long once its resources are granted
    running_seconds = 2                   # then RUNNING this long
    outputs = { "metrics.json" = '{"lr": ${lr}}' }   # written under the job's output path
    log_lines = ["epoch 1 loss=${lr}"]    # written to each node's log
    hold = false                          # RUNNING until advanced by hand

The first rule that matches a job decides; a job no rule matches SUCCEEDS at once.
"""
import re
from pathlib import PurePosixPath
from string import Template
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEFAULT_EXIT = {"SUCCESSED": 0, "FAILED": 1, "STOPPED": 143}
MATCHED_FIELDS = ("name", "project", "start_cmd")


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    name: str | None = None
    project: str | None = None
    start_cmd: str | None = None
    status: Literal["SUCCESSED", "FAILED", "STOPPED"] = "SUCCESSED"
    status_reason: Annotated[str, Field(min_length=1)] | None = None
    exit_code: Annotated[int, Field(ge=0, le=255)] | None = None
    pending_seconds: Annotated[float, Field(ge=0, le=86400)] = 0.0
    running_seconds: Annotated[float, Field(ge=0, le=86400)] = 0.0
    outputs: dict[str, str] = {}
    log_lines: list[str] = []
    hold: bool = False

    @field_validator(*MATCHED_FIELDS)
    @classmethod
    def _pattern(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
        return value

    @field_validator("outputs")
    @classmethod
    def _relative(cls, outputs: dict[str, str]) -> dict[str, str]:
        for name in outputs:
            path = PurePosixPath(name)
            if not name or path.is_absolute() or ".." in path.parts or "\\" in name:
                raise ValueError(f"{name!r}: a relative path under the output path, "
                                 "without '..'")
        return outputs

    @model_validator(mode="after")
    def _code_fits_status(self) -> "Rule":
        code = self.exit_code
        if code is not None and (code == 0) != (self.status == "SUCCESSED"):
            raise ValueError(f"exit_code {code} does not fit status {self.status}: "
                             "0 is SUCCESSED's and only SUCCESSED's")
        return self

    @property
    def code(self) -> int:
        return self.exit_code if self.exit_code is not None else DEFAULT_EXIT[self.status]

    def match(self, name: str, project: str, start_cmd: str) -> dict[str, str] | None:
        """The named groups of the patterns when every given one is found, else None."""
        groups: dict[str, str] = {}
        for pattern, text in ((self.name, name), (self.project, project),
                              (self.start_cmd, start_cmd)):
            if pattern is None:
                continue
            found = re.search(pattern, text)
            if found is None:
                return None
            groups.update({k: v for k, v in found.groupdict().items() if v is not None})
        return groups


DEFAULT_RULE = Rule()


class SimulateConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    rules: list[Rule] = []


def fill(text: str, values: dict[str, str]) -> str:
    """`${name}` placeholders filled; unknown ones left as written."""
    return Template(text).safe_substitute(values)
