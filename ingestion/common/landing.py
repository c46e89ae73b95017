"""Landing folders read through dlt's filesystem source, one batch of new files at a time.

The cursor is the file's modification time (collectors publish whole files by rename, so a newer
file arrived later); dlt keeps it in the pipeline state, stored with the data in the destination,
so a re-run with no new files reads nothing and a failed load re-reads exactly the same files.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import dlt
from dlt.sources.filesystem import FileItemDict, filesystem


class _StableIncremental(dlt.sources.incremental[dt.datetime]):
    """dlt's incremental with its boundary hashes kept sorted.

    dlt stores the hashes of the rows at the cursor's last value (files sharing the newest
    modification time) as `list(set(...))`, whose order changes from process to process: a re-run
    that reads nothing then still commits a "changed" state, i.e. an empty load. Sorting makes the
    state of an unchanged folder byte-identical, so a re-run loads nothing at all.
    """

    def __call__(self, rows, meta=None):
        rows = super().__call__(rows, meta)
        hashes = self._cached_state.get("unique_hashes") if self._cached_state else None
        if hashes:
            self._cached_state["unique_hashes"] = sorted(hashes)
        return rows


def landing_files(folder: Path | str, glob: str, files_per_batch: int) -> dlt.sources.DltResource:
    """A dlt resource yielding lists of new files in `folder` matching `glob`."""
    files = filesystem(
        bucket_url=Path(folder).resolve().as_uri(), file_glob=glob, files_per_page=files_per_batch
    )
    files.apply_hints(incremental=_StableIncremental("modification_date"))
    return files


def file_label(item: FileItemDict) -> str:
    """How a file is named in quarantine and ledger rows: its path inside the landing folder."""
    return item["relative_path"]


def modified_at(item: FileItemDict) -> dt.datetime:
    return item["modification_date"]


def read_all(items: list[FileItemDict]) -> Iterator[tuple[FileItemDict, bytes]]:
    for item in items:
        yield item, item.read_bytes()
