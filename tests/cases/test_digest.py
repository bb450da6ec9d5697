"""The cycle skips a case whose view and policy it has already decided on (its fingerprint). The
fingerprint is a digest of the view's repr, so it must come out the same in every process: two
workers, or a worker after a restart, each run with their own string-hash seed."""

from __future__ import annotations

import pickle
import subprocess
import sys
from types import SimpleNamespace

from dunning.cases.cycle import Cycle, digest
from tests.builders import customer, invoice
from tests.outbox.support import ADDRESS, seed

IN_ANOTHER_PROCESS = (
    "import pickle, sys; from dunning.cases.cycle import digest; "
    "view, policy = pickle.load(sys.stdin.buffer); print(digest(view, policy))"
)


def test_a_views_digest_is_the_same_whatever_the_hash_seed(db, clock, settings):
    # a contact with an email address, a phone and a postal address: a set of three channels
    seed(db, clock, [customer("C1", address=ADDRESS)], [invoice("I1")])
    with db.session() as session:
        ((_case, _customer, view, policy, _risk),) = list(Cycle(session, clock, settings).views())
    assert len(view.customer.addressees[0].channels) == 3  # the set whose order the seed would change
    named = SimpleNamespace(name=policy.name, version=policy.version)
    here = digest(view, policy)
    elsewhere = {
        subprocess.run(
            [sys.executable, "-c", IN_ANOTHER_PROCESS],
            input=pickle.dumps((view, named)),
            capture_output=True,
            check=True,
            env={"PYTHONHASHSEED": str(hash_seed), "PATH": ""},
        )
        .stdout.decode()
        .strip()
        for hash_seed in range(4)
    }
    assert elsewhere == {here}
