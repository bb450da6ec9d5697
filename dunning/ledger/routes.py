from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from dunning import bounds
from dunning.bounds import Day
from dunning.clock import today
from dunning.deps import Body, ClockDep, ExternalId, SessionDep, require
from dunning.inputs import BoundedRoute
from dunning.ledger import contact_rows, queries, service
from dunning.ledger.batch import Batch
from dunning.ledger.schemas import (
    AgingReport,
    ContactBatch,
    ContactRowIn,
    CreditNoteBatch,
    CreditNoteIn,
    CustomerBatch,
    CustomerDetail,
    CustomerIn,
    CustomerOut,
    CustomerUpsertResult,
    InvoiceBatch,
    InvoiceIn,
    InvoiceOut,
    PaymentBatch,
    PaymentIn,
    UpsertResult,
)
from dunning.paging import Cursor, Limit, Page

router = APIRouter(prefix="/v1", tags=["ledger"], route_class=BoundedRoute)

# Bulk bodies are parsed by Batch, not by FastAPI, so that shape errors and business errors come
# back together in one 422 (see app.document_extra_schemas for their OpenAPI description).
BATCH_SCHEMAS: list[type[BaseModel]] = [CustomerBatch, ContactBatch, InvoiceBatch, PaymentBatch, CreditNoteBatch]


def documented(model: type[BaseModel]) -> dict[str, Any]:
    schema = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


@router.post(
    "/customers/bulk",
    dependencies=[require("ingest")],
    openapi_extra=documented(CustomerBatch),
    response_model_exclude_none=True,
)
def push_customers(body: Body, session: SessionDep, clock: ClockDep) -> CustomerUpsertResult:
    return service.push_customers(session, clock, Batch.parse(body, "customers", CustomerIn))


@router.post("/contacts/bulk", dependencies=[require("ingest")], openapi_extra=documented(ContactBatch))
def push_contacts(body: Body, session: SessionDep, clock: ClockDep) -> UpsertResult:
    return contact_rows.push(session, clock, Batch.parse(body, "contacts", ContactRowIn))


@router.post("/invoices/bulk", dependencies=[require("ingest")], openapi_extra=documented(InvoiceBatch))
def push_invoices(body: Body, session: SessionDep, clock: ClockDep) -> UpsertResult:
    return service.push_invoices(session, clock, Batch.parse(body, "invoices", InvoiceIn))


@router.post("/payments/bulk", dependencies=[require("ingest")], openapi_extra=documented(PaymentBatch))
def push_payments(body: Body, session: SessionDep, clock: ClockDep) -> UpsertResult:
    return service.push_payments(session, clock, Batch.parse(body, "payments", PaymentIn), "payment")


@router.post("/credit-notes/bulk", dependencies=[require("ingest")], openapi_extra=documented(CreditNoteBatch))
def push_credit_notes(body: Body, session: SessionDep, clock: ClockDep) -> UpsertResult:
    return service.push_payments(session, clock, Batch.parse(body, "credit_notes", CreditNoteIn), "credit_note")


@router.get("/customers", dependencies=[require("read")])
def list_customers(session: SessionDep, limit: Limit = 100, cursor: Cursor = None) -> Page[CustomerOut]:
    return queries.list_customers(session, limit=limit, cursor=cursor)


@router.get("/customers/{external_id:segment}", dependencies=[require("read")])
def get_customer(external_id: ExternalId, session: SessionDep, clock: ClockDep) -> CustomerDetail:
    return queries.customer_detail(session, external_id, today(clock))


@router.get("/invoices", dependencies=[require("read")])
def list_invoices(
    session: SessionDep,
    clock: ClockDep,
    limit: Limit = 100,
    cursor: Cursor = None,
    customer: Annotated[bounds.line(200) | None, Query()] = None,
    status: Literal["open", "closed"] | None = None,
    overdue: bool | None = None,
) -> Page[InvoiceOut]:
    return queries.list_invoices(
        session, today=today(clock), limit=limit, cursor=cursor, customer=customer, status=status, overdue=overdue
    )


@router.get("/reports/aging", dependencies=[require("read")])
def aging(session: SessionDep, clock: ClockDep, as_of: Day | None = None) -> AgingReport:
    return queries.aging(session, as_of or today(clock))
