"""horovodrun's command line, read by horovodrun's own parser, for bmlocal's horovod agent.

Its tuning options become the HOROVOD_* variables horovodrun itself would give every rank
(horovod's `config_parser.set_env_from_args`); the hosts and process count are the job's
(said in the node's output); what bmlocal cannot honour is refused with the reason. Runs in
the job's Python, where horovod is installed.
"""
import argparse
import sys
from dataclasses import dataclass, field

from horovod.runner import launch
from horovod.runner.common.util import config_parser

# (dest, option, why bmlocal refuses it)
REFUSED = [
    ("use_mpi", "--mpi", "bmlocal runs Horovod jobs with Gloo, not MPI"),
    ("use_jsrun", "--jsrun", "bmlocal runs Horovod jobs with Gloo, not jsrun"),
    ("mpi_args", "--mpi-args", "bmlocal runs Horovod jobs with Gloo, not MPI"),
    ("binding_args", "--binding-args", "bmlocal runs Horovod jobs with Gloo, not MPI"),
    ("min_num_proc", "--min-np", "elastic Horovod is not supported: a job's nodes are fixed"),
    ("max_num_proc", "--max-np", "elastic Horovod is not supported: a job's nodes are fixed"),
    ("slots", "--slots-per-host", "elastic Horovod is not supported: a node's ranks are one "
                                  "per GPU (one on CPU pools)"),
    ("host_discovery_script", "--host-discovery-script",
     "elastic Horovod is not supported: a job's nodes are fixed"),
    ("elastic_timeout", "--elastic-timeout", "elastic Horovod is not supported"),
    ("reset_limit", "--reset-limit", "elastic Horovod is not supported"),
    ("cooldown_range", "--blacklist-cooldown-range", "elastic Horovod is not supported"),
    ("output_filename", "--output-filename", "each rank's output is kept in the job's "
                                             "BML_LOG_DIR as node-N.rank-R.log"),
    ("prefix_output_with_timestamp", "--prefix-output-with-timestamp",
     "bmlocal prefixes each line with its node and rank, not a time"),
]
# (dest, option, what bmlocal does instead): accepted, and said in the node's output
REPLACED = [
    ("num_proc", "-np", "the job's topology sets the ranks"),
    ("hosts", "-H", "the job's nodes are the hosts"),
    ("hostfile", "--hostfile", "the job's nodes are the hosts"),
    ("ssh_port", "--ssh-port", "no ssh: every node runs its own ranks"),
    ("ssh_identity_file", "--ssh-identity-file", "no ssh: every node runs its own ranks"),
    ("verbose", "--verbose", "bmlocal's node agent has no more to say"),
    ("disable_cache", "--disable-cache", "bmlocal runs no start-up checks to cache"),
]


class Refused(Exception):
    """An option bmlocal cannot honour, with the reason."""


@dataclass
class Horovodrun:
    command: list[str]
    env: dict[str, str]                 # HOROVOD_* from horovodrun's tuning options
    nics: list[str] | None = None       # --network-interfaces
    start_timeout: int | None = None    # --start-timeout: how long to wait for node 0
    notes: list[str] = field(default_factory=list)


def parse(argv: list[str]) -> Horovodrun:
    """horovodrun's words after `horovodrun` (or `-m horovod.runner.launch`). argparse's
    own errors, -h, --version and --check-build end the process as horovodrun would."""
    args = _horovod_parse(argv)
    for dest, option, why in REFUSED:
        if getattr(args, dest, None):
            raise Refused(f"horovodrun {option} is not supported here: {why}")
    if not args.command:
        raise Refused("horovodrun was given no command to run")
    notes = [f"horovodrun {_shown(option, getattr(args, dest))}: not used, {what}"
             for dest, option, what in REPLACED if getattr(args, dest, None)]
    env: dict[str, str] = {}
    config_parser.set_env_from_args(env, args)
    return Horovodrun(list(args.command), env, sorted(args.nics) if args.nics else None,
                      args.start_timeout, notes)


def _horovod_parse(argv: list[str]) -> argparse.Namespace:
    saved = sys.argv
    sys.argv = ["horovodrun", *argv]
    try:
        return launch.parse_args()
    except ValueError as exc:  # validate_config_args: a negative or out-of-range value
        raise Refused(f"horovodrun: {exc}") from None
    finally:
        sys.argv = saved


def _shown(option: str, value: object) -> str:
    """The option as given: `-np 2`, `-H a:1,b:1`, `--verbose`."""
    if value is True:
        return option
    return f"{option} " + (",".join(sorted(value)) if isinstance(value, (set, list))
                           else str(value))

