"""A real browser (Debian's headless Chromium through Playwright) uses the page served on loopback."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # a fake microphone (a beep) that needs no permission prompt, for the record button
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]
LABELS = ["angry", "happy", "neutral", "sad"]

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed")


@pytest.fixture(scope="module")
def page(live_server):  # noqa: ANN001, ANN201
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 900, "height": 1000})
        page.set_default_timeout(60_000)
        yield page
        browser.close()


def test_upload_a_recording_and_see_the_result(
    page, live_server, speech_with_pause: Path, tmp_path: Path
) -> None:  # noqa: ANN001
    page.goto(live_server.url + "/")
    page.wait_for_function("document.getElementById('model-info').textContent.includes('angry')")
    page.set_input_files("#audio-file", str(speech_with_pause))
    page.fill("#transcript", "the weather is lovely today and I feel great")
    page.click("#submit-button")
    page.wait_for_selector("#result:not([hidden])")

    transcript = page.inner_text("#transcript-out")
    assert "lovely today" in transcript
    assert page.locator("#transcript-out .sil").count() == 1  # the planted pause, marked
    top = page.text_content("#top-class")
    assert top in LABELS
    bars = page.locator("#bars .bar-label")
    assert [bars.nth(i).text_content() for i in range(bars.count())] == LABELS
    widths = page.eval_on_selector_all("#bars .bar-fill", "els => els.map(e => parseFloat(e.style.width))")
    assert sum(widths) == pytest.approx(100.0, abs=0.5)
    assert page.locator("#bars .bar-label.is-top").text_content() == top
    assert page.is_hidden("#error")
    shot = Path(os.environ.get("EMOFUSE_SCREENSHOT_DIR", tmp_path)) / "serve_page_result.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000


def test_emotions_over_time_show_a_timeline(page, live_server, speech_with_pause: Path) -> None:  # noqa: ANN001
    page.goto(live_server.url + "/")
    page.wait_for_function("document.getElementById('model-info').textContent.includes('angry')")
    page.set_input_files("#audio-file", str(speech_with_pause))
    page.check("#over-time")
    page.click("#submit-button")
    page.wait_for_selector("#timeline-box:not([hidden])")
    n_segments = page.locator("#timeline .seg").count()
    assert n_segments >= 1 and page.locator("#segments tr").count() == n_segments
    # every segment column stacks the four class probabilities up to its full height
    heights = page.eval_on_selector_all(
        "#timeline .seg",
        "els => els.map(e => [...e.children].reduce((a, c) => a + parseFloat(c.style.height), 0))",
    )
    assert heights == pytest.approx([100.0] * n_segments, abs=0.5)
    assert [page.locator("#timeline-legend span").nth(i).text_content() for i in range(4)] == LABELS
    assert "lovely" in page.inner_text("#segments").lower()
    page.uncheck("#over-time")


def test_a_file_that_is_not_audio_shows_the_servers_message(page, live_server, tmp_path: Path) -> None:  # noqa: ANN001
    bogus = tmp_path / "notes.wav"
    bogus.write_text("this is a text file, not a recording\n" * 10)
    page.goto(live_server.url + "/")
    page.set_input_files("#audio-file", str(bogus))
    page.click("#submit-button")
    page.wait_for_selector("#error:not([hidden])")
    assert "not audio" in page.inner_text("#error")
    assert page.is_hidden("#result")


def test_record_from_the_microphone_and_upload(page, live_server) -> None:  # noqa: ANN001
    """MediaRecorder -> WAV made in the page -> upload: the server answers for the recorded audio."""
    page.goto(live_server.url + "/")
    page.click("#record-button")
    page.wait_for_function("document.getElementById('record-button').textContent.includes('Stop')")
    page.wait_for_timeout(1500)
    page.click("#record-button")
    page.wait_for_function("document.getElementById('record-status').textContent.startsWith('recorded')")
    page.click("#submit-button")
    page.wait_for_selector("#result:not([hidden]), #error:not([hidden])")
    assert page.is_hidden("#error"), page.inner_text("#error")
    duration_s = float(page.inner_text("#meta").split(" s")[0])
    assert 1.0 < duration_s < 3.0
    assert page.text_content("#top-class") in LABELS
