"""The findings console (``memwarden ui``): a live web page of findings for the people on call.

``ingest`` reads the three body kinds (Tracee detection, Tracee v1beta1, Falco alert) into one
record; ``storage`` keeps them in SQLite with retention; ``filters`` turns query parameters into
SQL (the page's URL, the JSON API, the chart and the export share them); ``follow`` tails a
findings file; ``server`` serves the page, the API, ingest and the live stream; ``static/`` is
the front end (plain HTML, CSS and JavaScript, shipped in the package, no external resources).
"""
