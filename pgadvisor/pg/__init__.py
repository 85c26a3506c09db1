"""Everything that talks to a user's PostgreSQL server lives here."""

import logging

# psycopg logs "error ignored terminating <Pipeline …>" when an EXPLAIN sent in a pipeline fails; the
# error itself is raised and reported by us, so its log line would only be noise on stderr
logging.getLogger("psycopg").addHandler(logging.NullHandler())
