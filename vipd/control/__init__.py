"""Operating vipd: control socket and ``vipctl``, reload, systemd notify, repair wiring."""
