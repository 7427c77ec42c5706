"""The demo page in headless Chromium (Debian's), driven by Playwright, against a real gateway (`ganc serve`)."""

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from playwright.sync_api import expect, sync_playwright

from compression.export import export_onnx
from compression.models import ModelSpec
from ganc.card import VariantCard
from ganc.job_store import JobStore
from ganc.repository import publish_variant
from ganc.spec import parse_spec
from tests.support import GANC, TINY, TOKEN, card_fields, free_port, spawn, stop, wait_for_http

pytestmark = pytest.mark.e2e

ARTIFACTS = Path(os.environ.get("GANC_TEST_ARTIFACTS", Path(__file__).parents[2] / "test-artifacts"))


@pytest.fixture(scope="module")
def report_job(tmp_path_factory) -> tuple[Path, str]:
    """A jobs folder with one job that has written its report."""
    root = tmp_path_factory.mktemp("demo-jobs")
    store = JobStore(root)
    job = store.create(parse_spec(TINY))
    store.work_folder(job.id).mkdir()
    (store.work_folder(job.id) / "report.html").write_text("<!doctype html><h1>tiny: what compression bought</h1>")
    return root, job.id


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, tiny_onnx, report_job):
    root = tmp_path_factory.mktemp("demo")
    torch.manual_seed(0)
    teacher = root / "teacher.onnx"  # slow enough on the CPU that a tight budget goes to the student
    export_onnx(ModelSpec("resnet", {"ngf": 32, "n_blocks": 6, "residual": True}).build(), teacher)
    teacher_card = card_fields(
        teacher,
        variant="teacher",
        architecture="resnet",
        architecture_options={"ngf": 32, "n_blocks": 6},
        config=None,
        quality={"psnr": 30.0},
        macs=9_000_000_000,
    )
    student_card = card_fields(tiny_onnx, variant="student-8", quality={"psnr": 29.0}, macs=300_000_000)
    sketch_card = card_fields(tiny_onnx, family="sketchy", variant="student-8", task="edges2photo")
    style_card = card_fields(
        tiny_onnx, family="vintage", variant="student-8", task="vintage", quality_against="teacher"
    )
    publish_variant(root / "repo", teacher, VariantCard(**teacher_card))
    publish_variant(root / "repo", tiny_onnx, VariantCard(**student_card))
    publish_variant(root / "repo", tiny_onnx, VariantCard(**sketch_card))
    publish_variant(root / "repo", tiny_onnx, VariantCard(**style_card))
    port = free_port()
    process = spawn(
        [GANC, "serve", "--port", str(port), "--repo", str(root / "repo")],
        {
            "GANC_WARMUP_RUNS": "3",
            "GANC_WARMUP_SIZE": "96",
            "GANC_JOBS_ROOT": str(report_job[0]),
            "GANC_API_TOKEN": TOKEN,
        },
        root / "gateway.log",
    )
    url = f"http://127.0.0.1:{port}"
    wait_for_http(f"{url}/readyz", process, root / "gateway.log")
    yield url
    stop(process)


@pytest.fixture(scope="module")
def browser():
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is missing: apt-get install chromium (.ci/run does)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield browser
        browser.close()


def painted(page, canvas: str) -> float:
    """The spread of a canvas' pixel values: 0 for a blank (or never drawn) canvas."""
    return page.evaluate(
        """(id) => { const c = document.getElementById(id);
                     const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                     let lo = 255, hi = 0;
                     for (let i = 0; i < d.length; i += 4) { lo = Math.min(lo, d[i]); hi = Math.max(hi, d[i]); }
                     return hi - lo; }""",
        canvas,
    )


def drag(page, selector: str, start: tuple[float, float], end: tuple[float, float]) -> None:
    box = page.locator(selector).bounding_box()
    page.mouse.move(box["x"] + start[0] * box["width"], box["y"] + start[1] * box["height"])
    page.mouse.down()
    for step in range(1, 11):
        f = step / 10
        x = start[0] + f * (end[0] - start[0])
        y = start[1] + f * (end[1] - start[1])
        page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"])
    page.mouse.up()


def test_the_page_opens_on_a_sample_translated_with_teacher_and_compressed_side_by_side(gateway, browser):
    page = browser.new_page(viewport={"width": 1000, "height": 1000})
    page.goto(f"{gateway}/demo")  # and nothing else: what compression buys shows before the visitor acts
    expect(page.locator("#family")).to_have_value("tiny")  # the first family of photos, not the sketches
    teacher, student = page.locator("#compare-teacher-info"), page.locator("#compare-student-info")
    expect(teacher).to_contain_text("teacher on cpu · 9.00 GMACs", timeout=30_000)
    expect(teacher).to_contain_text("PSNR 30.0 dB")
    expect(student).to_contain_text("student-8 on cpu · 0.30 GMACs", timeout=30_000)
    expect(student).to_contain_text("PSNR 29.0 dB")
    assert " ms" in teacher.inner_text() and " ms" in student.inner_text()
    assert painted(page, "compare-teacher") > 10 and painted(page, "compare-student") > 10
    assert painted(page, "view") > 10  # the sample photo, its lens translated
    page.close()


