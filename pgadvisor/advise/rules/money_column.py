"""money-column: a column of type `money`.

**What it finds.** A column of an ordinary or partitioned table of type `money` (pg-index-health's
`columns_with_money_type`).

**Why it matters.** `money` has a fixed number of fraction digits and a currency symbol taken from
the database's `lc_monetary` setting: a dump restored under another locale reads different amounts,
it holds no currency, and it rounds fractions of a cent (the PostgreSQL wiki's "Don't Do This").

**The fix.** `ALTER TABLE ... ALTER COLUMN ... TYPE numeric(19,4) USING col::numeric` (keep the
currency in a column of its own); the undo casts back to `money`. It rewrites the table under an
ACCESS EXCLUSIVE lock.

**When it is safe.** When the application reads the value as a number: code that parsed the
formatted text (`$1,234.50`) must change with it.

**False positives.** None in the type itself; a legacy column that is read-only may not be worth the
rewrite: allow-list it.
"""

from __future__ import annotations

from pgadvisor.advise.rules.column_types import alter_type, find_columns
from pgadvisor.advise.rules.common import CatalogScan
from pgadvisor.findings import Recommendation, Severity
from pgadvisor.indexdef import quote_ident

ID = "money-column"
DEFAULT_SEVERITY = Severity.low
CONFIDENCE = 0.95  # the type is the finding (chosen by hand)
# numeric(19,4): the precision the usual accounting guidance keeps for amounts (four fraction digits
# for rates and sub-cent prices), wide enough for any money value (money is a 64-bit integer of cents)
NUMERIC = "numeric(19,4)"


def find(scan: CatalogScan) -> list[Recommendation]:
    return find_columns(
        scan, ID, DEFAULT_SEVERITY, CONFIDENCE, lambda c: c["type"] == "money",
        "Column {table}.{column} is money",
        "{schema}.{table}.{column} is money: its fraction digits and symbol depend on lc_monetary, and it has "
        "no currency; use numeric",
        lambda c: (alter_type(c, NUMERIC, f"{quote_ident(c['column'])}::numeric"),
                   alter_type(c, "money", f"{quote_ident(c['column'])}::numeric::money")))
