"""The browser side: the collections desk (/desk), the customer portal (/portal), unsubscribe links.
site.install mounts it on the app."""
