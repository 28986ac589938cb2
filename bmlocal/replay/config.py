"""The `[replay]` section of the configuration file.

    [replay]
    on_shortfall = "scale"          # or "refuse": fewer GPUs or nodes here than the job asks
    code_source = "BOS"             # *_UrlSource assumed where a cloud detail has none
    dataset_source = "BOS"
    output_source = "BOS"
    project = "p1"                  # prjId when neither the file nor --project gives one
    [replay.pools]                  # cloud resource_name -> local pool ("USER/name" or a name)
    GPU_V100 = "gpu-box"
    [replay.gpu_types]              # cloud gpu_type -> local pool; wins over [replay.pools]
    A100 = "gpu-box"
    [replay.mirror]                 # the cloud's BOS, read by `bmlocal mirror`
    endpoint = "https://bj.bcebos.com"
    access_key = "..."              # or BMLOCAL_MIRROR_ACCESS_KEY / _SECRET_KEY
    secret_key = "..."
"""
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Source = Literal["BOS", "PFS"]


class MirrorSource(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    endpoint: str | None = None
    access_key: str | None = Field(default=None, repr=False)
    secret_key: str | None = Field(default=None, repr=False)
    region: str | None = None
    addressing_style: Literal["auto", "path", "virtual"] = "auto"


class ReplayConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    on_shortfall: Literal["refuse", "scale"] = "refuse"
    code_source: Source = "BOS"
    dataset_source: Source = "BOS"
    output_source: Source = "BOS"
    project: str | None = None
    pools: dict[str, str] = {}
    gpu_types: dict[str, str] = {}
    mirror: MirrorSource = MirrorSource()
