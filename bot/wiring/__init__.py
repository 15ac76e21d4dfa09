"""The one composition root: :class:`~bot.settings.Settings` in, the built services out.

Every other package receives what it needs as arguments; only this package (and the
entry points above it in ``serve/`` and ``cli``) reads settings to decide what to build.
"""
