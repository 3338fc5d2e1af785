"""examples/quickstart.ipynb runs from top to bottom in a fresh kernel and shows its figures."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).parent.parent / "examples" / "quickstart.ipynb"


def test_notebook_is_stored_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(not cell.outputs and cell.execution_count is None for cell in code)


@pytest.mark.timeout(300)
def test_quickstart_notebook_trains_sweeps_and_draws_inline(tmp_path):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    # kernel "python3" runs this interpreter (jupyter_client starts sys.executable for it), in a
    # scratch directory for the sweep the notebook writes
    client = NotebookClient(notebook, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if o.output_type in ("display_data", "execute_result") and "image/png" in o.get("data", {})]
    assert len(images) == 4  # the T = 5 model, and figures 2, 1 and 3 of the sweep
    assert (tmp_path / "quickstart" / "results.parquet").is_file()
