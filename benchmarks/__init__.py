"""`make bench`: the system's throughput, latency and footprint next to the raw aio-pika
pipeline it sits on, measured in one run on this machine (see `python -m benchmarks -h`)."""
