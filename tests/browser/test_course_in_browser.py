"""A course in a real browser: a student fetches, works, validates and submits in JupyterLab; the
instructor grades in formgrader and releases feedback; the student reads it. Screenshots: build/browser/.

The tests run in order and share one course (each step needs the one before it).
"""
import html
import json
import re
import subprocess
import sys

import pytest

from autograder import course, mistakes, notebook_cells, sample_class
from autograder.engine.sandbox import isolation

from jupyter_browser import SHOTS, JupyterServer

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


@pytest.fixture(scope="module")
def context(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(TIMEOUT)
    yield context
    context.close()


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


def open_assignment_list(page):
    page.get_by_text("Nbgrader", exact=True).click()
    page.locator(".lm-Menu").get_by_text("Assignment List").click()
    page.wait_for_selector("#released_assignments_list, #fetched_assignments_list")


def cell_index(home, grade_id):
    nb = notebook_cells.read(home / A / f"{A}.ipynb")
    return next(i for i, c in enumerate(nb.cells) if notebook_cells.grade_id(c) == grade_id)


def test_student_fetches_works_validates_and_submits(classroom, context, console):
    root, home, lab = classroom
    page = context.new_page()
    console.watch(page)
    page.goto(lab.page_url("/lab?reset"))
    page.wait_for_selector(".jp-LabShell")
    page.get_by_text("Nbgrader", exact=True).click()
    menu = page.locator(".lm-Menu").inner_text()
    assert "Assignment List" in menu and "Formgrader" not in menu and "Course List" not in menu, menu
    page.keyboard.press("Escape")
    open_assignment_list(page)
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
    cells = page.locator(".jp-NotebookPanel:visible .jp-Notebook > .jp-Cell")
    assert "NotImplementedError" in cells.nth(first_answer).inner_text()
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
    assert "Error" not in check.locator(".jp-OutputArea").inner_text(), check.inner_text()
    assert re.search(r"\[\d+\]", check.locator(".jp-InputPrompt").inner_text()), "the visible check ran"
    shot(page, "3-student-answer-and-check")

    # Save and Validate: the other exercises are still open, so validation reports failures.
    page.keyboard.press("Control+s")
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


def test_instructor_collects_grades_and_releases_feedback_in_formgrader(classroom, context, console):
    root, home, _ = classroom
    course.exchange([([("collect", A)], root, course.instructor_env(root))])
    if isolation() == "namespaces":
        subprocess.run([sys.executable, "-m", "autograder", "grade", A, "--course", str(root)], check=True,
                       capture_output=True, env=course.nbgrader_env())
    else:
        course.run_nbgrader(["autograde", A, "--force"], cwd=root)
    scores = course.cell_scores(root, A)[STUDENT]
    assert scores["test_output_size"][0] == scores["test_output_size"][1] > 0, "the typed answer earns its point"
    assert scores[WRITTEN][0] is None, "the written answer waits for the instructor"

    formgrader = JupyterServer("instructor", course.instructor_env(root), root)
    try:
        page = context.new_page()
        console.watch(page)
        page.goto(formgrader.page_url(f"/formgrader/gradebook/{A}/{A}"))
        row = page.locator("tr", has_text=STUDENT).first
        row.wait_for()
        shot(page, "6-instructor-submissions")
        total = sum(s or 0 for s, _ in scores.values())
        assert f"{total:g}" in row.inner_text().replace(".0 ", " ") or f"{total:.1f}" in row.inner_text()

        row.get_by_role("link").first.click()
        page.wait_for_selector(".score")
        written = page.locator(f"#{WRITTEN}, [data-id*='{WRITTEN}']").first
        score_input = page.locator(f"input.score[data-id], input.score").filter(
            has=page.locator("xpath=.")).nth(0)
        grade_box = page.locator(".panel, .cell", has_text="proof").locator("input.score").first
        grade_box = grade_box if grade_box.count() else score_input
        grade_box.fill("2")
        grade_box.press("Tab")
        page.wait_for_function(f"""() => true""")
        shot(page, "7-instructor-manual-grade")
        del written
        page.goto(formgrader.page_url("/formgrader/manage_assignments"))
        page.locator("tr", has_text=A).first.wait_for()
        shot(page, "8-instructor-manage-assignments")
        page.close()
    finally:
        formgrader.stop()
    assert course.cell_scores(root, A)[STUDENT][WRITTEN][0] == 2, "the manual grade is saved"
