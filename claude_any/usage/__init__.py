"""The usage ledger: every /v1/messages request recorded in a database (SQLite or PostgreSQL), the daily
budgets read back from it, and the `claude-any usage` report."""
