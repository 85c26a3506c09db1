"""The envelope of every JSON document pgadvisor prints: its schema version and the tool's version."""

from __future__ import annotations

from typing import Any

from pgadvisor import __version__

# the version of the documents' shape: raised when a field changes meaning or goes away (new fields
# may appear at any time)
DOC_SCHEMA = 1


def document(**fields: Any) -> dict[str, Any]:
    """A JSON document: `schema`, `pgadvisor` (the version that wrote it), then `fields`."""
    return {"schema": DOC_SCHEMA, "pgadvisor": __version__, **fields}
