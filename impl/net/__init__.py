"""impl.net: the fleet as real operating-system processes on loopback.

- ``frame``: the length-prefixed frames on every TCP connection (strict decoder);
- ``fleetdir``: a fleet's directory: ``fleet.json``, per-replica keys (mode 0600), ports;
- ``server``: one replica process (``python -m impl.net.server``): an
  ``impl.replica.HsmReplica`` with a ``SqliteReplicaStore``, a monotonic clock and a
  single-threaded ``selectors`` loop;
- ``endpoint``: ``NetEndpoint``, the client's ``VaultEndpoint`` to those processes;
- ``launcher``: start, ``SIGKILL``, restart and stop the processes;
- ``durable``: read a stopped replica's store offline (what survived on disk).

``docs/processes.rst`` describes the frame format, the durability argument and the
``SIGKILL`` test.
"""
