"""Audit service: the event log on a RabbitMQ stream, its index, and a live page of every
order's journey."""
