"""bml-run.json for every job, local ones too, however it ends; written without following
what a job planted in its output."""
import json

from tests.support.server import Server


def record_of(server: Server, job_id: int) -> dict:
    return json.loads((server.data_dir / "jobs" / str(job_id) / "bml-run.json").read_text())


def test_a_failed_local_job_has_its_record(server: Server) -> None:
    code = server.write_code("fails", {"run.sh": "echo half > $BML_OUTPUT_DIR/part.txt\n"
                                                 "exit 3\n"})
    job_id = server.create("fails", "sh run.sh", **{"train_config.code_path": code,
                                                    "resource_config.node_count": 2})
    assert server.wait(job_id)["train_status"] == "FAILED"
    record = record_of(server, job_id)
    assert record["status"]["final"] == "FAILED" and "exit" in record["status"]["reason"]
    assert set(record["status"]["exit_codes"].values()) <= {3, 143, -15, 137, -9, None}
    assert 3 in record["status"]["exit_codes"].values()
    assert record["resources"]["node_count"] == 2 and "replayed_from" not in record
    assert record["metrics"] is None and record["inputs"]["trainset"] is None
    assert json.loads((server.pfs / "out/fails/bml-run.json").read_text()) == record


def test_a_link_planted_in_the_output_is_replaced_not_followed(server: Server) -> None:
    victim = server.root / "victim.txt"
    victim.write_text("keep me\n")
    job_id = server.create("planter", f"ln -s {victim} $BML_OUTPUT_DIR/bml-run.json && "
                                      f"ln -s {victim} $BML_OUTPUT_DIR/metrics.json")
    assert server.wait(job_id)["train_status"] == "SUCCESSED", server.node_log(job_id)
    assert victim.read_text() == "keep me\n"
    written = server.pfs / "out/planter/bml-run.json"
    assert not written.is_symlink()
    record = json.loads(written.read_text())
    assert record["job"]["id"] == job_id and record["metrics"] is None


def test_two_jobs_on_one_output_path_stay_apart_by_id(server: Server) -> None:
    ids = [server.create(f"same-out-{n}", f"echo {n}",
                         **{"train_config.output_path": "/out/shared"}) for n in range(2)]
    for job_id in ids:
        assert server.wait(job_id)["train_status"] == "SUCCESSED"
    records = [record_of(server, job_id) for job_id in ids]
    assert [r["job"]["id"] for r in records] == ids
    assert [r["create_body"]["train_config"]["start_cmd"] for r in records] == \
        ["echo 0", "echo 1"]
    on_path = json.loads((server.pfs / "out/shared/bml-run.json").read_text())
    assert on_path["job"]["id"] in ids
