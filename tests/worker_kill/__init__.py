"""A fault-injection app for tests/test_worker_killed.py: holds chosen writes open mid-transaction.

Installed only by ``tests.worker_kill.settings`` (the example project on PostgreSQL), never by
the suite's own settings.
"""
