"""Events: every state change a neighbour system cares about, recorded in the transaction that
makes it, in commit order, read through a cursor and delivered to webhook endpoints."""
