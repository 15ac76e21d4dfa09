"""Client for MetaStudio's "Querying Video Production Tasks" endpoint.

One concern per module: ``models`` (response types), ``query`` (validated request
parameters), ``errors`` (one exception tree), ``auth`` (AK/SK signing, tokens),
``transport`` (session, retries, status -> error), ``client`` (the endpoint, paging,
batch look-up) and ``cache`` (the cached client used by the bot).
"""
