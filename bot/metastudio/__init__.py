"""Client for MetaStudio's "Querying Video Production Tasks" endpoint and the
operations around it.

One concern per module: ``models`` (response types, the job detail), ``query``
(validated request parameters), ``errors`` (one exception tree), ``auth`` (AK/SK
signing, tokens), ``transport`` (session, retries, status -> error), ``client`` (the
endpoint, paging, batch look-up, details), ``cache`` (the cached clients used by the
bot), ``operations`` (cancel, resources usage), ``assets`` (the asset library),
``creating`` (creates, and finding the job of one in doubt) and ``evidence`` (the
look-ups that explain ended jobs).
"""
