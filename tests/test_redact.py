"""Issue 8 item 3: no password reaches the store or the output (redact.py, collect, logs, migration 6)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from urllib.parse import quote

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pgadvisor.pg.logs import parse_record
from pgadvisor.redact import REDACTED, redact, redact_settings
from pgadvisor.store import open_store
from pgadvisor.store.backend import pack, text_hash
from pgadvisor.store.migrations import MIGRATIONS

# any text PostgreSQL can hold (no NUL, no lone surrogates)
CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
secrets = st.text(CHARS, min_size=1, max_size=40)


def std(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def esc(s: str) -> str:
    return "E'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def dollar(s: str) -> str:
    for tag in ("", "x", "pw", "q1", "secret_tag"):
        close = f"${tag}$"
        if (s + close).find(close) == len(s):
            return close + s + close
    raise AssertionError("no tag")  # pragma: no cover


def uni(s: str) -> str:
    return "U&'" + "".join(f"\\+{ord(c):06X}" for c in s) + "'"


def continued(s: str) -> str:
    half = len(s) // 2
    return std(s[:half]) + "\n   " + std(s[half:])


ENCODINGS = [std, esc, dollar, uni, continued]

PASSWORD_FORMS = [
    "ALTER ROLE app WITH PASSWORD {lit}",
    'alter user "We""ird Role" encrypted password {lit} valid until \'infinity\'',
    "CREATE ROLE r LOGIN PASSWORD {lit} IN ROLE pg_monitor",
    "CREATE USER u /* c */ PASSWORD /* why */ {lit}",
    "CREATE USER MAPPING FOR app SERVER s OPTIONS (user 'app', password {lit})",
    "ALTER USER MAPPING FOR app SERVER s OPTIONS (SET password {lit}, ADD sslpassword 'x')",
    "CREATE SERVER s FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host 'h', \"password\" {lit})",
]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(secret=secrets, form=st.sampled_from(PASSWORD_FORMS), enc=st.sampled_from(ENCODINGS))
def test_password_literal_never_survives_whatever_the_quoting(secret, form, enc):
    text = form.format(lit=enc(secret))
    want = form.format(lit="'<redacted>'").replace("ADD sslpassword 'x'", "ADD sslpassword '<redacted>'")
    assert redact(form.format(lit="'x'")) == want
    if enc in (std, continued) and "\\" in secret:
        # read with standard_conforming_strings = off (a continued literal is std-quoted too), '\' does not end
        # there: the redaction runs on to the later end, so it may take more of the statement, never less
        out = redact(text)
        assert secret not in out.replace("<redacted>", "") or len(secret) < 3
        assert out.startswith(want.split("'<redacted>'")[0] + "'<redacted>")
        return
    assert redact(text) == want


def conninfo_quote(s: str) -> str:
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


CONN_FORMS = [
    "CREATE SUBSCRIPTION sub CONNECTION {lit} PUBLICATION pub",
    "ALTER SUBSCRIPTION sub CONNECTION {lit}",
    "SELECT dblink_connect('c', {lit})",
    "SELECT * FROM dblink({lit}, 'select 1') AS t(a int)",
]


def leaked(secret: str, out: str, fixed: str) -> bool:
    """Whether a piece of the secret (5+ characters not in the statement's fixed text) is in `out`."""
    w = min(5, len(secret))
    return any(secret[i:i + w] in out and secret[i:i + w] not in fixed + REDACTED
               for i in range(len(secret) - w + 1))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(secret=st.text(CHARS, min_size=5, max_size=40), form=st.sampled_from(CONN_FORMS),
       enc=st.sampled_from([std, esc, dollar, uni]), key=st.sampled_from(["password", "PassWord", "sslpassword"]),
       spaced=st.booleans(), bare=st.booleans())
def test_connection_string_password_never_survives(secret, form, enc, key, spaced, bare):
    value = secret if bare and secret.strip() and not any(c.isspace() or c in "'\\" for c in secret) \
        else conninfo_quote(secret)
    sep = " = " if spaced else "="
    content = f"host=db.example port=5432 {key}{sep}{value} dbname=app"
    out = redact(form.format(lit=enc(content)))
    fixed = form.format(lit="") + "host=db.example port=5432 dbname=app " + key
    assert not leaked(secret, out, fixed), out
    assert "host=db.example" in out or "'<redacted>'" in out


@settings(max_examples=200)
@given(secret=secrets, enc=st.sampled_from([std, esc, dollar]))
def test_uri_password_never_survives(secret, enc):
    text = f"SELECT dblink_connect({enc('postgresql://app:' + quote(secret, safe='') + '@db:5432/app')})"
    assert redact(text) == f"SELECT dblink_connect({enc('postgresql://app:<redacted>@db:5432/app')})"


def sql_soup():
    """SQL-like texts of words, operators and every kind of quoting, none holding a secret."""
    clean = secrets.filter(lambda s: "password" not in s.lower() and "://" not in s)
    literal = st.builds(lambda f, s: f(s), st.sampled_from([std, esc, dollar, continued]), clean)
    comment = st.one_of(
        st.builds(lambda s: f"/* {s} */", clean.filter(lambda s: "*/" not in s and "/*" not in s)),
        st.builds(lambda s: f"-- {s}\n", clean.filter(lambda s: "\n" not in s and "\r" not in s)))
    word = st.sampled_from(["SELECT", "FROM", "WHERE", "ALTER", "ROLE", "USER", "OPTIONS", "(", ")", ",", "=",
                            ";", "$1", "$2", "a$b", "e", "E", "U&", "u", "x", "pass", "word", "passwd", "\n", " ",
                            '"quoted ""id"""', "'", "$", "$$", "\\", "@", "user:pw"])
    return st.lists(st.one_of(word, literal, comment), max_size=25).map(" ".join)


@settings(max_examples=400)
@given(text=sql_soup())
def test_texts_without_secrets_are_unchanged(text):
    assert redact(text) == text


@settings(max_examples=400)
@given(text=secrets.filter(lambda s: "password" not in s.lower() and "://" not in s))
def test_any_text_without_the_words_is_unchanged(text):
    assert redact(text) == text


@settings(max_examples=200)
@given(text=st.one_of(sql_soup(), st.builds(lambda f, e, s: f.format(lit=e(s)), st.sampled_from(PASSWORD_FORMS),
                                            st.sampled_from(ENCODINGS), secrets)))
def test_redaction_is_idempotent(text):
    once = redact(text)
    assert redact(once) == once


@pytest.mark.parametrize("text", [
    "SELECT password FROM users WHERE id = $1",
    "CREATE ROLE r PASSWORD NULL",
    "ALTER ROLE r NOLOGIN",
    "SELECT 'C:\\path' AS p",
    "SELECT * FROM t WHERE note LIKE '%pass%' /* pgadvisor */",
])
def test_statements_without_a_secret_are_unchanged(text):
    assert redact(text) == text


def test_standard_conforming_strings_off_cannot_leave_a_piece_behind():
    # with standard_conforming_strings = off the literal is 'a\'bc'; with on it is 'a\' followed by bc'...
    out = redact("ALTER ROLE r PASSWORD 'a\\'bcdefg' VALID UNTIL 'infinity'")
    assert "bcdefg" not in out and out.startswith("ALTER ROLE r PASSWORD '<redacted>'")


def test_settings_with_a_connection_string_are_redacted():
    rows = [{"name": "primary_conninfo", "setting": "host=p user=rep password=s3cr3t", "boot_val": "",
             "reset_val": "host=p user=rep password=s3cr3t"}, {"name": "work_mem", "setting": "4096"}]
    out = redact_settings(rows)
    assert "s3cr3t" not in json.dumps(out) and out[1]["setting"] == "4096"


def test_logged_sample_with_a_connection_string_value_is_redacted():
    rec = {"error_severity": "LOG", "query_id": 42, "dbname": "app", "user": "u",
           "message": "duration: 1.0 ms  execute <unnamed>: SELECT dblink_connect('c', $1)",
           "detail": "parameters: $1 = 'host=h password=hunter2 dbname=app'"}
    s = parse_record(rec)
    assert s is not None and "hunter2" not in json.dumps(s.values) and "password=<redacted>" in s.values[0]
    rec = {**rec, "message": "duration: 1.0 ms  statement: SELECT dblink_connect('postgresql://u:hunter2@h/app')",
           "detail": ""}
    s = parse_record(rec)
    assert s is not None and "hunter2" not in s.text
    # a text that says password is still dropped whole (logs.py)
    assert parse_record({**rec, "message": "duration: 1.0 ms  statement: SELECT 1 WHERE 'password' = 'x'"}) is None


# -- against a real server -------------------------------------------------------------------------------


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pgadvisor", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "COLUMNS": "250"})


def test_alter_role_password_is_never_stored_or_printed(db, tmp_path):
    role = f"r_{uuid.uuid4().hex[:8]}"
    secret = f"Hunter2-{uuid.uuid4().hex[:6]}"
    store = str(tmp_path / "s.sqlite")
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'first-{secret}'")
    assert run_cli("collect", "--dsn", db, "--store", store, "--name", "app").returncode == 0
    with psycopg.connect(db, autocommit=True) as conn:
        for i in range(3):
            conn.execute(f"ALTER ROLE {role} WITH PASSWORD '{secret}-{i}'")
        conn.execute(f"ALTER ROLE {role} ENCRYPTED PASSWORD E'{secret}\\'x'")
        # the server did track them verbatim: this is what collect reads
        seen = conn.execute("SELECT query FROM pg_stat_statements WHERE query LIKE %s",
                            (f"%{secret}%",)).fetchall()
    assert seen, "pg_stat_statements should track the utility statements (the attack's premise)"
    r = run_cli("collect", "--dsn", db, "--store", store, "--name", "app")
    assert r.returncode == 0, r.stderr
    for fmt in ("json", "table"):
        r = run_cli("workload", "--store", store, "--since", "1d", "--top", "200", "--format", fmt)
        assert r.returncode == 0, r.stderr
        assert secret not in r.stdout and secret not in r.stderr
        assert "PASSWORD '<redacted>'" in r.stdout
    doc = json.loads(run_cli("workload", "--store", store, "--since", "1d", "--top", "200",
                             "--format", "json").stdout)
    assert any(s["query"].startswith(f"ALTER ROLE {role} WITH PASSWORD '<redacted>'") for s in doc["statements"])
    con = sqlite3.connect(store)
    assert not con.execute("SELECT count(*) FROM texts WHERE query LIKE ?", (f"%{secret}%",)).fetchone()[0]
    con.close()
    assert secret.encode() not in b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())


