from tests.replies.test_conversation_email import *
from dunning.replies.intents import classify
from datetime import datetime, timezone
def test_peek(client, anonymous, db, clock, settings):
    seed(client, first="email")
    cycle(db, clock, settings)
    dispatch(db, clock, settings)
    [reminder] = messages(db)
    print(reminder.body_text)
    u = classify("Je paierai vendredi.\n" + reminder.body_text, lang="fr", received_at=clock.now(), tz="Europe/Paris", channel="email")
    print(u)
