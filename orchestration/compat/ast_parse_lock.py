"""One `ast.parse` at a time in every process of the virtualenv.

CPython 3.11 (3.11.7 on these machines) counts the AST constructor's recursion depth in state
shared by the interpreter's threads, so two threads parsing at once can fail with
`SystemError: AST constructor recursion depth mismatch` (CPython issue gh-106905). dbt renders
models in two threads, and Jinja's lexer parses every number literal of a template with
`ast.literal_eval` (which calls `ast.parse`): a CI run failed one model that way
(kpi_hourly_by_segment, "before=207, after=203"). `make setup` writes a .pth file into the
virtualenv that imports this module at start-up (dbt runs as its own process); holding a lock
around the parse costs nothing measurable (the parses are of short literals).
"""

from __future__ import annotations

import ast
import threading

_lock = threading.RLock()
_parse = ast.parse


def parse(*args, **kwargs):
    with _lock:
        return _parse(*args, **kwargs)


parse.__doc__ = _parse.__doc__
parse.__wrapped__ = _parse  # type: ignore[attr-defined]
if not getattr(ast.parse, "__wrapped__", None):  # imported twice: wrap once
    ast.parse = parse
