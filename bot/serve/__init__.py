"""Every way the bot runs (the ``videojobs-bot`` subcommands) and what keeps those
processes alive: the WSGI server, Socket Mode, the console demo, the configuration check,
the answering child process, health, logging and the metrics directory.
"""
