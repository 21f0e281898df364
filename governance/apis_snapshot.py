"""The REST API of the Snapshot venue: anyone reads, the committee adds spaces and publishes, executors
and the committee follow, executors approve a passed proposal, and anyone submits a signed vote.

Roles reuse recovery's permissions (no migration): adding a venue and publishing need the
committee's ``build_plan``, approving the executor's ``run_execution`` (as queueing and executing a
governor proposal do), following either. Submitting a vote is open to anonymous callers on
purpose, like a gasless ballot: the vote's EIP-712 signature is its authorization (holders have no
account), checked before anything is forwarded to the sequencer.

The hub's and sequencer's URLs may carry credentials: every answer shows them through
``chain.redaction.redact_url``. Voting power and tallies in base units travel as decimal strings;
the hub's own numbers (floats, token units) as the hub said them.
"""

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http import QueryDict
from django.urls import URLPattern, path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chain.redaction import redact_url
from governance import snapshot_selectors
from governance.apis import CanAddVenue
from governance.apis_following import CanFollow
from governance.apis_publishing import CanPublishProposal, CanRunOutcome
from governance.models.snapshot import ApproverKind, SnapshotApproval, SnapshotProposal, SnapshotProposalStatus
from governance.snapshot_errors import SnapshotApprovalNotFound
from governance.snapshot_messages import ABSTAIN, AGAINST, FOR
from recovery.apis import MAX_BLOCK, PAGE_PARAMETERS, RowsPagination, page_of, paginated, validated_input
from recovery.exceptions import InvalidInput
from recovery.validation import parse_address

CHOICES = {"for": FOR, "against": AGAINST, "abstain": ABSTAIN}
CHOICE_NAMES = {number: name.capitalize() for name, number in CHOICES.items()}
# The sequencer refuses a vote whose reason is longer (its limit, in UTF-16 code units as JavaScript counts).
MAX_REASON_LENGTH = 5_000


def parse_choice(value: object, *, field: str = "choice") -> int:
    """A single choice of Snapshot's basic voting: ``for``/``against``/``abstain`` (any case) or 1, 2, 3.

    ``InvalidInput`` (400, naming ``field``) for anything else.
    """
    text = str(value).strip().lower() if isinstance(value, str | int) and not isinstance(value, bool) else ""
    if text in CHOICES:
        return CHOICES[text]
    if text in {"1", "2", "3"}:
        return int(text)
    raise InvalidInput(
        f"{field} {value!r} is not a choice of Snapshot's basic voting: send for, against or abstain (or 1, 2, 3)",
        field=field,
    )


def parse_reason(value: object, *, field: str = "reason") -> str:
    """A vote's reason: text up to ``MAX_REASON_LENGTH`` UTF-16 code units (``None`` is empty).

    ``InvalidInput`` (400, naming ``field``) for anything else.
    """
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be text", field=field)
    length = len(value.encode("utf-16-le", "surrogatepass")) // 2
    if length > MAX_REASON_LENGTH:
        raise InvalidInput(f"{field} is {length} characters long; at most {MAX_REASON_LENGTH}", field=field)
    if "\x00" in value:
        raise InvalidInput(f"{field} contains a NUL character", field=field)
    return value


def parse_service_url(value: object, *, field: str) -> str:
    """An http(s) URL with a host, as given (it may carry credentials; never echoed back unredacted).

    ``InvalidInput`` (400, naming ``field``, the URL shown redacted) for anything else.
    """
    text = value if isinstance(value, str) else ""
    try:
        parts = urlsplit(text)
        ok = parts.scheme in {"http", "https"} and bool(parts.hostname) and (parts.port is None or parts.port > 0)
    except ValueError:
        ok = False
    if not ok or any(c.isspace() or c == "\x00" for c in text):
        shown = redact_url(text) if text else "nothing"
        raise InvalidInput(f"{field} must be an http or https URL with a host; got {shown}", field=field)
    return text


