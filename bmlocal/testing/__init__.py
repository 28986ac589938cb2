"""bmlocal as a test double of the cloud's training-job API, from any test framework.

    with BmlServer() as server:              # simulate: nothing runs, every rule is real
        job_id = server.client.create(body)
        server.admin.fail_next("create", 406035)

`BmlServer` serves a real bmlocal (HTTP on a free loopback port, a temporary data
directory) from a thread of this process; `executor="process"` runs jobs for real. The
pytest fixtures `bml_server` and `bml` (bmlocal/testing/plugin.py) are built on it.
"""
from bmlocal.testing.admin import Admin
from bmlocal.testing.server import BmlServer

__all__ = ["Admin", "BmlServer"]
