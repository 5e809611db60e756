"""A course in a real browser: a student fetches, works, validates and submits in JupyterLab; the
instructor grades in formgrader and releases feedback; the student reads it. Screenshots: build/browser/.

The tests run in order and share one course (each step needs the one before it). Collected by
`make test-browser` only (marker `browser`; `make test` deselects it). They skip, saying why, where
Playwright or a Chromium cannot be had; they never pass without a browser. (No conftest.py here: a second
module named `conftest` would shadow tests/conftest.py, which other test modules import.)
"""
import re
import subprocess
import sys
import urllib.parse

import pytest
from jupyter_browser import CHROMIUM_ARGS, SHOTS, ConsoleErrors, JupyterServer, chromium_path

from autograder import course, notebook_cells, sample_class
from autograder.engine.sandbox import isolation

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed: run make test-browser")
    executable = chromium_path()
    if executable is None:
        pytest.skip("no Chromium on this machine: `apt-get install chromium` (make test-browser does it)")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def console():
    errors = ConsoleErrors()
    yield errors
    assert not errors.errors, "browser console errors:\n" + "\n".join(errors.errors)


A = "conv_forward"
STUDENT = "ada"
WRITTEN = "proof_commutative"
TIMEOUT = 90_000  # ms, for anything that waits on a kernel or the exchange on a loaded 2-core machine


@pytest.fixture(scope="module")
def classroom(tmp_path_factory):
    """A course with conv_forward released, a student's home and the student's JupyterLab."""
    root = course.init_course(tmp_path_factory.mktemp("browser") / "course", assignments=[A])
    course.release(root, [A])
    home = course.setup_student(root, STUDENT)
    lab = JupyterServer("student", course.student_env(home), home)
    yield root, home, lab
    lab.stop()


def shot(page, name):
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def wait_for_kernel_idle(page, lab):
    """No cell waits to run ([*]) and the server reports every kernel idle."""
    page.wait_for_function("() => ![...document.querySelectorAll('.jp-InputPrompt')]"
                           ".some(p => p.textContent.includes('*'))")
    page.wait_for_function("""async (url) => {
        const kernels = await (await fetch(url)).json();
        return kernels.length > 0 && kernels.every(k => k.execution_state === 'idle');
    }""", arg=lab.page_url("/api/kernels"))


def open_lab(page, lab):
    """A fresh JupyterLab: the workspace reset (no tabs restored), then the plain /lab address (with ?reset
    still in the address, the Assignment List's collapse links, href="#...", make the router reload the
    empty workspace and the list is gone)."""
    page.goto(lab.page_url("/lab?reset"))
    page.wait_for_selector(".jp-LabShell")
    page.goto(lab.page_url("/lab"))
    page.wait_for_selector(".jp-LabShell")


def open_assignment_list(page):
    """Nbgrader menu > Assignment List. Returns what the menu offered."""
    page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").click()
    menu = page.locator(".lm-Menu").last
    offered = menu.inner_text()
    menu.get_by_text("Assignment List").click()
    page.wait_for_selector("#released_assignments_list")
    return offered


def cell_index(home, grade_id):
    nb = notebook_cells.read(home / A / f"{A}.ipynb")
    return next(i for i, c in enumerate(nb.cells) if notebook_cells.grade_id(c) == grade_id)


