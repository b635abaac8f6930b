"""The broker side: the connection and publisher, topology declaration, the consumer and
its failure policy, the outbox relay, and dead-letter queues."""
