"""The usage ledger: every /v1/messages request recorded in a database (SQLite or PostgreSQL), the daily
budgets read back from it, and the `claude-any usage` report."""

# `claude-any usage --by` and `--format`: here, so the command line knows them without importing the
# database layer.
GROUPS = ("user", "target", "model", "session", "day", "instance")
FORMATS = ("table", "csv", "json")
