"""The dashboard's server side without a browser: output files linked and served without
following a link, forms refused without their token, security headers, sign-in targets
kept on this server, errors shown with the cloud's code."""
import re

import requests

from bmlocal.web.dashboard import safe_next

PLANT = ("python -c \"import os; d = os.environ['BML_OUTPUT_DIR']; "
         "open(d + '/model.txt', 'w').write('weights'); os.makedirs(d + '/sub'); "
         "open(d + '/sub/a b.txt', 'w').write('nested'); "
         "os.symlink('/etc/passwd', d + '/leak.txt')\"")


def test_output_files_are_linked_and_served_without_following_links(server):
    job = server.create("outputs", PLANT)
    server.wait(job)
    page = requests.get(f"{server.url}/jobs/{job}", timeout=10)
    assert page.status_code == 200
    links = re.findall(rf'href="(/jobs/{job}/outputs/[^"]+)"', page.text)
    names = sorted(link.rsplit("/outputs/", 1)[1] for link in links)
    assert {"logs/job.log", "logs/node-0.log", "model.txt", "sub/a%20b.txt"} <= set(names)
    assert "leak.txt" not in names
    served = requests.get(f"{server.url}/jobs/{job}/outputs/model.txt", timeout=10)
    assert served.content == b"weights"
    assert served.headers["Content-Disposition"].startswith("attachment")
    assert requests.get(f"{server.url}/jobs/{job}/outputs/sub/a%20b.txt",
                        timeout=10).content == b"nested"
    for bad in ("leak.txt", "../../etc/passwd", "sub", "nothing.txt"):
        refused = requests.get(f"{server.url}/jobs/{job}/outputs/{bad}", timeout=10)
        assert refused.status_code == 404 and "root:" not in refused.text, bad


def test_forms_need_their_token_and_pages_carry_security_headers(server):
    job = server.create("target", "sleep 30")
    server.wait(job, "RUNNING")
    forged = requests.post(f"{server.url}/jobs/{job}/stop", timeout=10)
    assert forged.status_code == 400 and "csrf" in forged.text
    assert server.detail(job)["train_status"] == "RUNNING"
    session = requests.Session()
    page = session.get(f"{server.url}/jobs/{job}", timeout=10)
    assert "script-src" not in page.headers["Content-Security-Policy"]  # default-src 'self'
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    stopped = session.post(f"{server.url}/jobs/{job}/stop", data={"csrf": token},
                           allow_redirects=False, timeout=10)
    assert stopped.status_code == 302
    assert server.wait(job)["train_status"] == "STOPPED"
    again = session.post(f"{server.url}/jobs/{job}/stop", data={"csrf": token}, timeout=10)
    assert again.status_code == 409 and "406027" in again.text


def test_sign_in_keeps_its_target_on_this_server(make_server):
    server = make_server(config='[[auth.credentials]]\nak = "a"\nsk = "s"\nprojects = ["*"]\n')
    session = requests.Session()
    first = session.get(f"{server.url}/pools", allow_redirects=False, timeout=10)
    assert first.status_code == 302 and first.headers["Location"].startswith("/login")
    form = session.get(f"{server.url}/login", params={"next": "//evil.example/x"}, timeout=10)
    token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    signed = session.post(f"{server.url}/login", allow_redirects=False, timeout=10, data={
        "csrf": token, "ak": "a", "sk": "s", "next": "//evil.example/x"})
    assert signed.status_code == 302 and signed.headers["Location"] == "/"
    assert "HttpOnly" in signed.headers["Set-Cookie"]
    assert session.get(f"{server.url}/pools", timeout=10).status_code == 200
    assert "s" not in [c.value for c in session.cookies if c.name == "bmlocal_token"]


def test_odd_addresses_answer_with_a_message_never_a_server_error(server):
    for path in ("/?page=99999999999999999999999", "/?page=-1&status=NOPE&q=%00",
                 "/jobs/99999999999999999999999", "/jobs/0", "/jobs/1/outputs/x",
                 "/stream/v1/logs?id=99999999999999999999&prjId=p1", "/ops/v1/job?id=1",
                 "/nothing-here"):
        answer = requests.get(server.url + path, timeout=10)
        assert answer.status_code < 500, (path, answer.status_code, answer.text[:200])
        assert "Traceback" not in answer.text


def test_sign_in_targets_that_browsers_would_read_as_another_site_are_dropped():
    for target in ("//evil.example", "/\\evil.example", "/\t/evil.example", "https://evil",
                   "evil", "", None):
        assert safe_next(target) == "/", target
    assert safe_next("/jobs/7?x=1") == "/jobs/7?x=1"
