"""vipd's built-in checks, registered under the entry-point group ``vipd.checks``.

Each module holds one plugin, loaded exactly as a third-party one would be
(``pyproject.toml`` ``[project.entry-points."vipd.checks"]``):

* ``script``: keepalived ``vrrp_script`` (a command; exit 0 = OK).
* ``interface``: keepalived ``track_interface`` (netlink link events, no polling).
* ``file``: keepalived ``track_file`` (an integer in a file, times the weight).
* ``process``: keepalived ``vrrp_track_process`` (processes by name/arguments, quorum).
* ``tcp``: connect to host:port within the timeout (``vrrp_check``).
* ``http``: GET a URL, expect a status and optionally a body match (``vrrp_check``).

The API they implement is :mod:`vipd.health.api`.
"""
