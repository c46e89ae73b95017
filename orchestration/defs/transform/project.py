"""The dbt project, described once for Dagster."""

import os
import shutil
import sys
from pathlib import Path

from dagster_dbt import DagsterDbtProjectPreparer, DbtCliResource, DbtProject

DBT_PROJECT_DIR = Path(__file__).resolve().parents[3] / "dbt_project"
# The dbt installed beside this Python, whatever PATH Dagster was started with.
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")


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
