"""HTTP plumbing shared by the HTTP providers (``azure``, ``azure-classic``); no provider knowledge.

Layer: edge, below the providers. ``retry`` is the one retry policy (a urllib3 ``Retry`` mounted
on the session's adapter), ``session`` builds that session and translates what ``requests``
raises, ``transport`` is ARM's JSON transport, and ``lro`` the pure long-running-operation
strategies (ARM's and Service Management's) with their one driver loop. Nothing above
``providers/`` imports from here.
"""
