"""`make solutions`: run every source notebook top to bottom and save it as HTML, for self-learners."""
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter

from autograder.pages import FILTERS, use_offline_pages
from autograder.paths import ASSIGNMENTS, REPO, source_notebook

# jupyter_client's words when a kernel died before it replied at all (a port another process took between
# the choice and the bind, with many kernels starting at once): nothing of the notebook ran; start again.
KERNEL_NEVER_STARTED = "Kernel died before replying to kernel_info"


def execute_notebook(path, timeout=600, allow_errors=False, tries=3):
    """The notebook at `path`, executed in a fresh kernel from its own folder (a kernel that never started
    is started again, up to `tries` times)."""
    for attempt in range(tries):
        nb = nbformat.read(str(path), as_version=4)
        try:
            NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=allow_errors,
                           resources={"metadata": {"path": str(Path(path).parent)}}).execute()
            return nb
        except RuntimeError as error:
            if KERNEL_NEVER_STARTED not in str(error) or attempt == tries - 1:
                raise


def write_solution_pages(out_dir, assignments=ASSIGNMENTS):
    out_dir = REPO / out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    use_offline_pages()  # MathJax from the installed package, not a CDN
    for assignment in assignments:
        html, _ = HTMLExporter(filters=FILTERS).from_notebook_node(execute_notebook(source_notebook(assignment)))
        target = out_dir / f"{assignment}.html"
        target.write_text(html)
        written.append(target)
    return written
