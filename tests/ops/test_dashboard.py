"""The dashboard in a real headless Chromium: listing, filtering, searching, paging,
opening a job, watching its log grow, stopping and deleting it, the pools page, the
sign-in; markup in a job's name or log line is shown as text and never runs."""
import pytest
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.ops.browser import browser, screenshot, until

EVIL_NAME = "<img src=x onerror=alert(1)>"
EVIL_LINE = "<script>alert('log')</script>"
QUEUE_CONFIG = ('[gpus]\ndevices = [0, 1, 2, 3]\ntype = "A100"\n'
                '[scheduler]\ncpu_slots = 1\n')


@pytest.fixture(scope="module")
def driver():
    yield from browser()


def no_alert(driver) -> None:
    try:
        text = driver.switch_to.alert.text
    except NoAlertPresentException:
        return
    raise AssertionError(f"a script ran in the page: alert {text!r}")


def rows(driver) -> list[str]:
    return [row.get_attribute("data-id") for row in
            driver.find_elements(By.CSS_SELECTOR, "#jobs tbody tr[data-id]")]


def test_list_filter_search_page_and_pools(make_server, driver):
    server = make_server(config=QUEUE_CONFIG)
    evil = server.create(EVIL_NAME, f"echo \"{EVIL_LINE}\"")
    server.wait(evil)
    holder = server.create("gpu-train", "sleep 60", **{
        "resource_config.resource_name": "GPU_V100", "resource_config.gpu_num": 2})
    blocker = server.create("cpu-blocker", "sleep 60")
    server.wait(blocker, "RUNNING")
    server.wait(holder, "RUNNING")
    queued = [server.create(f"queued-{i}") for i in range(20)]
    other = server.create("other-project", prjId="p2")
    on_gpu = {"resource_config.resource_name": "GPU_V100", "resource_config.gpu_num": 1}
    fails = server.create("gpu-fails", "exit 1", **on_gpu)
    stopped = server.create("gpu-stopped", "sleep 60", **on_gpu)
    server.wait(fails)
    server.wait(stopped, "RUNNING")
    server.ok("stop", {"id": stopped, "prjId": "p1"})
    server.wait(stopped)

    driver.get(server.url + "/")
    assert rows(driver) == [str(i) for i in [stopped, fails, other, *reversed(queued)][:20]]
    screenshot(driver, "dashboard-jobs.png")
    driver.find_element(By.ID, "next").click()
    until(lambda: rows(driver) == [str(i) for i in [*reversed(queued[:3]), blocker, holder,
                                                    evil]], what="page 2")

    driver.get(server.url + "/")
    Select(driver.find_element(By.ID, "filter-status")).select_by_value("SUCCESSED")
    driver.find_element(By.ID, "apply").click()
    until(lambda: rows(driver) == [str(evil)], what="status filter")
    assert driver.find_element(By.CSS_SELECTOR, ".job-name").text == EVIL_NAME
    no_alert(driver)

    search = driver.find_element(By.ID, "filter-q")
    Select(driver.find_element(By.ID, "filter-status")).select_by_value("")
    search.clear()
    search.send_keys("queued-1")
    driver.find_element(By.ID, "apply").click()
    until(lambda: len(rows(driver)) == 11, what="search")  # queued-1, queued-10..19
    Select(driver.find_element(By.ID, "filter-project")).select_by_value("p2")
    search = driver.find_element(By.ID, "filter-q")
    search.clear()
    driver.find_element(By.ID, "apply").click()
    until(lambda: rows(driver) == [str(other)], what="project filter")

    driver.get(server.url + "/pools")
    gpu_pool = driver.find_element(By.CSS_SELECTOR, 'section[data-pool="PUBLIC/GPU_V100"]')
    assert "GPUs in use 2 of 4" in gpu_pool.text and "gpu-train" in gpu_pool.text
    cpu_pool = driver.find_element(By.CSS_SELECTOR, 'section[data-pool="PUBLIC/CPU_4C_16G"]')
    positions = [r.find_elements(By.TAG_NAME, "td")[0].text for r in
                 cpu_pool.find_elements(By.CSS_SELECTOR, "table.queue tbody tr")]
    assert positions == [str(i) for i in range(1, 22)]  # p2's job waits too
    screenshot(driver, "dashboard-pools.png")
    no_alert(driver)


