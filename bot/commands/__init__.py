"""Text -> :class:`~bot.commands.types.Command` (``parse``) -> :class:`Reply` (``router``).

Slack listeners and the console demo both call the router; nothing here knows Slack's
transport."""