def approval_transactions(approval: SnapshotApproval) -> list[dict[str, Any]]:
    """The approval's stored transactions without their raw signed bytes."""
    return [{key: value for key, value in tx.items() if key != "raw"} for tx in approval.transactions or []]


class RedactedUrlField(serializers.CharField):
    def to_representation(self, value: Any) -> str:
        return redact_url(str(value))


class SnapshotVenueOutput(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    space = serializers.CharField()
    name = serializers.CharField(allow_blank=True)
    chain_id = serializers.IntegerField()
    sequencer_url = RedactedUrlField()
    hub_url = RedactedUrlField()
    recovery_executor = serializers.CharField()
    approver_kind = serializers.CharField()
    approver = serializers.CharField()
    token = serializers.CharField(allow_blank=True)
    token_decimals = serializers.IntegerField()
    voting_delay = serializers.IntegerField()  # seconds
    voting_period = serializers.IntegerField()
    voting_type = serializers.CharField(allow_blank=True)
    quorum = serializers.CharField()  # base units, as a decimal string
    hub_quorum = serializers.CharField(allow_blank=True)
    authors = serializers.ListField(child=serializers.CharField())
    only_members = serializers.BooleanField()
    strategies = serializers.JSONField()
    probed_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class SnapshotProposalOutput(serializers.Serializer):
    id = serializers.IntegerField()
    proposal = serializers.IntegerField(source="document_id")
    venue = serializers.IntegerField(source="venue_id")
    space = serializers.CharField(source="venue.space")
    status = serializers.CharField()
    proposal_id = serializers.CharField(allow_blank=True)  # the hub's id: 0x EIP-712 digest
    author = serializers.CharField()
    timestamp = serializers.IntegerField()
    start = serializers.IntegerField()
    end = serializers.IntegerField()
    snapshot = serializers.IntegerField()
    snapshot_block_hash = serializers.CharField()
    ipfs = serializers.CharField(allow_blank=True)
    error = serializers.CharField(allow_blank=True)
    state = serializers.CharField(allow_blank=True)
    scores = serializers.JSONField()  # the hub's floats, as it said them
    scores_total = serializers.CharField(allow_blank=True)
    scores_state = serializers.CharField(allow_blank=True)
    hub_quorum = serializers.CharField(allow_blank=True)
    votes_count = serializers.IntegerField()
    for_votes = serializers.CharField()  # Lifeboat's exact tally, base units as decimal strings
    against_votes = serializers.CharField()
    abstain_votes = serializers.CharField()
    outcome = serializers.CharField(allow_blank=True)
    outcome_reason = serializers.CharField(allow_blank=True)
    followed_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class SnapshotProposalDetailOutput(SnapshotProposalOutput):
    envelope = serializers.JSONField()  # the signed message exactly as posted
    summary = serializers.JSONField()  # snapshot_following.snapshot_proposal_summary


class SnapshotVoteOutput(serializers.Serializer):
    vote_id = serializers.CharField()
    voter = serializers.CharField()
    choice = serializers.IntegerField()  # 1 For, 2 Against, 3 Abstain
    choice_name = serializers.SerializerMethodField()
    reason = serializers.CharField(allow_blank=True)
    app = serializers.CharField(allow_blank=True)
    created = serializers.IntegerField()  # the message timestamp, unix seconds
    sig = serializers.CharField(allow_blank=True)
    ipfs = serializers.CharField(allow_blank=True)
    vp = serializers.CharField(allow_null=True)  # exact getPastVotes at the snapshot, base units
    hub_vp = serializers.CharField(allow_blank=True)  # the hub's float, token units, as it said it
    via_lifeboat = serializers.BooleanField()

    def get_choice_name(self, vote: Any) -> str:
        return CHOICE_NAMES.get(vote.choice, str(vote.choice))


class SnapshotApprovalOutput(serializers.Serializer):
    snapshot_proposal = serializers.IntegerField(source="proposal_id")
    approver_kind = serializers.CharField()
    approver = serializers.CharField()
    status = serializers.CharField()
    transactions = serializers.SerializerMethodField()
    safe_batch = serializers.JSONField(allow_null=True)  # the Transaction Builder file for a Safe approver
    error = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    confirmed_at = serializers.DateTimeField(allow_null=True)

    def get_transactions(self, approval: SnapshotApproval) -> list[dict[str, Any]]:
        return approval_transactions(approval)


class SubmittedVoteOutput(serializers.Serializer):
    id = serializers.CharField()
    ipfs = serializers.CharField(allow_blank=True)
    voter = serializers.CharField()
    choice = serializers.IntegerField()
    vp = serializers.CharField()


def _proposal(snapshot_proposal_id: int) -> SnapshotProposal:
    return snapshot_selectors.get_snapshot_proposal(snapshot_proposal_id)


class SnapshotVenueListApi(APIView):
    """Every Snapshot venue, oldest first, a page at a time; ``POST`` adds one (committee, 201).

    Adding reads the space's settings from the hub, checks the node serves its network, that the
    RecoveryExecutor is one and the approver may approve plans on it (a key holding
    APPROVER_ROLE, or a Safe contract). Adding one already stored reads it again and updates it.
    """

    permission_classes = [CanAddVenue]

    class SnapshotVenueInputSerializer(serializers.Serializer):
        space = serializers.CharField(max_length=100)
        sequencer_url = serializers.CharField(max_length=500, required=False)
        hub_url = serializers.CharField(max_length=500, required=False)
        recovery_executor = serializers.CharField(max_length=100)
        approver = serializers.CharField(max_length=100, required=False)
        approver_kind = serializers.ChoiceField(choices=ApproverKind.values, default=ApproverKind.KEY)

    @extend_schema(
        operation_id="snapshot_venues_list",
        parameters=PAGE_PARAMETERS,
        responses=page_of(SnapshotVenueOutput, "PaginatedSnapshotVenueList"),
    )
    def get(self, request: Request) -> Response:
        rows = snapshot_selectors.list_snapshot_venues()
        return paginated(request, self, rows, SnapshotVenueOutput, RowsPagination())

    @extend_schema(
        operation_id="snapshot_venues_create",
        request=SnapshotVenueInputSerializer,
        responses={201: SnapshotVenueOutput},
    )
    def post(self, request: Request) -> Response:
        from governance.snapshot_venues import add_snapshot_venue

        data = validated_input(self.SnapshotVenueInputSerializer, request.data)
        venue = add_snapshot_venue(
            **snapshot_venue_arguments(data), rpc_url=settings.CHAIN_RPC_URL, added_by=request.user
        )
        return Response(SnapshotVenueOutput(venue).data, status=201)


def snapshot_venue_arguments(data: dict[str, Any]) -> dict[str, Any]:
    """``add_snapshot_venue``'s arguments from checked input, with the defaults filled in.

    The URLs default to ``SNAPSHOT_SEQUENCER_URL`` and ``SNAPSHOT_HUB_URL``; a key approver to the
    committee key's address (``SigningKeyMissing``, 503, when no committee key is configured). A
    Safe approver must be named. ``InvalidInput`` (400) names the first bad field.
    """
    from governance.venues import role_account

    space = str(data["space"]).strip()
    if not space or any(c.isspace() or c == "\x00" for c in space):
        raise InvalidInput(f"space {data['space']!r} is not a Snapshot space id (e.g. lifeboat.eth)", field="space")
    recovery_executor = parse_address(data["recovery_executor"], field="recovery_executor")
    approver_kind = data.get("approver_kind") or ApproverKind.KEY
    if approver_kind not in ApproverKind.values:
        raise InvalidInput(f"approver_kind {approver_kind!r} must be key or safe", field="approver_kind")
    if data.get("approver"):
        approver = parse_address(data["approver"], field="approver")
    elif approver_kind == ApproverKind.SAFE:
        raise InvalidInput("a Safe approver must be named: send approver, the Safe's address", field="approver")
    else:
        approver = role_account("committee").address
    return {
        "space": space,
        "sequencer_url": parse_service_url(
            data.get("sequencer_url") or settings.SNAPSHOT_SEQUENCER_URL, field="sequencer_url"
        ),
        "hub_url": parse_service_url(data.get("hub_url") or settings.SNAPSHOT_HUB_URL, field="hub_url"),
        "recovery_executor": recovery_executor,
        "approver": approver,
        "approver_kind": approver_kind,
    }


class SnapshotVenueDetailApi(APIView):
    @extend_schema(operation_id="snapshot_venue_retrieve", responses=SnapshotVenueOutput)
    def get(self, request: Request, venue_id: int) -> Response:
        return Response(SnapshotVenueOutput(snapshot_selectors.get_snapshot_venue(venue_id)).data)


class ProposalSnapshotPublishApi(APIView):
    """A proposal document's Snapshot proposals (``GET``, anyone); publish it to a Snapshot venue's space
    (``POST``, committee).

    ``POST {venue}``: 201 when published now, 200 when it already was (the same row; nothing
    posted again). The document needs a passed rehearsal and the committee's sign-off on a
    governor venue of the same chain and RecoveryExecutor.
    """

    permission_classes = [CanPublishProposal]

    class SnapshotPublishInputSerializer(serializers.Serializer):
        venue = serializers.IntegerField(min_value=1, max_value=MAX_BLOCK)

    @extend_schema(operation_id="proposal_snapshot_list", responses=SnapshotProposalOutput(many=True))
    def get(self, request: Request, proposal_id: int) -> Response:
        from proposals.selectors import get_proposal

        get_proposal(proposal_id=proposal_id)  # an unknown proposal answers proposal_not_found
        rows = snapshot_selectors.list_snapshot_proposals_of_document(proposal_id=proposal_id)
        return Response(SnapshotProposalOutput(rows, many=True).data)

    @extend_schema(
        operation_id="proposal_snapshot_publish",
        request=SnapshotPublishInputSerializer,
        responses={200: SnapshotProposalOutput, 201: SnapshotProposalOutput},
    )
    def post(self, request: Request, proposal_id: int) -> Response:
        from governance.snapshot_publishing import publish_to_snapshot

        venue_id = validated_input(self.SnapshotPublishInputSerializer, request.data)["venue"]
        found = snapshot_selectors.find_snapshot_proposal(proposal_id=proposal_id, venue_id=venue_id)
        existed = found is not None and found.status == SnapshotProposalStatus.CREATED
        published = publish_to_snapshot(
            proposal_id=proposal_id, venue_id=venue_id, rpc_url=settings.CHAIN_RPC_URL, published_by=request.user
        )
        return Response(SnapshotProposalOutput(published).data, status=200 if existed else 201)


class SnapshotProposalListApi(APIView):
    """Every proposal published to a Snapshot space, newest first, a page at a time."""

    @extend_schema(
        operation_id="snapshot_proposals_list",
        parameters=PAGE_PARAMETERS,
        responses=page_of(SnapshotProposalOutput, "PaginatedSnapshotProposalList"),
    )
    def get(self, request: Request) -> Response:
        rows = snapshot_selectors.list_snapshot_proposals()
        return paginated(request, self, rows, SnapshotProposalOutput, RowsPagination())


class SnapshotProposalDetailApi(APIView):
    """One Snapshot proposal as last followed, with its summary: state, time left, the hub's scores against
    Lifeboat's exact tally, quorum progress, outcome and approval."""

    @extend_schema(operation_id="snapshot_proposal_retrieve", responses=SnapshotProposalDetailOutput)
    def get(self, request: Request, snapshot_proposal_id: int) -> Response:
        return Response(_detail(_proposal(snapshot_proposal_id)))


class SnapshotProposalVotesApi(APIView):
    """``GET``: the stored votes (each with its signature, exact voting power and the hub's), oldest first,
    a page at a time. ``POST``: submit a vote signed by a holder (open to anyone, 201).

    The body of a ``POST`` is the signed envelope ``{address, sig, data: {domain, types, message}}``
    exactly as a wallet or snapshot.js produces it. Its signature is the authorization: it must be
    Snapshot's Vote in Snapshot's domain, for this proposal and space, signed by ``address``,
    inside the voting window, by a voter with voting power at the snapshot; then it is forwarded
    to the sequencer, and a refusal there answers 409 with the sequencer's reason.
    """

    authentication_classes: list[Any] = []  # a session adds nothing: the signature decides
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="snapshot_proposal_votes_list",
        parameters=PAGE_PARAMETERS,
        responses=page_of(SnapshotVoteOutput, "PaginatedSnapshotVoteList"),
    )
    def get(self, request: Request, snapshot_proposal_id: int) -> Response:
        rows = snapshot_selectors.list_snapshot_votes(snapshot_proposal_id=snapshot_proposal_id)
        return paginated(request, self, rows, SnapshotVoteOutput, RowsPagination())

    @extend_schema(
        operation_id="snapshot_proposal_votes_create", request=OpenApiTypes.OBJECT, responses={201: SubmittedVoteOutput}
    )
    def post(self, request: Request, snapshot_proposal_id: int) -> Response:
        from governance.snapshot_votes import submit_vote

        envelope = request.data
        if isinstance(envelope, QueryDict) or not isinstance(envelope, dict):
            raise InvalidInput(
                "the body must be the signed vote envelope as a JSON object: {address, sig, data: {domain, types, "
                "message}}",
                field="envelope",
            )
        _proposal(snapshot_proposal_id)
        answer = submit_vote(
            snapshot_proposal_id=snapshot_proposal_id, envelope=envelope, rpc_url=settings.CHAIN_RPC_URL
        )
        return Response(SubmittedVoteOutput(answer).data, status=201)


