"""Tracking and notifications, by concern (docs/architecture.md):

- ``store/``: the tables, their migrations and every SQL statement;
- ``polling/``: seeing jobs end (the poller, its watermark and active set, MetaStudio callbacks);
- ``delivery/``: telling Slack exactly once (outbox, sender, pacing, sizing, pause, markers);
- ``watches/``: what is checked on a schedule (stuck jobs, quota, scheduled reports);
- ``process/``: the run loop and the supervisor of the tracking process;
- ``service.py``: the ``track`` / ``subscribe`` family of commands.
"""
