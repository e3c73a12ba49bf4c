"""The typing replay's parts (`python -m bench.typing_replay` runs them): the simulated users, the functions
they type back, the systems they type into, and the report."""
