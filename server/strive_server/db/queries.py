"""Query fragments that both databases plan well."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import QueryableAttribute

__all__ = ["kind_value_in"]


def kind_value_in(
    kind: QueryableAttribute[str], value: QueryableAttribute[str], pairs: Iterable[tuple[str, str]]
) -> sa.ColumnElement[bool]:
    """``(kind, value) IN pairs``, written ``kind = k AND value IN (...)`` per kind, ORed.

    SQLite does not seek a two-column index with a row-value ``IN`` list of two or more rows:
    it scans the whole index (75 ms at 20,000 referrals, growing with the database). Per kind,
    it seeks (``MULTI-INDEX OR``), as PostgreSQL does either way (bench/README.md).
    """
    by_kind: dict[str, list[str]] = {}
    for k, v in pairs:
        by_kind.setdefault(k, []).append(v)
    if not by_kind:
        return sa.false()
    return sa.or_(*(sa.and_(kind == k, value.in_(vs)) for k, vs in sorted(by_kind.items())))
