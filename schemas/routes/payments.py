"""The routes of `payments`: send money, read a payment, refund it, and request money."""

from __future__ import annotations

from schemas.api import (
    EmptyRequest,
    ListQuery,
    PaymentRequest,
    PaymentRequestList,
    PaymentRequestResponse,
    PaymentResponse,
    PayRequestRequest,
    RefundList,
    RefundRequest,
    RefundResponse,
    RequestMoneyRequest,
)
from schemas.routing import RateClass, Route, RouteTable

__all__ = [
    "CANCEL_REQUEST",
    "DECLINE_REQUEST",
    "GET_PAYMENT",
    "GET_PAYMENT_REQUEST",
    "GET_REFUND",
    "LIST_PAYMENT_REQUESTS",
    "LIST_REFUNDS",
    "PAY_REQUEST",
    "REFUND",
    "REQUEST_MONEY",
    "ROUTES",
    "SEND",
]

SEND = Route(
    method="POST",
    path="/v1/payments",
    operation_id="createPayment",
    summary="Send money to another user",
    request_model=PaymentRequest,
    response_model=PaymentResponse,
    response_status=202,
    error_statuses=(403, 404, 422),
    idempotency_key=True,
    idempotency_key_required=True,
    description="Accepted as `pending`; the limits of the payer's KYC level, fraud scoring, the "
    "debit and the settlement follow asynchronously. Poll `GET /v1/payments/{payment_id}` for the "
    "outcome: a payment over a limit ends `declined` with `failure_code` `limit_exceeded` and a "
    "`failure_message` that starts with the limit's name (`single_payment`, `sent_24h` or "
    "`sent_30d`; `GET /v1/users/me/limits`). A frozen payer or payee is a 403 `account_frozen`. "
    "A payer whose e-mail address is not verified sends at most 100 USD in all (403 "
    "`email_unverified`); a payer with the second factor on sends more than 1,000 USD in one "
    "payment only with a current code in `otp` (403 `mfa_required` without one, `invalid_otp` "
    "when it is wrong or used already). A retry with the same Idempotency-Key may carry another "
    "`otp`: it is the same payment.",
    rate_class=RateClass.MONEY,
)
GET_PAYMENT = Route(
    method="GET",
    path="/v1/payments/{payment_id}",
    operation_id="getPayment",
    summary="A payment and its status",
    response_model=PaymentResponse,
    error_statuses=(404,),
    rate_class=RateClass.READ,
)
REFUND = Route(
    method="POST",
    path="/v1/payments/{payment_id}/refunds",
    operation_id="createRefund",
    summary="Refund all or part of a payment you received",
    request_model=RefundRequest,
    request_body_required=False,
    response_model=RefundResponse,
    response_status=202,
    error_statuses=(403, 404),
    idempotency_key=True,
    idempotency_key_required=True,
    description="Only the payee of a completed (or partially refunded) payment may refund it; "
    "the payer gets a 403. Omit `amount` (or send no body) to refund what is left. Refunds "
    "in flight count: their total never exceeds the payment. Accepted as `pending`; the "
    "refund is reserved from the payee's wallet and credited to the payer asynchronously, "
    "and the payment becomes `partially_refunded`, then `refunded`.",
    rate_class=RateClass.MONEY,
)
LIST_REFUNDS = Route(
    method="GET",
    path="/v1/payments/{payment_id}/refunds",
    operation_id="listRefunds",
    summary="A payment's refunds, oldest first",
    response_model=RefundList,
    error_statuses=(404,),
    rate_class=RateClass.READ,
)
GET_REFUND = Route(
    method="GET",
    path="/v1/refunds/{refund_id}",
    operation_id="getRefund",
    summary="A refund and its status (for the payment's payer and payee)",
    response_model=RefundResponse,
    error_statuses=(404,),
    rate_class=RateClass.READ,
)
REQUEST_MONEY = Route(
    method="POST",
    path="/v1/payment-requests",
    operation_id="createPaymentRequest",
    summary="Ask another user for money",
    request_model=RequestMoneyRequest,
    response_model=PaymentRequestResponse,
    response_status=201,
    error_statuses=(404,),
    idempotency_key=True,
    description="`from` is the payer's e-mail address or user id. The request is `open` until "
    "the payer pays or declines it, the requester cancels it, or it expires after "
    "`expires_in_days` (30 by default).",
    rate_class=RateClass.WRITE,
)
LIST_PAYMENT_REQUESTS = Route(
    method="GET",
    path="/v1/payment-requests",
    operation_id="listPaymentRequests",
    summary="Requests you made and requests made of you, newest first",
    response_model=PaymentRequestList,
    query_model=ListQuery,
    rate_class=RateClass.READ,
)
GET_PAYMENT_REQUEST = Route(
    method="GET",
    path="/v1/payment-requests/{payment_request_id}",
    operation_id="getPaymentRequest",
    summary="A payment request and its status",
    response_model=PaymentRequestResponse,
    error_statuses=(404,),
    rate_class=RateClass.READ,
)
PAY_REQUEST = Route(
    method="POST",
    path="/v1/payment-requests/{payment_request_id}/pay",
    operation_id="payPaymentRequest",
    summary="Pay a request made of you",
    request_model=PayRequestRequest,
    request_body_required=False,
    response_model=PaymentResponse,
    response_status=202,
    error_statuses=(403, 404),
    idempotency_key=True,
    idempotency_key_required=True,
    description="Creates a payment to the requester through the usual saga and returns it "
    "(`pending`). The request is `accepted` meanwhile, `paid` once the payment completes, "
    "and `open` again if it fails or is declined. Only the payer may pay (403 otherwise); "
    "a request already paid or being paid, or expired, is a 409. The payment's limits apply, "
    "and a frozen payer or requester is a 403 `account_frozen`. As for `POST /v1/payments`, an "
    "unverified address sends at most 100 USD (403 `email_unverified`), and a payer with the "
    "second factor on pays more than 1,000 USD only with a current code in the body's `otp`.",
    rate_class=RateClass.MONEY,
)
DECLINE_REQUEST = Route(
    method="POST",
    path="/v1/payment-requests/{payment_request_id}/decline",
    operation_id="declinePaymentRequest",
    summary="Decline a request made of you",
    request_model=EmptyRequest,
    request_body_required=False,
    response_model=PaymentRequestResponse,
    error_statuses=(403, 404),
    idempotency_key=True,
    rate_class=RateClass.WRITE,
)
CANCEL_REQUEST = Route(
    method="POST",
    path="/v1/payment-requests/{payment_request_id}/cancel",
    operation_id="cancelPaymentRequest",
    summary="Cancel a request you made",
    request_model=EmptyRequest,
    request_body_required=False,
    response_model=PaymentRequestResponse,
    error_statuses=(403, 404),
    idempotency_key=True,
    rate_class=RateClass.WRITE,
)

ROUTES = RouteTable(
    "payments",
    (
        SEND,
        GET_PAYMENT,
        REFUND,
        LIST_REFUNDS,
        GET_REFUND,
        REQUEST_MONEY,
        LIST_PAYMENT_REQUESTS,
        GET_PAYMENT_REQUEST,
        PAY_REQUEST,
        DECLINE_REQUEST,
        CANCEL_REQUEST,
    ),
)
