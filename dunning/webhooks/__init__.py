"""Outbound webhooks: endpoints, deliveries of the event feed, and the egress guard."""