def test_open_a_job_watch_its_log_grow_and_stop_it(server, driver):
    job = server.create("watched", f"python -c \"import time\nfor i in range(200):\n"
                                   f"    print(\\\"{EVIL_LINE} tick\\\", i, flush=True); "
                                   f"time.sleep(0.2)\"")
    server.wait(job, "RUNNING")
    driver.get(server.url + "/")
    driver.find_element(By.LINK_TEXT, "watched").click()
    log = until(lambda: driver.find_element(By.CSS_SELECTOR, 'pre[data-file="node-0.log"]'))
    until(lambda: "tick 2\n" in log.text + "\n", what="the log")
    until(lambda: "tick 6\n" in log.text + "\n", what="the log growing")
    assert f"{EVIL_LINE} tick 0" in log.text
    assert driver.execute_script("return document.scripts.length") == 1
    no_alert(driver)
    screenshot(driver, "dashboard-job.png")

    driver.find_element(By.ID, "stop").click()
    prompt = until(lambda: driver.switch_to.alert, what="the confirmation")
    assert prompt.text == "Stop job %d (watched)?" % job
    prompt.dismiss()
    assert server.detail(job)["train_status"] == "RUNNING"
    driver.find_element(By.ID, "stop").click()
    until(lambda: driver.switch_to.alert, what="the confirmation").accept()
    until(lambda: driver.find_element(By.ID, "job-status").text == "STOPPED", what="STOPPED")
    assert server.detail(job)["status_reason"] == "stopped by user"
    driver.refresh()
    history = driver.find_element(By.ID, "history").text
    assert "stopped by user" in history and "RUNNING" in history
    assert "process" in driver.find_element(By.ID, "nodes").text
    driver.find_element(By.ID, "delete").click()
    until(lambda: driver.switch_to.alert, what="the confirmation").accept()
    until(lambda: driver.current_url.rstrip("/") == server.url, what="back to the list")
    assert str(job) not in rows(driver)


def test_sign_in_with_ak_sk_and_projects_kept_apart(make_server, driver):
    server = make_server(config='[[auth.credentials]]\nak = "ak-1"\nsk = "sk-1"\n'
                                'projects = ["p1"]\n')
    token = server.token
    server.token = __import__("requests").get(f"{server.url}/oauth/2.0/token", params={
        "grant_type": "client_credentials", "client_id": "ak-1", "client_secret": "sk-1"},
        timeout=10).json()["access_token"]
    mine = server.create("mine")
    assert token != server.token
    driver.delete_all_cookies()
    driver.get(f"{server.url}/jobs/{mine}")
    until(lambda: "/login" in driver.current_url, what="the sign-in page")
    driver.find_element(By.ID, "ak").send_keys("ak-1")
    driver.find_element(By.ID, "sk").send_keys("wrong")
    driver.find_element(By.ID, "sign-in").click()
    assert "Client authentication failed" in until(
        lambda: driver.find_element(By.ID, "message")).text
    driver.find_element(By.ID, "ak").send_keys("ak-1")
    driver.find_element(By.ID, "sk").send_keys("sk-1")
    driver.find_element(By.ID, "sign-in").click()
    until(lambda: driver.find_element(By.ID, "job-name").text == "mine", what="the job page")
    driver.get(f"{server.url}/?project=p2")
    assert "406037" in driver.find_element(By.ID, "message").text
    driver.get(f"{server.url}/jobs/999")
    assert "406012" in driver.find_element(By.ID, "message").text
    driver.delete_all_cookies()