def test_student_fetches_works_validates_and_submits(classroom, browser, console):
    root, home, lab = classroom
    page = lab.new_page(browser, console, TIMEOUT)
    assert lab.status("/formgrader") == 404, "no formgrader on a student's server"
    open_lab(page, lab)
    menu = open_assignment_list(page)
    assert "Assignment List" in menu and "Formgrader" not in menu and "Course List" not in menu, menu
    released = page.locator("#released_assignments_list .list_item", has_text=A)
    released.get_by_role("button", name="Fetch").click()
    fetched = page.locator("#fetched_assignments_list .list_item", has_text=A).first
    fetched.wait_for()
    shot(page, "1-student-assignment-list")
    assert (home / A / f"{A}.ipynb").exists(), "fetched into the student's home"

    # Open the notebook from the Downloaded list (expand the assignment, click its notebook).
    page.locator("#fetched_assignments_list a.assignment-notebooks-link", has_text=A).click()
    page.locator("#fetched_assignments_list .nested_list_item a", has_text=A).first.click()
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell")
    page.wait_for_function("""async (url) => (await (await fetch(url)).json()).length > 0""",
                           arg=lab.page_url("/api/kernels"))
    wait_for_kernel_idle(page, lab)

    # Run all: the first stub raises NotImplementedError.
    page.get_by_text("Run", exact=True).click()
    page.locator(".lm-Menu").get_by_text("Run All Cells", exact=True).click()
    wait_for_kernel_idle(page, lab)
    first_answer = cell_index(home, "output_size")
    cells = page.locator(".jp-NotebookPanel:visible .jp-Cell")
    assert "NotImplementedError" in cells.nth(first_answer).text_content()
    shot(page, "2-student-run-all")

    # Type a correct answer into the first exercise, run it and its visible check.
    answer = sample_class.correct_answers(A)["output_size"]
    cells.nth(first_answer).locator(".cm-content").click()
    page.keyboard.press("Control+a")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(answer)
    page.keyboard.press("Shift+Enter")
    page.keyboard.press("Shift+Enter")
    wait_for_kernel_idle(page, lab)
    check = cells.nth(first_answer + 1)
    assert notebook_cells.grade_id(notebook_cells.read(home / A / f"{A}.ipynb").cells[first_answer + 1]) == \
        "test_output_size"
    assert "Error" not in check.locator(".jp-OutputArea").text_content(), check.text_content()
    assert re.search(r"\[\d+\]", check.locator(".jp-InputPrompt").text_content()), "the visible check ran"
    shot(page, "3-student-answer-and-check")

    # Save and Validate: the other exercises are still open, so validation reports failures.
    page.keyboard.press("Control+s")
    page.wait_for_function("() => !document.querySelector('.lm-TabBar-tab.jp-mod-dirty')")
    page.get_by_role("button", name="Validate").click()
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for(timeout=TIMEOUT)
    report = dialog.inner_text()
    shot(page, "4-student-validate")
    assert "NotImplementedError" in report or "failed" in report.lower(), report
    dialog.get_by_role("button").last.click()
    saved = notebook_cells.answers(notebook_cells.read(home / A / f"{A}.ipynb"))
    assert saved["output_size"].strip() == answer.strip()

    # Submit from the Assignment List.
    page.get_by_role("tab", name="Assignments").click()
    page.locator("#fetched_assignments_list .list_item", has_text=A).get_by_role("button", name="Submit").first.click()
    page.locator("#submitted_assignments_list .list_item", has_text=A).first.wait_for()
    shot(page, "5-student-submitted")
    assert list((root / "exchange" / "convbook" / "inbound").glob(f"{STUDENT}+{A}+*"))
    page.close()


