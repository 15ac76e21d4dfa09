"""Everything that speaks Slack: the Bolt app and its listeners, request verification,
the Web API messenger, response_url answers, App Home, users and user groups.

Nothing below this package imports slack_bolt; ``tracking`` and ``commands`` see Slack
only through :class:`bot.domain.messaging.Messenger` and the ``Reply`` they return.
"""