def _v5_store(path) -> None:
    """A store as pgadvisor wrote it before migration 6, holding the secrets issue 8 found."""
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, description TEXT NOT NULL, "
                "applied_at DOUBLE PRECISION NOT NULL)")
    for m in MIGRATIONS:
        if m.version > 5:
            break
        con.executescript(m.sqlite)
        con.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", (m.version, m.description, time.time()))
    con.execute("INSERT INTO servers (id, name, created_at) VALUES (1, 'app', 0)")
    con.execute("INSERT INTO snapshots (id, server_id, seq, taken_at) VALUES (1, 1, 1, 1000)")
    texts = ["ALTER ROLE app PASSWORD 'Tr0ub4dor&3'", "SELECT * FROM t WHERE a = $1",
             "CREATE SUBSCRIPTION s CONNECTION 'host=h password=Tr0ub4dor&3' PUBLICATION p"]
    for i, t in enumerate(texts):
        con.execute("INSERT INTO texts VALUES (?, ?)", (text_hash(t), t))
        con.execute("INSERT INTO statements (server_id, queryid, userid, dbid, toplevel, text_hash) "
                    "VALUES (1, ?, 10, 5, 1, ?)", (str(i), text_hash(t)))
    sample = "SELECT dblink_connect($1)"
    con.execute("INSERT INTO texts VALUES (?, ?)", (text_hash(sample), sample))
    con.execute("INSERT INTO samples (server_id, queryid, text_hash, seen_at, params, times) VALUES "
                "(1, '9', ?, 1000, ?, 1)", (text_hash(sample), json.dumps([["'host=h password=Tr0ub4dor&3'"]])))
    h, data = pack([{"name": "primary_conninfo", "setting": "host=p password=Tr0ub4dor&3"}])
    con.execute("INSERT INTO blobs VALUES (?, ?)", (h, data))
    con.execute("INSERT INTO snapshot_parts VALUES (1, 'settings', ?)", (h,))
    con.commit()
    con.close()