def test_instructor_collects_grades_and_releases_feedback_in_formgrader(classroom, browser, console):
    root, _, _ = classroom
    course.exchange([([("collect", A)], root, course.instructor_env(root))])
    if isolation() == "namespaces":
        subprocess.run([sys.executable, "-m", "autograder", "grade", A, "--course", str(root)], check=True,
                       capture_output=True, env=course.nbgrader_env())
    else:
        course.run_nbgrader(["autograde", A, "--force"], cwd=root)
    scores = course.cell_scores(root, A)[STUDENT]
    assert scores["test_output_size"][0] == scores["test_output_size"][1] > 0, "the typed answer earns its point"
    assert scores[WRITTEN][0] == 0, "a written answer left as handed out scores 0 until the instructor says otherwise"
    got = sum(s or 0 for s, _ in scores.values())
    total = sum(m for _, m in scores.values())

    formgrader = JupyterServer("instructor", course.instructor_env(root), root)
    try:
        page = formgrader.new_page(browser, console, TIMEOUT)
        page.goto(formgrader.page_url(f"/formgrader/gradebook/{A}/{A}"))
        row = page.locator("#main-table tr", has_text="Submission #1")
        assert row.locator("td.score").inner_text().split() == [f"{got:g}", "/", f"{total:g}"]
        assert row.locator("a.name-shown").text_content() == STUDENT
        shot(page, "6-instructor-submissions")

        with page.expect_response(lambda r: "/formgrader/api/grades" in r.url):  # the form loads its grades
            row.locator("a.name-hidden").click()
        page.wait_for_function("() => window.formgrader && formgrader.grades && formgrader.grades.loaded")
        grade = page.locator(f"input.score#{WRITTEN}")
        grade.fill("1")
        with page.expect_response(lambda r: "/formgrader/api/grade/" in r.url and r.request.method == "PUT") as saved:
            grade.press("Tab")
        assert saved.value.ok
        page.wait_for_function("() => window.MathJax && MathJax.Hub && MathJax.Hub.queue.pending === 0 "
                               "&& document.querySelectorAll('.MathJax, .MathJax_Display').length > 0")
        assert page.locator(".MathJax_Error").count() == 0, "math renders offline"
        shot(page, "7-instructor-manual-grade")

        page.goto(formgrader.page_url("/formgrader/manage_assignments"))
        assignment = page.locator("tr", has_text=A).filter(has=page.locator("td.release-feedback"))
        for step, message in (("generate-feedback", "Successfully generated feedback"),
                              ("release-feedback", "Successfully released feedback")):
            assignment.locator(f"td.{step} a").click()
            modal = page.locator("#success-modal, #error-modal").first
            modal.wait_for()
            assert message in modal.inner_text(), modal.inner_text()
            shot(page, f"8-instructor-{step}")
            modal.get_by_role("button", name="Close").last.click()
            modal.wait_for(state="detached")
    finally:
        formgrader.stop()
    assert course.cell_scores(root, A)[STUDENT][WRITTEN][0] == 1, "the manual grade is saved"
    assert list((root / "exchange" / "convbook" / "feedback").glob("*.html")), "feedback released"


def test_student_fetches_feedback_and_reads_the_diagnosis(classroom, browser, console):
    root, home, lab = classroom
    page = lab.new_page(browser, console, TIMEOUT)
    open_lab(page, lab)
    open_assignment_list(page)
    submitted = page.locator("#submitted_assignments_list .list_item", has_text=A).first
    submitted.get_by_role("button", name="Fetch Feedback").click()
    page.get_by_text("(view feedback)").first.wait_for()
    shot(page, "9-student-feedback-fetched")
    pages = list(home.glob(f"{A}/feedback/*/{A}.html"))
    assert len(pages) == 1, pages

    # The feedback page, opened in a browser tab from the student's server (as "Open in New Browser Tab").
    relative = pages[0].relative_to(home).as_posix()
    page.goto(lab.page_url("/files/" + "/".join(urllib.parse.quote(part) for part in relative.split("/"))))
    page.wait_for_function("() => window.MathJax && MathJax.Hub && MathJax.Hub.queue.pending === 0 "
                           "&& document.querySelectorAll('.MathJax, .MathJax_Display').length > 0")
    text = page.locator("body").inner_text()
    assert page.locator(".MathJax_Error").count() == 0, "math renders offline"
    failing = page.locator(".output_error, .output_stderr").first
    failing.scroll_into_view_if_needed()
    shot(page, "10-student-feedback-page")
    assert failing.evaluate("e => getComputedStyle(e.querySelector('pre') || e).whiteSpace") == "pre-wrap"
    assert "NotImplementedError" in text, "the diagnosis of the exercises left undone"
    source = notebook_cells.read(root / "source" / A / f"{A}.ipynb")
    hidden = set()
    for cell in source.cells:
        for region in re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", cell.source, re.S):
            hidden |= {line.strip() for line in region.splitlines() if line.strip()}
    assert hidden and not any(line in text for line in hidden), "no hidden test code in the page"
    assert "HIDDEN TESTS" not in text
