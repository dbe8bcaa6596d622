"""The daemon: its jobs as plain methods (jobs), the composer, the reply policy, the outbox
rules, the trainer child (retraining) and the one-daemon-per-database lock.

Importing this package loads no model: torch and transformers come in only through the
Generator that app.py hands to the daemon.
"""

from bot.daemon.jobs import Daemon, JobResult

__all__ = ["Daemon", "JobResult"]
