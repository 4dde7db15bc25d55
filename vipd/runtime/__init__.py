"""The asyncio shell: one driver per instance (``instance``), the daemon (``daemon``)."""
