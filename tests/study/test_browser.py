"""A real browser (headless Chromium, driven by Selenium) takes the study with the keyboard."""

import os
import shutil
import time
from pathlib import Path

import pytest

from colorbench.study import storage
from tests.helpers import one_json

CHROMIUM = os.environ.get("COLORBENCH_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("COLORBENCH_CHROMEDRIVER", "/usr/bin/chromedriver")
NOTES = Path("/work/notes/i15")  # the closing note's screenshot, when this machine has that folder's parent


def _browser():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed (pip install -e '.[test]')")
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            pytest.skip(f"no browser: {path} is missing (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=900,900"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def _wait_for(driver, state: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while driver.execute_script("return document.body.dataset.state") != state:
        error = driver.execute_script("return document.getElementById('error').textContent")
        assert not error.startswith("Error"), error
        assert time.monotonic() < deadline, f"the page never reached {state!r}"
        time.sleep(0.02)


def test_a_participant_takes_the_study_with_the_keyboard(server, tmp_path, cli):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    driver = _browser()
    try:
        driver.get(server.url + "/")
        _wait_for(driver, "intro")
        driver.save_screenshot(str(tmp_path / "intro.png"))
        # the title holds markup: shown as text, never run or parsed
        assert driver.find_element("id", "title").text == "<img src=x onerror=alert(1)> & co"
        assert driver.find_elements("css selector", "#title img") == []
        ActionChains(driver).send_keys(Keys.SPACE).perform()
        sent = []
        for i in range(30):  # 10 practice pairs, then 20 (18 test, 2 vigilance)
            _wait_for(driver, "ask")
            count = driver.find_element("id", "count").text
            assert count == (f"Practice {i + 1} of 10" if i < 10 else f"Pair {i - 9} of 20"), count
            if i == 15:
                driver.save_screenshot(str(tmp_path / "asking.png"))
            planned = storage.every_trial(server.study / "votes.sqlite")[i]
            if planned["phase"] == "vigilance":  # an attentive participant: never fooled by false colours
                key = Keys.ARROW_LEFT if planned["fake"] == "first" else Keys.ARROW_RIGHT
            else:
                key = Keys.ARROW_LEFT if i % 3 else Keys.ARROW_RIGHT
            ActionChains(driver).send_keys(key).perform()
            sent.append((i, "first" if key == Keys.ARROW_LEFT else "second"))
            if i == 14:  # the next pair on screen (the study shows each image 150 ms)
                _wait_for(driver, "showing")
                driver.save_screenshot(str(tmp_path / "showing.png"))
            if i < 10:  # practice: told whether it was right
                _wait_for(driver, "feedback")
                assert driver.find_element("id", "feedback").text.startswith(("Correct: the", "Wrong: the"))
        _wait_for(driver, "done")
        assert driver.find_element("id", "count").text == "Done"
        driver.save_screenshot(str(tmp_path / "done.png"))
    finally:
        driver.quit()

    trials = storage.every_trial(server.study / "votes.sqlite")
    assert [(t["n"], t["answer"]) for t in trials] == sent  # exactly the votes sent, one participant, none lost or added
    assert [t["phase"] for t in trials].count("practice") == 10 and [t["phase"] for t in trials].count("vigilance") == 2
    shown = [image for t in trials for image in (t["first"], t["second"])]
    assert len({t["photo"] for t in trials}) == 30 and len(set(shown)) == 60  # no photo, no image twice
    assert (tmp_path / "asking.png").stat().st_size > 0

    # what `study results` makes of them: the fooling rate counted by hand
    shown = cli("study", "results", server.study)
    assert shown.exit_code == 0, shown.output
    found = one_json(cli("study", "results", server.study, "--json"))
    test = [t for t in trials if t["phase"] == "test"]
    for row in found["methods"]:
        mine = [t for t in test if t["method"] == row["method"]]
        assert row["trials"] == len(mine) == 9  # 18 test pairs dealt to 2 methods in turn
        assert row["fooled"] == sum(t["answer"] != t["fake"] for t in mine) / 9
    assert found["participants"] == {"started": 1, "counted": 1, "excluded": 0, "incomplete": 0}
    assert found["trials"] | {} == {"counted": 18, "votes": 30, "practice": 10, "vigilance": 2, "vigilance_missed": 0}
    if NOTES.parent.is_dir():
        NOTES.mkdir(exist_ok=True)
        for name in ("intro", "showing", "asking"):
            shutil.copy(tmp_path / f"{name}.png", NOTES / f"study-browser-{name}.png")
        (NOTES / "study-results.txt").write_text(shown.stdout)