class SnapshotVoteTypedDataApi(APIView):
    """The EIP-712 typed data ``{domain, types, message}`` a holder signs (``eth_signTypedData_v4``) to vote on
    this proposal, timestamped now: sign it and ``POST {address, sig, data}`` to ``.../votes/``."""

    @extend_schema(
        operation_id="snapshot_proposal_vote_typed_data",
        parameters=[
            OpenApiParameter("voter", str, required=True, description="the voter's EIP-55 address"),
            OpenApiParameter("choice", str, required=True, description="for, against or abstain (or 1, 2, 3)"),
            OpenApiParameter("reason", str, description="the vote's reason (empty by default)"),
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request, snapshot_proposal_id: int) -> Response:
        from governance.snapshot_votes import vote_typed_data

        query = request.query_params
        voter = parse_address(query.get("voter"), field="voter")
        choice = parse_choice(query.get("choice"))
        reason = parse_reason(query.get("reason"))
        _proposal(snapshot_proposal_id)
        typed_data = vote_typed_data(
            snapshot_proposal_id=snapshot_proposal_id, voter=voter, choice=choice, reason=reason
        )
        return Response(typed_data)


class SnapshotProposalFollowApi(APIView):
    """Follow the proposal on the hub now (executors and the committee); answers it as it then stands."""

    permission_classes = [CanFollow]

    @extend_schema(operation_id="snapshot_proposal_follow", request=None, responses=SnapshotProposalDetailOutput)
    def post(self, request: Request, snapshot_proposal_id: int) -> Response:
        from governance.snapshot_following import follow_snapshot_proposal

        _proposal(snapshot_proposal_id)
        proposal = follow_snapshot_proposal(snapshot_proposal_id=snapshot_proposal_id, rpc_url=settings.CHAIN_RPC_URL)
        return Response(_detail(proposal))


class SnapshotProposalApproveApi(APIView):
    """Act on a passed proposal by hand (executors): ``approvePlan`` sent by the venue's approver key, or the
    Safe's batch file prepared. Idempotent: approval happens exactly once per passed proposal."""

    permission_classes = [CanRunOutcome]

    @extend_schema(operation_id="snapshot_proposal_approve", request=None, responses=SnapshotApprovalOutput)
    def post(self, request: Request, snapshot_proposal_id: int) -> Response:
        from governance.snapshot_approval import approve_passed_proposal

        _proposal(snapshot_proposal_id)
        approval = approve_passed_proposal(
            snapshot_proposal_id=snapshot_proposal_id, rpc_url=settings.CHAIN_RPC_URL, requested_by=request.user
        )
        return Response(SnapshotApprovalOutput(approval).data)


class SnapshotProposalApprovalApi(APIView):
    """The approval a passed proposal led to: its status, transactions (without raw bytes) and, for a Safe
    approver, the Transaction Builder batch file."""

    @extend_schema(operation_id="snapshot_proposal_approval", responses=SnapshotApprovalOutput)
    def get(self, request: Request, snapshot_proposal_id: int) -> Response:
        proposal = _proposal(snapshot_proposal_id)
        approval = SnapshotApproval.objects.filter(proposal=proposal).first()
        if approval is None:
            outcome = proposal.outcome or "not decided yet"
            raise SnapshotApprovalNotFound(
                f"snapshot proposal {proposal.pk} has no approval yet (outcome: {outcome}); a passed proposal is "
                f"approved by the follow task, or by hand with POST /api/snapshot/proposals/{proposal.pk}/approve/",
                snapshot_proposal=proposal.pk,
                outcome=proposal.outcome,
            )
        return Response(SnapshotApprovalOutput(approval).data)


def _detail(proposal: SnapshotProposal) -> dict[str, Any]:
    """A proposal's row with its signed message and its summary (``SnapshotProposalDetailOutput``)."""
    from governance.snapshot_following import snapshot_proposal_summary

    answer = dict(SnapshotProposalOutput(proposal).data)
    answer["envelope"] = proposal.envelope
    answer["summary"] = snapshot_proposal_summary(proposal)
    return answer


urlpatterns: list[URLPattern] = [
    path("api/venues/snapshot/", SnapshotVenueListApi.as_view(), name="snapshot-venues"),
    path("api/venues/snapshot/<int:venue_id>/", SnapshotVenueDetailApi.as_view(), name="snapshot-venue"),
    path("api/proposals/<int:proposal_id>/snapshot/", ProposalSnapshotPublishApi.as_view(), name="proposal-snapshot"),
    path("api/snapshot/proposals/", SnapshotProposalListApi.as_view(), name="snapshot-proposals"),
    path(
        "api/snapshot/proposals/<int:snapshot_proposal_id>/",
        SnapshotProposalDetailApi.as_view(),
        name="snapshot-proposal",
    ),
    path(
        "api/snapshot/proposals/<int:snapshot_proposal_id>/votes/",
        SnapshotProposalVotesApi.as_view(),
        name="snapshot-proposal-votes",
    ),
    path(
        "api/snapshot/proposals/<int:snapshot_proposal_id>/vote-typed-data/",
        SnapshotVoteTypedDataApi.as_view(),
        name="snapshot-proposal-vote-typed-data",
    ),
    path(
        "api/snapshot/proposals/<int:snapshot_proposal_id>/follow/",
        SnapshotProposalFollowApi.as_view(),
        name="snapshot-proposal-follow",
    ),
    path(
        "api/snapshot/proposals/<int:snapshot_proposal_id>/approve/",
        SnapshotProposalApproveApi.as_view(),
        name="snapshot-proposal-approve",
    ),
    path(
        "api/snapshot/proposals/<int:snapshot_proposal_id>/approval/",
        SnapshotProposalApprovalApi.as_view(),
        name="snapshot-proposal-approval",
    ),
]
