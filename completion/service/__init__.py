"""The engine service: one engine process per user and machine, reached by front ends as thin clients.

protocol.py documents the wire; server.py is the service (`tabwise serve`, or started on demand by
client.py's ServiceClient through launch.py); rundir.py holds where its socket, file and log live.
"""
