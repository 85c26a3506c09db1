"""Indexes proposed by rule (a trigram GIN hypopg cannot cost) next to verified ones (issue 10): never
beside a verified index that already serves their statements; otherwise ranked below the verified ones,
with the reason in their evidence."""

from __future__ import annotations

import pytest
from conftest import scratch_db

from pgadvisor.advise.review import recommend
from pgadvisor.findings import Verified

SETUP = """
CREATE TABLE products (id int PRIMARY KEY, name text NOT NULL, created_at timestamptz NOT NULL, price int);
INSERT INTO products SELECT i, md5(i::text) || ' shoe', now() - i * interval '1 minute', i % 1000
  FROM generate_series(1, 60000) i;
ANALYZE products;
"""
# served by a B-tree on created_at: walk the newest rows until 20 match
SORTED = "SELECT id, name FROM products WHERE name ILIKE '%shoe%' ORDER BY created_at DESC LIMIT 20"
# nothing but a trigram index serves it
COUNT = "SELECT count(*) FROM products WHERE name ILIKE '%abc%'"
OTHER = "SELECT id FROM products WHERE price = 42"


@pytest.fixture(scope="module")
def shop(admin_dsn):
    with scratch_db(admin_dsn, "unverified", SETUP, ("hypopg", "pg_trgm")) as dsn:
        yield dsn


def _trigram(review) -> list:
    return [r for r in review.recommendations if "gin_trgm_ops" in (r.sql or "")]


def test_no_trigram_gin_beside_a_verified_btree_that_serves_the_statement(shop):
    review = recommend(shop, texts=[SORTED])
    assert any("(created_at" in (r.sql or "") and r.verified == Verified.hypopg for r in review.recommendations)
    assert not _trigram(review), [r.sql for r in review.recommendations]
    why = [x for x in review.rejected if "gin_trgm_ops" in x.id or "trgm" in x.id]
    assert why and "already serve its statements" in why[0].reason and "not verified" in why[0].reason


def test_a_trigram_gin_nothing_verified_serves_is_ranked_last_and_says_why(shop):
    review = recommend(shop, texts=[COUNT, OTHER])
    gins = _trigram(review)
    assert len(gins) == 1
    assert "not verified" in gins[0].evidence["why"] and "ranked below the verified" in gins[0].evidence["why"]
    verified = [i for i, r in enumerate(review.recommendations) if r.verified == Verified.hypopg]
    assert verified and max(verified) < review.recommendations.index(gins[0])
