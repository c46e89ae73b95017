"""The folders dagster-dbt makes per dbt invocation do not pile up: the failed ones are pruned to
the newest few (successful ones are removed by the dbt step itself: test_pipeline_e2e)."""

import os

from orchestration.defs.transform.assets import KEEP_FAILED_TARGETS, prune_target_folders


def test_failed_target_folders_are_pruned_to_the_newest(tmp_path):
    names = [f"cx_dbt-{i:07d}-abcdefg" for i in range(KEEP_FAILED_TARGETS + 3)]
    for i, name in enumerate(names):
        (tmp_path / name).mkdir()
        (tmp_path / name / "run_results.json").write_text("{}")
        os.utime(tmp_path / name, (1_000_000 + i, 1_000_000 + i))
    (tmp_path / "manifest.json").write_text("{}")  # the project's own files stay
    (tmp_path / "dev_parse").mkdir()
    prune_target_folders(tmp_path)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted([*names[3:], "manifest.json", "dev_parse"])
