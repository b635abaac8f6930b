"""How a service runs: the runtime that wires the layers below, settings, logging, the
process entry point, the local dev runner and the dead-letter command line."""
