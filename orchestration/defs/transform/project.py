"""The dbt project, described once for Dagster."""

import sys
from pathlib import Path

from dagster_dbt import DagsterDbtProjectPreparer, DbtCliResource, DbtProject

DBT_PROJECT_DIR = Path(__file__).resolve().parents[3] / "dbt_project"
# The dbt installed beside this Python, whatever PATH Dagster was started with.
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")


class _ProjectDbtPreparer(DagsterDbtProjectPreparer):
    """Under `dagster dev`, parse the project with the dbt beside this Python (the stock preparer
    looks for `dbt` on PATH). We have no dbt packages, so there is nothing else to prepare."""

    def _prepare_manifest(self, project: DbtProject) -> None:
        cli = DbtCliResource(project_dir=project, dbt_executable=DBT_EXECUTABLE)
        cli.cli(["parse", "--quiet"], target_path=project.target_path).wait()


dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
# Under `dagster dev` the manifest is rebuilt on every code reload; elsewhere `make manifest`
# builds it before Dagster loads.
_ProjectDbtPreparer().prepare_if_dev(dbt_project)
