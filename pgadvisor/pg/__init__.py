"""Everything that talks to a user's PostgreSQL server lives here, and nothing else sends it SQL.

connect.py   the connection policy (read-only, timeouts, application_name, no password in messages)
catalog.py   every catalog and statistics read, version-gated and marked
guard.py     what may be planned: one explainable statement that reaches no untrusted code
explain.py   the one EXPLAIN path (guarded, extended protocol, read-only, rolled back)
hypo.py      the what-if engine: plan costs under hypothetical indexes (hypopg), cached
heuristic.py the estimate without hypopg, from pg_stats, and sampled expression selectivities
ddl.py       the DDL that --apply runs
logs.py      statement samples from the server's JSON log files (reads files, sends no SQL)
local.py     a throwaway local cluster for the demo and the tests
"""

import logging

# psycopg logs "error ignored terminating <Pipeline …>" when an EXPLAIN sent in a pipeline fails; the
# error itself is raised and reported by us, so its log line would only be noise on stderr
logging.getLogger("psycopg").addHandler(logging.NullHandler())
