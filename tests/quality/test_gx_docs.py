"""GX Data Docs stay bounded: the results store keeps the last KEEP_RUNS runs, older results
and their pages are removed, each check links its own result page."""

import pandas as pd
import pytest

from expectations import gx_runner

pytestmark = pytest.mark.slow  # imports Great Expectations (~10 s)


def _run(gx_dir, name: str, suites: int = 2) -> gx_runner.ValidationRun:
    import great_expectations as gx

    frame = pd.DataFrame({"a": [1, 2, None]})
    with gx_runner.run_named(name):
        run = gx_runner.run(
            gx_dir,
            [
                gx_runner.Validation(
                    f"suite_{i}.check",
                    frame,
                    [gx.expectations.ExpectColumnValuesToNotBeNull(column="a", meta={})],
                )
                for i in range(suites)
            ],
        )
        gx_runner.build_docs(gx_dir)
    return run


def test_only_the_last_runs_are_kept_with_their_pages(tmp_path, monkeypatch):
    monkeypatch.setattr(gx_runner, "KEEP_RUNS", 2)
    runs = {name: _run(tmp_path, name) for name in ("run_a", "run_b", "run_c", "run_d")}
    root = tmp_path / "gx" / "uncommitted"
    stored = {
        p.relative_to(root / "validations").parts[2] for p in root.glob("validations/**/*.json")
    }
    pages = {p.parts[-3] for p in (root / "data_docs").glob("local_site/validations/**/*.html")}
    assert stored == pages == {"run_c", "run_d"}
    assert gx_runner.docs_index(tmp_path).exists()
    # Each kept result links its own page; a removed run's results have none (the check's
    # metadata then links the index).
    for name, run in runs.items():
        assert len(run.results) == 2 and run.failures  # the null in column a
        page = gx_runner.result_page(tmp_path, run.results[0])
        if name in {"run_c", "run_d"}:
            assert page.startswith("file://") and name in page
            assert (tmp_path / page.removeprefix("file://")).exists()
        else:
            assert page is None
