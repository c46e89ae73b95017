"""The dbt project, described once for Dagster."""

import importlib.metadata
import os
import shutil
import sys
from functools import cached_property
from pathlib import Path

from dagster_dbt import DagsterDbtProjectPreparer, DbtCliResource, DbtProject
from packaging import version

DBT_PROJECT_DIR = Path(__file__).resolve().parents[3] / "dbt_project"
# The dbt installed beside this Python, whatever PATH Dagster was started with.
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")


class CxDbtCliResource(DbtCliResource):
    """dagster-dbt's CLI resource minus two start-up costs we do not need, ~11 s per dbt run on
    two cores (measured with cProfile on benchmarks/microbatch.py):
    - `dbt --version` in a subprocess (~6 s): the executable is the dbt-core of this virtualenv,
      so its version is the installed package's (`dbt --version` also asks PyPI for the latest
      release: dbt-labs/dbt-core#6085; offline it waits for the network to fail);
    - an in-process dbt adapter (~5 s of macro parsing), which dagster-dbt only uses for its
      own row-count and column metadata; row counts come from row_counts.py instead.
    Both are private methods of DbtCliResource (dagster-dbt 0.29.27 has no public switch for
    either). An upgrade that renames them brings the costs back without an error: re-check
    these two names when bumping dagster-dbt (the per-step times of benchmarks/microbatch.py
    show the difference).
    """

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(importlib.metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args):  # noqa: ARG002 - dagster-dbt's signature
        return None


class _ProjectDbtPreparer(DagsterDbtProjectPreparer):
    """Under `dagster dev`, parse the project with the dbt beside this Python (the stock preparer
    looks for `dbt` on PATH). We have no dbt packages, so there is nothing else to prepare.

    The parse writes into a folder of its own and its files are then renamed into target/: the
    runs this server launches (and anything else on the machine) read target/manifest.json and
    partial_parse.msgpack while it parses, and must see the old file or the new one, never half
    of one (a CI run read a torn manifest beside a reloading `dagster dev`)."""

    def _prepare_manifest(self, project: DbtProject) -> None:
        target = project.project_dir / project.target_path
        scratch = target / "dev_parse"
        cli = DbtCliResource(project_dir=project, dbt_executable=DBT_EXECUTABLE)
        cli.cli(["parse", "--quiet"], target_path=scratch).wait()
        for name in ("partial_parse.msgpack", "manifest.json"):  # the manifest last
            if (scratch / name).exists():
                # a copy renamed into place: the next reload parses partially from the original
                shutil.copyfile(scratch / name, target / f".{name}.new")
                os.replace(target / f".{name}.new", target / name)


dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
# Under `dagster dev` the manifest is rebuilt on every code reload; elsewhere `make manifest`
# builds it before Dagster loads.
_ProjectDbtPreparer().prepare_if_dev(dbt_project)
