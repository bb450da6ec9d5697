"""The cash forecast as the API gives it: amounts as decimal strings in each currency's units."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from dunning.forecast.service import CurrencyForecast, Forecast
from dunning.money import as_string


class WeekOut(BaseModel):
    week: int = Field(description="1 is today and the six days after it")
    starts_on: date
    ends_on: date = Field(description="the last day of the week, included")
    expected: str = Field(description="promised + predicted")
    promised: str = Field(description="open promises to pay and plan installments falling in the week")
    predicted: str = Field(description="the rest of the open, undisputed balances, by their payment-date distribution")
    low: str = Field(description="the 10 % end of the week's band")
    high: str = Field(description="the 90 % end of the week's band")


class BeyondOut(BaseModel):
    expected: str
    promised: str
    predicted: str


class CurrencyForecastOut(BaseModel):
    currency: str
    open: str = Field(description="the whole open balance: the weeks + beyond + disputed, to the cent")
    disputed: str = Field(description="open balance under an open dispute: not expected, shown apart")
    beyond: BeyondOut = Field(description="expected after the last week")
    invoices: int = Field(description="open invoices")
    unpredicted_invoices: int = Field(
        description="invoices new since the last rescore, spread by the fallback quantiles (`fallback_days_late`)"
    )
    weeks: list[WeekOut]


class CashForecastOut(BaseModel):
    as_of: date
    weeks: int
    fallback_days_late: list[float] = Field(
        description="the 10/50/90 % days late an invoice without a stored prediction is spread by"
    )
    currencies: list[CurrencyForecastOut]


def forecast_out(forecast: Forecast) -> CashForecastOut:
    return CashForecastOut(
        as_of=forecast.as_of,
        weeks=forecast.weeks,
        fallback_days_late=list(forecast.fallback),
        currencies=[currency_out(c) for c in forecast.currencies],
    )


def currency_out(c: CurrencyForecast) -> CurrencyForecastOut:
    def money(minor: int) -> str:
        return as_string(minor, c.currency)

    return CurrencyForecastOut(
        currency=c.currency,
        open=money(c.open),
        disputed=money(c.disputed),
        beyond=BeyondOut(
            expected=money(c.beyond), promised=money(c.beyond_promised), predicted=money(c.beyond_predicted)
        ),
        invoices=c.invoices,
        unpredicted_invoices=c.unpredicted,
        weeks=[
            WeekOut(
                week=w.number,
                starts_on=w.starts_on,
                ends_on=w.ends_on,
                expected=money(w.expected),
                promised=money(w.promised),
                predicted=money(w.predicted),
                low=money(w.low),
                high=money(w.high),
            )
            for w in c.weeks
        ],
    )
