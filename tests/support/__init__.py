"""What tests and benchmarks stand on, one module each: `broker` (vhosts, rabbitmqctl, a
probe), `databases`, `processes` (services and other children in a clean environment),
`polling` (waiting with a deadline) and `services` (a service in the test's own process)."""
