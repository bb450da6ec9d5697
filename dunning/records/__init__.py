"""Tables that a domain writes and a domain below it reads.

Every other table lives in its domain's `models.py`. These sit here, below every domain, because
a lower layer must read them and must not import the domain that writes them: the cycle reads
disputes and promises (`records.arrangements`, written by the arrangements above it), the risk
model learns from replies (`records.replies`), and tasks go to desk users (`records.desk`, written
by the desk's sign-in). Only table definitions: what to do with the rows stays with the writer.
"""
