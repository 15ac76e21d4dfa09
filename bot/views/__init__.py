"""Block Kit builders for every answer of the bot (pure functions returning ``Reply``),
their shared formatting helpers, and the plain-text renderer the console demo prints."""
