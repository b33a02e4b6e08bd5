"""Delivery: the durable outbox the host commits to, and the shipper that sends it."""
