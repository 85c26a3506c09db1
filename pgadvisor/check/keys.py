"""The stable finding key `rule:schema.object[:column]` that allow-lists and baselines match on."""

from __future__ import annotations

import re

from pgadvisor.findings import Recommendation

# an id of the advisor's older form, `fk-without-index:public.order_items(order_id,product_id)`
_PAREN = re.compile(r"^(?P<rule>[a-z0-9-]+):(?P<obj>[^()]+)\((?P<cols>[^()]*)\)$")


def finding_key(rule: str, obj: str, column: str | None = None) -> str:
    """`rule:schema.object[:column]`: one function for the key (several columns are joined by ',')."""
    return f"{rule}:{obj}" + (f":{column}" if column else "")


def key_of(rec: Recommendation) -> str:
    """The finding key of a recommendation: its id when it already has the key's shape, the parenthesised
    column list of the advisor's ids turned into `:columns` (`fk-without-index:public.t(a,b)` →
    `fk-without-index:public.t:a,b`), else `rule:target`."""
    rid = rec.id or ""
    m = _PAREN.match(rid)
    if m:
        return finding_key(m["rule"], m["obj"], m["cols"].replace(" ", "") or None)
    if rid.startswith(f"{rec.rule}:") and "(" not in rid:
        return rid
    return finding_key(rec.rule, rec.target)


def parts(key: str) -> tuple[str, str, str | None]:
    """(rule, schema.object, column or None) of a key."""
    rule, _, rest = key.partition(":")
    obj, _, column = rest.partition(":")
    return rule, obj, column or None


def object_name(key: str) -> tuple[str | None, str]:
    """(schema or None, object) that a key names; quoted names keep their quotes' content."""
    obj = parts(key)[1]
    schema, dot, name = obj.partition(".")
    return (schema, name) if dot else (None, obj)
