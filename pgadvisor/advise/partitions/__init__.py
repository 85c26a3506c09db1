"""The partition advisor: candidates, evaluation on scratch copies, the decision, the migration (issue 14)."""
