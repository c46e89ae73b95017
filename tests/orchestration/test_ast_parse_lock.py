"""`make setup` installs the ast.parse lock into the virtualenv (orchestration/compat/
ast_parse_lock.py): every Python process started from it - dbt's, run from dbt_project as the
Dagster assets run it - has the serialized parse, and parsing from many threads still works."""

import subprocess
import sys
import threading
from pathlib import Path

DBT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"


def test_every_venv_process_has_the_lock():
    out = subprocess.run(
        [sys.executable, "-c", "import ast; print(ast.parse.__module__)"],
        cwd=DBT_DIR, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert out.stdout.strip() == "cx_ast_parse_lock", out.stdout + out.stderr
    assert "Error processing" not in out.stderr, out.stderr


def test_parsing_from_threads_gives_the_same_values():
    import ast

    errors, results = [], []

    def work(n: int) -> None:
        try:
            for i in range(200):
                results.append(ast.literal_eval(f"[{n}, {i}, {i}.5, ({n}, [{i}])]"))
        except Exception as exc:  # noqa: BLE001 - the test reports any
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(results) == 1600
    assert sorted(results)[0] == [0, 0, 0.5, (0, [0])]