def test_the_lens_translates_live_and_a_tight_budget_gets_a_smaller_variant(gateway, browser):
    page = browser.new_page(viewport={"width": 1000, "height": 1000})
    page.goto(f"{gateway}/demo")
    page.select_option("#family", "tiny")
    page.get_by_role("button", name="astronaut").click()
    answer = page.locator("#answer")
    expect(answer).to_contain_text("teacher on cpu", timeout=20_000)  # no budget: the best quality
    drag(page, "#view", (0.3, 0.3), (0.7, 0.6))
    expect(answer).to_contain_text(" ms", timeout=20_000)
    assert page.locator("#lens").is_visible() and painted(page, "lens-result") > 10
    page.locator("#budget").fill("0")  # the tightest budget: 5 ms
    expect(page.locator("#budget-value")).to_have_text("5 ms")
    expect(answer).to_contain_text("student-8 on cpu", timeout=20_000)
    page.get_by_label("Show the input as the model sees it (degraded)").check()
    page.get_by_role("button", name="Compare on the current input").click()
    expect(page.locator("#compare-teacher-info")).to_contain_text("teacher on cpu", timeout=20_000)
    expect(page.locator("#compare-student-info")).to_contain_text("student-8 on cpu", timeout=20_000)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / "demo-lens.png", full_page=True)
    page.close()


def test_drawing_on_a_sketch_family_translates_the_strokes(gateway, browser):
    page = browser.new_page(viewport={"width": 1000, "height": 1000})
    page.goto(f"{gateway}/demo")
    page.select_option("#family", "sketchy")
    expect(page.locator("#sketch")).to_be_visible()
    drag(page, "#sketch", (0.2, 0.2), (0.8, 0.7))
    expect(page.locator("#answer")).to_contain_text("student-8 on cpu", timeout=20_000)
    assert painted(page, "sketch-result") > 0
    page.screenshot(path=ARTIFACTS / "demo-sketch.png", full_page=True)
    page.close()


def test_a_style_family_translates_photos_as_they_are(gateway, browser):
    page = browser.new_page(viewport={"width": 1000, "height": 1000})
    page.goto(f"{gateway}/demo")
    page.select_option("#family", "vintage")
    expect(page.locator("#family-task")).to_contain_text("task: vintage")
    expect(page.locator("#sketch")).to_be_hidden()
    expect(page.locator("#degraded-toggle")).to_be_hidden()  # nothing to degrade: the photo goes in unchanged
    page.get_by_role("button", name="chelsea").click()
    expect(page.locator("#answer")).to_contain_text("student-8 on cpu", timeout=20_000)
    assert painted(page, "lens-result") > 10
    page.close()


def test_an_uploaded_photo_is_translated_under_the_lens(gateway, browser, tmp_path):
    photo = tmp_path / "upload.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (120, 200, 3), dtype=np.uint8)).save(photo)
    page = browser.new_page(viewport={"width": 1000, "height": 1000})
    page.goto(f"{gateway}/demo")
    page.select_option("#family", "tiny")
    page.set_input_files("#upload", photo)
    expect(page.locator("#answer")).to_contain_text(" on cpu", timeout=20_000)
    assert page.evaluate("document.getElementById('view').width") == 200 and painted(page, "lens-result") > 10
    left = page.evaluate("document.getElementById('lens').style.left")
    page.locator("#stage").focus()  # the arrow keys move the lens too
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.getElementById('lens').style.left") != left
    page.close()


def test_the_page_is_labelled_and_fits_a_phone(gateway, browser):
    page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page.goto(f"{gateway}/demo")
    page.select_option("#family", "tiny")
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input, select, canvas[tabindex]')]
                 .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')).map(e => e.id)"""
    )
    assert unlabelled == []
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.close()


def test_a_jobs_report_opens_from_the_page_with_its_token(gateway, browser, report_job):
    _, job_id = report_job
    page = browser.new_page(viewport={"width": 1000, "height": 1000})
    page.goto(f"{gateway}/demo")
    page.get_by_label("Job id").fill(job_id)
    page.get_by_label("API token").fill("not-the-token")
    page.get_by_role("button", name="Open the report").click()
    expect(page.locator("#report-answer")).to_contain_text("send the API token")
    page.get_by_label("API token").fill(TOKEN)
    with page.context.expect_page() as opened:
        page.get_by_role("button", name="Open the report").click()
    report = opened.value
    expect(report.locator("h1")).to_have_text("tiny: what compression bought")
    expect(page.locator("#report-link")).to_contain_text(job_id)
    page.close()
