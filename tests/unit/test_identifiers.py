"""asyncmig.identifiers: quoting a tenant's schema or a version table name for SQL text."""

from __future__ import annotations

import pytest

from asyncmig.identifiers import quote_ident


@pytest.mark.parametrize(
    ("name", "quoted"),
    [("tenant_a", '"tenant_a"'), ('we"ird', '"we""ird"'), ("Mixed Case", '"Mixed Case"')],
)
def test_quote_ident(name: str, quoted: str) -> None:
    assert quote_ident(name) == quoted
