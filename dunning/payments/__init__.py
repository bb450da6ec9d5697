"""Online payment: Stripe Checkout from the portal, Stripe's webhooks into the ledger, receipts."""