def test_migration_scrubs_secrets_from_an_existing_store(tmp_path):
    path = tmp_path / "old.sqlite"
    _v5_store(path)
    assert b"Tr0ub4dor" in path.read_bytes()
    with open_store(str(path)) as st_:
        assert st_.schema_version() >= 6
        texts = dict(st_.query("SELECT hash, query FROM texts"))
        assert all(h == text_hash(q) for h, q in texts.items())  # no hash of a text with the password is left
        assert "ALTER ROLE app PASSWORD '<redacted>'" in texts.values()
        assert {q for (q,) in st_.query("SELECT t.query FROM statements s JOIN texts t ON t.hash = s.text_hash")} \
            >= {"ALTER ROLE app PASSWORD '<redacted>'", "SELECT * FROM t WHERE a = $1"}
        assert st_.parts(1, 1)["settings"][0]["setting"] == "host=p password=<redacted>"
        assert "password=<redacted>" in st_.query("SELECT params FROM samples")[0][0]
    data = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert b"Tr0ub4dor" not in data
    assert text_hash("ALTER ROLE app PASSWORD 'Tr0ub4dor&3'").encode() not in data


def test_password_forms_the_server_accepts_are_redacted(admin_dsn, make_db):
    """Every form the property tests cover, as the server tracked it."""
    dsn = make_db(extensions=("pg_stat_statements", "postgres_fdw"))
    role = f"r_{uuid.uuid4().hex[:8]}"
    secret = f"S3cr3t{uuid.uuid4().hex[:6]}"
    stmts = [f"CREATE ROLE {role} LOGIN PASSWORD $pw${secret}$pw$",
             f"ALTER USER {role} ENCRYPTED PASSWORD U&'{secret}\\0021'",
             f"ALTER ROLE {role} PASSWORD '{secret[:4]}'\n   '{secret[4:]}'",
             f"CREATE SERVER srv_{role} FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host 'h', dbname 'd')",
             f"CREATE USER MAPPING FOR {role} SERVER srv_{role} OPTIONS (user 'u', password '{secret}')",
             f"ALTER USER MAPPING FOR {role} SERVER srv_{role} OPTIONS (SET password E'{secret}\\\\x')"]
    with psycopg.connect(dsn, autocommit=True) as conn:
        for s in stmts:
            conn.execute(s)
        tracked = [r[0] for r in conn.execute(
            "SELECT query FROM pg_stat_statements WHERE query LIKE %s", (f"%{role}%",)).fetchall()]
    assert len([t for t in tracked if secret[:4] in t]) >= 5
    from pgadvisor.collect import collect

    snap = collect(dsn, "x", plans_top=0)
    texts = [s["query"] for s in snap.statements if role in s["query"]]
    assert len(texts) >= 6 and not any(secret[:4] in t or secret[4:] in t for t in texts), texts
