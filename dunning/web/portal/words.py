"""The portal's words in each language it speaks; a customer in any other language reads English."""
from __future__ import annotations

from babel import Locale, UnknownLocaleError

from dunning.channels.render import normalise_language

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Your account with {company}",
        "hello": "Statement for {name}, as of {date}",
        "invoices": "Open invoices in {currency}",
        "number": "Invoice", "issued": "Issued", "due": "Due", "late": "Days late", "open": "Open amount",
        "disputed": "disputed", "not_due": "not yet due",
        "fees": "Late payment fees", "total": "Total to pay", "overdue": "of which overdue",
        "pay": "Pay now", "pay_note": "You will leave this site to pay securely.",
        "pay_which": "Invoices to pay", "pay_item": "Invoices {numbers}",
        "pay_processing_note": "A payment of {amount} is being confirmed by your bank.",
        "pay_none": "Choose at least one invoice to pay.", "pay_too_many": "Choose at most {n} invoices at once.",
        "pay_disputed": "A disputed invoice cannot be paid online while we look into it.",
        "pay_processing": "A payment for this invoice is already being confirmed.",
        "pay_not_open": "This invoice has nothing left to pay. Please reload the page.",
        "pay_currency": "This currency cannot be paid online; please pay by bank transfer.",
        "pay_unavailable": "Online payment is not available right now. Please try again later.",
        "promise_h": "Promise a payment date", "promise_p": "Tell us when you will pay {amount}: we will not send "
                                                           "reminders until then.",
        "promise_b": "Promise this date", "date": "Date",
        "plan_h": "Pay in monthly installments",
        "plan_p": "Up to {max} monthly payments{minimum} are set up at once. For anything else, ask: our team "
                  "will answer.",
        "plan_min": " of at least {amount}", "payments": "Number of payments", "first": "First payment on",
        "plan_b": "Ask for this plan", "plan_reviewed": "{n} payments (reviewed by our team)",
        "plan_active": "Your installment plan", "plan_n": "{n} monthly payments",
        "promise_active": "You promised to pay {amount} by {date}.",
        "dispute_h": "Dispute an invoice", "dispute_p": "Something wrong with an invoice? It leaves our reminders "
                                                       "while we look into it.",
        "invoice": "Invoice", "reason": "Reason", "details": "Details (optional)", "dispute_b": "Send the dispute",
        "contact_h": "Your contact details", "email": "Email", "phone": "Mobile phone", "contact_b": "Update",
        "channels_h": "How we remind you", "channel_on": "We may remind you by {channel}.",
        "channel_off": "You asked for no reminders by {channel}.", "opt_out": "Stop reminders by {channel}",
        "opt_in": "Remind me by {channel} again",
        "nothing": "Nothing is open on your account. Thank you!",
        "questions": "Questions? Write to {email} or call {phone}.",
        "past": "Please choose a date from today on.",
        "not_yours": "This invoice is not on your account.",
        "bad_email": "This is not an email address.", "bad_phone": "This is not a phone number we can reach.",
        "done_promise": "Thank you: your promise is recorded. We will not send reminders until that date.",
        "done_promise_noted": "Thank you: your promise is recorded. Someone from our team will call you.",
        "done_plan": "Your installment plan is set up. The dates are below.",
        "done_plan_request": "Thank you: our team will look at your request and come back to you.",
        "done_dispute": "Your dispute is recorded. We will answer within {days} days.",
        "done_contact": "Your contact details are updated.",
        "done_channel": "Your choice is saved.",
        "done_paid": "Thank you for your payment. It shows here once your bank confirms it, and you will "
                     "receive a receipt.",
        "done_pay_cancelled": "The payment was cancelled; nothing was charged.",
        "email_ch": "email", "sms_ch": "text message",
        "r_not_received": "Goods or service not received", "r_wrong_amount": "Wrong amount",
        "r_already_paid": "Already paid", "r_not_ordered": "Not ordered", "r_quality": "Quality problem",
        "r_other": "Something else",
    },
    "fr": {
        "title": "Votre compte chez {company}",
        "hello": "Relevé de {name} au {date}",
        "invoices": "Factures ouvertes en {currency}",
        "number": "Facture", "issued": "Émise le", "due": "Échéance", "late": "Jours de retard",
        "open": "Reste dû", "disputed": "contestée", "not_due": "pas encore échue",
        "fees": "Frais de retard", "total": "Total à payer", "overdue": "dont échu",
        "pay": "Payer maintenant", "pay_note": "Vous quitterez ce site pour payer en toute sécurité.",
        "pay_which": "Factures à payer", "pay_item": "Factures {numbers}",
        "pay_processing_note": "Un paiement de {amount} est en cours de confirmation par votre banque.",
        "pay_none": "Choisissez au moins une facture à payer.",
        "pay_too_many": "Choisissez au plus {n} factures à la fois.",
        "pay_disputed": "Une facture contestée ne peut pas être payée en ligne pendant que nous l'examinons.",
        "pay_processing": "Un paiement de cette facture est déjà en cours de confirmation.",
        "pay_not_open": "Il ne reste rien à payer sur cette facture. Rechargez la page.",
        "pay_currency": "Cette devise ne peut pas être payée en ligne ; merci de payer par virement.",
        "pay_unavailable": "Le paiement en ligne est indisponible pour le moment. Réessayez plus tard.",
        "promise_h": "Promettre une date de paiement",
        "promise_p": "Dites-nous quand vous paierez {amount} : nous ne vous relancerons pas d'ici là.",
        "promise_b": "Promettre cette date", "date": "Date",
        "plan_h": "Payer en plusieurs fois",
        "plan_p": "Jusqu'à {max} mensualités{minimum} sont accordées immédiatement. Pour autre chose, "
                  "demandez : notre équipe vous répondra.",
        "plan_min": " d'au moins {amount}", "payments": "Nombre de mensualités", "first": "Premier paiement le",
        "plan_b": "Demander cet échéancier", "plan_reviewed": "{n} mensualités (étudié par notre équipe)",
        "plan_active": "Votre échéancier", "plan_n": "{n} mensualités",
        "promise_active": "Vous avez promis de payer {amount} au plus tard le {date}.",
        "dispute_h": "Contester une facture",
        "dispute_p": "Un problème avec une facture ? Elle sort de nos relances le temps de l'examiner.",
        "invoice": "Facture", "reason": "Motif", "details": "Précisions (facultatif)",
        "dispute_b": "Envoyer la contestation",
        "contact_h": "Vos coordonnées", "email": "E-mail", "phone": "Téléphone mobile", "contact_b": "Mettre à jour",
        "channels_h": "Comment nous vous relançons", "channel_on": "Nous pouvons vous relancer par {channel}.",
        "channel_off": "Vous avez demandé à ne plus être relancé par {channel}.",
        "opt_out": "Ne plus me relancer par {channel}", "opt_in": "Me relancer de nouveau par {channel}",
        "nothing": "Rien n'est dû sur votre compte. Merci !",
        "questions": "Des questions ? Écrivez à {email} ou appelez le {phone}.",
        "past": "Choisissez une date à partir d'aujourd'hui.",
        "not_yours": "Cette facture n'est pas sur votre compte.",
        "bad_email": "Cette adresse e-mail n'est pas valide.",
        "bad_phone": "Ce numéro de téléphone n'est pas valide.",
        "done_promise": "Merci : votre promesse est enregistrée. Nous ne vous relancerons pas d'ici là.",
        "done_promise_noted": "Merci : votre promesse est enregistrée. Notre équipe va vous appeler.",
        "done_plan": "Votre échéancier est en place. Les dates sont ci-dessous.",
        "done_plan_request": "Merci : notre équipe va étudier votre demande et revenir vers vous.",
        "done_dispute": "Votre contestation est enregistrée. Nous vous répondrons sous {days} jours.",
        "done_contact": "Vos coordonnées sont à jour.",
        "done_channel": "Votre choix est enregistré.",
        "done_paid": "Merci pour votre paiement. Il apparaîtra ici dès que votre banque l'aura confirmé, et "
                     "vous recevrez un reçu.",
        "done_pay_cancelled": "Le paiement a été annulé ; rien n'a été débité.",
        "email_ch": "e-mail", "sms_ch": "SMS",
        "r_not_received": "Marchandise ou service non reçu", "r_wrong_amount": "Montant erroné",
        "r_already_paid": "Déjà payée", "r_not_ordered": "Non commandé", "r_quality": "Problème de qualité",
        "r_other": "Autre",
    },
}
REASONS = ("not_received", "wrong_amount", "already_paid", "not_ordered", "quality", "other")

def language(customer_language: str | None) -> str:
    lang = normalise_language(customer_language)
    return lang if lang in WORDS else "en"


def locale(lang: str, country: str | None) -> str:
    """A babel locale for money and dates: the customer's country when babel knows the pair."""
    if country:
        try:
            return str(Locale.parse(f"{lang}_{country.upper()}"))
        except (UnknownLocaleError, ValueError):
            pass
    return lang


class Words:
    def __init__(self, lang: str):
        self.lang = lang
        self._table = WORDS[lang]

    def __call__(self, key: str, **values: object) -> str:
        return self._table[key].format(**values) if values else self._table[key]
