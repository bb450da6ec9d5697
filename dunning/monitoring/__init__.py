"""What operators and their tools ask a running process: is it up (`/healthz`), may it take
traffic (`/readyz`), and how is the work going (`/metrics`, Prometheus' text format).

The state of the work (messages by status, the queue, webhook deliveries, replies, the model in
use) is read from the database at scrape time, so every replica reports the same truth; what
only a process knows (how long its jobs took) is counted in that process (`jobs.py`).
"""
