"""``Stateful``: the conversation state in front of any backend — the one place thinking is
restored, the policy applied, turns recorded and stored responses kept.

Every request to ``thinkwire serve`` (the local engine, the gateway over upstreams) goes::

    client's request (IR)
      -> signatures the server issued itself checked and removed   (Issuer.inbound)
      -> dropped thinking restored from the state, per tenant      (ConversationState.restore)
      -> omitted thinking checked against what came back            (Issuer.settle)
      -> the thinking policy (keep | discard | current-turn)        (policy.apply_policy)
      -> backend.generate
      <- events: the raw turn folded for the state; the server's own signature added where the
         client's dialect needs one the backend did not give (Issuer.signer); the endpoint's
         rewrite (Caller.present); the client's view folded for a stored response
      <- the end of the answer (its last event) is held back until the turn, and the stored
         response when there is one, are recorded as the durability says

The tenant is a keyed digest of the credential the client presented (``Keys.tenant_of``), so
no client reads another's thinking or stored responses. Without a state (``--state ""``)
the issuer and the policy still apply; nothing is restored or recorded.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from typing import Any

import msgspec

from thinkwire.backend import Backend, Caller, Generation
from thinkwire.dialects.openai_responses import CODEC as RESPONSES
from thinkwire.errors import ApiError
from thinkwire.ir.conversation import Request, Response
from thinkwire.ir.losses import Loss
from thinkwire.ir.stream import Folder, MessageDelta, MessageStop, StreamEvent
from thinkwire.policy import Policy, apply_policy
from thinkwire.store.base import ResponseRecord, StoredResponse, Write, recordable
from thinkwire.store.fingerprint import ANONYMOUS
from thinkwire.store.issuer import Issuer
from thinkwire.store.state import ConversationState

log = logging.getLogger("thinkwire.state")


class Stateful:
    """``backend`` behind the conversation state (module docstring)."""

    def __init__(
        self,
        backend: Backend,
        state: ConversationState | None,
        *,
        issuer: Issuer,
        policy: Policy = "keep",
    ) -> None:
        self.backend = backend
        self.state = state
        self.issuer = issuer
        self.policy: Policy = policy
        self.total_input_usage = backend.total_input_usage
        self.restored = 0
        self.removed = 0

    def tenant(self, credential: str | None) -> str:
        """The tenant of a credential (with no state: a digest the issuer binds to)."""
        if self.state is not None:
            return self.state.keys.tenant_of(credential)
        return ANONYMOUS if credential is None else "c\0" + credential

    async def generate(self, request: Request, caller: Caller) -> Generation:
        tenant = self.tenant(caller.credential)
        messages, omitted = self.issuer.inbound(request.messages, tenant)
        request = msgspec.structs.replace(request, messages=messages)
        restored = 0
        if self.state is not None:
            request, restored = await self.state.restore(tenant, request)
            self.restored += restored
        losses: tuple[Loss, ...] = ()
        if omitted:
            messages, losses = self.issuer.settle(request.messages, omitted, tenant)
            if losses:
                log.warning("%s", "; ".join(str(loss) for loss in losses))
            request = msgspec.structs.replace(request, messages=messages)
        removed = 0
        if self.policy != "keep":
            messages, report = apply_policy(request.messages, self.policy)
            removed = report.removed_blocks
            self.removed += removed
            request = msgspec.structs.replace(request, messages=messages)
        try:
            inner = await self.backend.generate(request, caller)
        except ApiError as exc:  # what was done so far goes out with the refusal
            exc.losses, exc.restored, exc.removed = (*losses, *exc.losses), restored, removed
            raise
        return Generation(
            self._events(inner, request, caller, tenant),
            None,
            losses=(*losses, *inner.losses),
            restored=restored,
            removed=removed,
        )

    async def _events(
        self, inner: Generation, request: Request, caller: Caller, tenant: str
    ) -> AsyncGenerator[StreamEvent, None]:
        raw = Folder() if self.state is not None else None
        shown = Folder() if self.state is not None and caller.keep is not None else None
        signer = self.issuer.signer(tenant, caller.dialect)
        held: list[StreamEvent] = []
        try:
            async for event in inner:
                if raw is not None:
                    raw.feed(event)
                for signed in signer.feed(event) if signer is not None else (event,):
                    out = caller.present(signed) if caller.present is not None else signed
                    if out is None:
                        continue
                    if shown is not None:
                        shown.feed(out)
                    if held or isinstance(out, MessageDelta | MessageStop):
                        held.append(out)  # the end goes out once the turn is recorded
                    else:
                        yield out
        finally:
            await inner.aclose()
        if raw is not None:
            await self._record(tenant, request, caller, raw, shown)
        for event in held:
            yield event

    async def _record(
        self, tenant: str, request: Request, caller: Caller, raw: Folder, shown: Folder | None
    ) -> None:
        state = self.state
        assert state is not None
        writes: list[Write] = []
        message = raw.result().to_message()
        if recordable(message):
            writes.append(state.turn_record(tenant, request, message))
        if shown is not None and caller.keep is not None:
            response = shown.result()
            stored = StoredResponse(
                response=response,
                input=caller.keep.input,
                previous=caller.keep.previous,
                items=tuple(output_items(response)),
            )
            writes.append(ResponseRecord(tenant=tenant, id=caller.keep.id, stored=stored))
        if writes:  # the state logs and counts what it could not keep
            await state.record(writes)

    def models(self) -> list[str]:
        return self.backend.models()

    def response_model(self, request: Request) -> str | None:
        return self.backend.response_model(request)

    def health(self) -> dict[str, Any]:
        health = dict(self.backend.health())
        health["policy"] = self.policy
        health["restored"] = self.restored
        health["policy_removed"] = self.removed
        if self.state is None:
            health["state"] = None
            return health
        state = self.state.health()
        health["state"] = state
        if state["status"] != "ok" and health.get("status") == "ok":
            health["status"] = "degraded"
        return health

    async def aclose(self) -> None:
        try:
            await self.backend.aclose()
        finally:
            if self.state is not None:
                await self.state.aclose()


def output_items(response: Response) -> dict[str, dict[str, Any]]:
    """A response's Responses output items by their ids, as its client got them (what an
    ``item_reference`` names)."""
    output = RESPONSES.encode_response(response).value.get("output") or []
    return {item["id"]: item for item in output if isinstance(item, dict) and isinstance(item.get("id"), str)}
