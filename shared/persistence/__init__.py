"""The database side: engines whose transactions run on database threads (one hand-off
per transaction), the inbox, outbox storage, and the SQL unit of work."""
