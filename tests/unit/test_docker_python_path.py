"""A CCR node's PYTHONPATH: the launcher's directories from bmlocal's package (the PyTorch exit
hook's sitecustomize) as mounted in the container, then bmlocal's node agents, then the
image's own; the host's other entries are left out (in a container of the Docker executor
and in one on a Slurm node)."""
import os

from bmlocal.launchers.pytorch import EXIT_HOOK_DIR
from bmlocal.runtime.executors.docker import AGENTS, inside_python_path
from bmlocal.runtime.executors.slurm import ContainerView


def test_the_exit_hook_is_found_where_the_package_is_mounted() -> None:
    node_path = os.pathsep.join([EXIT_HOOK_DIR, "/home/me/server-libs"])
    assert inside_python_path(node_path, "/opt/image-libs") == ":".join([
        f"{AGENTS}/bmlocal/launchers/torch_exit", AGENTS, "/opt/image-libs"])


def test_without_a_launcher_path_the_agents_come_before_the_images_own() -> None:
    assert inside_python_path(None, None) == AGENTS
    assert inside_python_path("", "/opt/image-libs") == f"{AGENTS}:/opt/image-libs"


def test_a_host_path_beside_the_package_is_not_taken_for_part_of_it() -> None:
    package = os.path.dirname(os.path.dirname(EXIT_HOOK_DIR))
    assert inside_python_path(package + "-old/launchers", None) == AGENTS


def test_a_ccr_node_on_a_slurm_node_gets_the_same_path() -> None:
    env = ContainerView.node_env({"PYTHONPATH": EXIT_HOOK_DIR, "BML_NODE_RANK": "1"})
    assert env == {"BML_NODE_RANK": "1",
                   "PYTHONPATH": f"{AGENTS}/bmlocal/launchers/torch_exit:{AGENTS}"}
