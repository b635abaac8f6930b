"""What travels between services: the CloudEvents envelope, the schema of each event's
data, the broker topology's names and the AMQP header names. Pure data; no I/O."""
