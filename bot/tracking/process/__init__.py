"""The tracking loop (``worker``) and the supervisor that restarts it (``supervisor``)."""
