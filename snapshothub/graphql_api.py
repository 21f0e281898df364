"""The hub's GraphQL API: the subset of the real hub's schema that Lifeboat reads, with its limits.

``space``, ``proposal``, ``proposals``, ``vote``, ``votes`` and ``messages`` with the real field
names and types, ``where`` filters, ordering (with ``id`` ascending as the tie-break, as the real
hub orders) and argument limits (``first`` <= 1000, ``skip`` <= 5000, ``*_in`` <= 100; the real
error text). Executed by graphql-core.
"""

import json
from typing import Any

from eth_utils import is_address, to_checksum_address
from graphql import GraphQLSchema, build_schema

from snapshothub.evm import NodeUnavailable
from snapshothub.hub import Hub, finalize_due, proposal_state

SDL = """
scalar Any

type Query {
  space(id: String!): Space
  proposal(id: String!): Proposal
  proposals(first: Int! = 20, skip: Int! = 0, where: ProposalWhere, orderBy: String,
            orderDirection: OrderDirection): [Proposal]
  vote(id: String!): Vote
  votes(first: Int! = 20, skip: Int! = 0, where: VoteWhere, orderBy: String, orderDirection: OrderDirection): [Vote]
  messages(first: Int! = 20, skip: Int! = 0, where: MessageWhere, orderBy: String,
           orderDirection: OrderDirection): [Message]
}

enum OrderDirection { asc desc }

input ProposalWhere {
  id: String
  id_in: [String]
  space: String
  space_in: [String]
  author: String
  author_in: [String]
  network: String
  type: String
  app: String
  created: Int
  created_gt: Int
  created_gte: Int
  created_lt: Int
  created_lte: Int
  start: Int
  start_gt: Int
  start_gte: Int
  start_lt: Int
  start_lte: Int
  end: Int
  end_gt: Int
  end_gte: Int
  end_lt: Int
  end_lte: Int
  scores_state: String
  scores_state_in: [String]
  state: String
}

input VoteWhere {
  id: String
  id_in: [String]
  ipfs: String
  space: String
  space_in: [String]
  voter: String
  voter_in: [String]
  proposal: String
  proposal_in: [String]
  reason: String
  app: String
  created: Int
  created_in: [Int]
  created_gt: Int
  created_gte: Int
  created_lt: Int
  created_lte: Int
  vp: Float
  vp_gt: Float
  vp_gte: Float
  vp_lt: Float
  vp_lte: Float
  vp_state: String
}

input MessageWhere {
  id: String
  id_in: [String]
  mci: Int
  mci_gt: Int
  mci_gte: Int
  mci_lt: Int
  mci_lte: Int
  address: String
  timestamp: Int
  timestamp_gt: Int
  timestamp_gte: Int
  timestamp_lt: Int
  timestamp_lte: Int
  space: String
  space_in: [String]
  type: String
  type_in: [String]
}

type Space {
  id: String!
  name: String
  network: String
  symbol: String
  admins: [String]
  moderators: [String]
  members: [String]
  filters: SpaceFilters
  voting: SpaceVoting
  strategies: [Strategy]
  created: Int!
}

type SpaceFilters {
  minScore: Float
  onlyMembers: Boolean
}

type SpaceVoting {
  delay: Int
  period: Int
  type: String
  quorum: Float
  quorumType: String!
  privacy: String
}

type Strategy {
  name: String!
  network: String
  params: Any
}

type Proposal {
  id: String!
  ipfs: String
  author: String!
  created: Int!
  updated: Int
  space: Space
  network: String!
  symbol: String!
  type: String
  strategies: [Strategy]!
  plugins: Any!
  title: String!
  body: String
  discussion: String!
  choices: [String]!
  labels: [String]!
  start: Int!
  end: Int!
  quorum: Float!
  quorumType: String!
  privacy: String
  snapshot: Int
  state: String
  app: String
  scores: [Float]
  scores_by_strategy: Any
  scores_state: String
  scores_total: Float
  scores_updated: Int
  votes: Int
  flagged: Boolean
}

type Vote {
  id: String!
  ipfs: String
  voter: String!
  created: Int!
  space: Space!
  proposal: Proposal
  choice: Any!
  metadata: Any
  reason: String
  app: String
  vp: Float
  vp_by_strategy: [Float]
  vp_state: String
}

type Message {
  mci: Int
  id: String
  ipfs: String
  address: String
  version: String
  timestamp: Int
  space: String
  type: String
  sig: String
  receipt: String
}
"""

ARG_LIMITS: dict[str, dict[str, int]] = {
    "default": {"first": 1000, "skip": 5000, "*_in": 100},
    "proposals": {"space_in": 10000},
}


class PublicError(Exception):
    """An error whose message the client sees as is (the real hub's wording)."""


def check_limits(args: dict[str, Any], kind: str) -> None:
    """The real hub's argument limits; PublicError with its words when one is passed."""
    where = args.get("where") or {}
    limits = {**ARG_LIMITS["default"], **ARG_LIMITS.get(kind, {})}
    for key in where:
        if key.endswith("_in") and key not in limits:
            limits[key] = limits["*_in"]
    for key, limit in limits.items():
        if key in ("first", "skip"):
            reached = (args.get(key) or 0) > limit
        elif key.endswith("_in"):
            reached = isinstance(where.get(key), list) and len(where[key]) > limit
        else:
            reached = False
        if reached:
            raise PublicError(f"The `{key}` argument must not be greater than {limit}")
        if key in ("first", "skip") and (args.get(key) or 0) < 0:
            raise PublicError(f"The `{key}` argument must be positive")


def _where_sql(fields: dict[str, str], where: dict[str, Any]) -> tuple[str, list[Any]]:
    """SQL conditions for ``where`` as the real hub builds them (``_gt``/``_lt`` only when truthy)."""
    sql, params = "", []
    for field, kind in fields.items():
        column = f'"{field}"'
        if kind == "address":
            for key in (field, f"{field}_in"):
                if where.get(key):
                    values = where[key] if isinstance(where[key], list) else [where[key]]
                    if not all(isinstance(v, str) and is_address(v) for v in values):
                        raise PublicError(f"Invalid addresses in {field}")
                    checksummed = [to_checksum_address(v) for v in values]
                    where[key] = checksummed if isinstance(where[key], list) else checksummed[0]
        if where.get(field) is not None:
            sql += f" AND {column} = ?"
            params.append(where[field])
        if isinstance(where.get(f"{field}_in"), list):
            values = where[f"{field}_in"]
            sql += f" AND {column} IN ({','.join('?' * len(values))})" if values else " AND 1 = 0"
            params.extend(values)
        if kind == "number":
            for suffix, op in (("_gt", ">"), ("_gte", ">="), ("_lt", "<"), ("_lte", "<=")):
                if where.get(f"{field}{suffix}"):
                    sql += f" AND {column} {op} ?"
                    params.append(where[f"{field}{suffix}"])
    return sql, params


def _order(args: dict[str, Any], allowed: tuple[str, ...], default: str, fallback: str | None = None) -> str:
    order_by = args.get("orderBy") or default
    if order_by not in allowed:
        order_by = fallback or default
    direction = str(args.get("orderDirection") or "desc").upper()
    return f'"{order_by}" {"ASC" if direction == "ASC" else "DESC"}'


def _public_space(hub: Hub, space_id: str, started: int) -> dict[str, Any] | None:
    space = hub.spaces.get(space_id)
    return None if space is None else {**space, "created": started}


def _format_proposal(hub: Hub, row: dict[str, Any], started: int) -> dict[str, Any]:
    proposal = dict(row)
    for key in ("choices", "labels", "strategies", "plugins", "scores", "scores_by_strategy"):
        proposal[key] = json.loads(proposal[key])
    proposal["state"] = proposal_state(proposal, hub.now())
    proposal["space"] = _public_space(hub, row["space"], started) or {"id": row["space"], "created": started}
    proposal["quorumType"] = proposal.pop("quorum_type") or "default"
    proposal["updated"] = None
    proposal["flagged"] = False
    return proposal


def _proposals_by_id(hub: Hub, ids: list[str], started: int) -> dict[str, dict[str, Any]]:
    ids = list(dict.fromkeys(ids))
    finalize_due(hub, ids)
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = hub.store.read(f"SELECT * FROM proposals WHERE id IN ({','.join('?' * len(chunk))})", chunk)  # noqa: S608
        found.update({row["id"]: _format_proposal(hub, row, started) for row in rows})
    return found


def make_schema() -> GraphQLSchema:
    return build_schema(SDL)


class Resolvers:
    """The root resolvers, bound to one hub."""

    def __init__(self, hub: Hub, started: int) -> None:
        self.hub = hub
        self.started = started

    def root(self) -> dict[str, Any]:
        return {
            name: self._guard(getattr(self, name))
            for name in ("space", "proposal", "proposals", "vote", "votes", "messages")
        }

    @staticmethod
    def _guard(resolver: Any) -> Any:
        def run(info: Any, **args: Any) -> Any:
            try:
                return resolver(info, **args)
            except PublicError:
                raise
            except NodeUnavailable:
                raise PublicError("request failed") from None

        return run

    def space(self, info: Any, id: str) -> dict[str, Any] | None:
        return _public_space(self.hub, id, self.started)

    def proposal(self, info: Any, id: str) -> dict[str, Any] | None:
        return _proposals_by_id(self.hub, [id], self.started).get(id)

    def proposals(self, info: Any, **args: Any) -> list[dict[str, Any]]:
        check_limits(args, "proposals")
        where = dict(args.get("where") or {})
        fields = {
            "id": "string",
            "space": "string",
            "author": "address",
            "network": "string",
            "type": "string",
            "app": "string",
            "created": "number",
            "start": "number",
            "end": "number",
            "scores_state": "string",
        }
        sql, params = _where_sql(fields, where)
        now = self.hub.now()
        state = where.get("state")
        if state == "pending":
            sql += " AND start > ?"
            params.append(now)
        elif state == "active":
            sql += ' AND start < ? AND "end" > ?'
            params += [now, now]
        elif state == "closed":
            sql += ' AND "end" < ?'
            params.append(now)
        order = _order(args, ("created", "start", "end", "votes"), "created")
        rows = self.hub.store.read(
            f"SELECT id FROM proposals WHERE 1 = 1{sql} ORDER BY {order}, id ASC LIMIT ?, ?",  # noqa: S608
            [*params, args["skip"], args["first"]],
        )
        found = _proposals_by_id(self.hub, [row["id"] for row in rows], self.started)
        return [found[row["id"]] for row in rows if row["id"] in found]

    def vote(self, info: Any, id: str) -> dict[str, Any] | None:
        votes = self.votes(info, first=1, skip=0, where={"id": id})
        return votes[0] if len(votes) == 1 else None

    def votes(self, info: Any, **args: Any) -> list[dict[str, Any]]:
        check_limits(args, "votes")
        where = dict(args.get("where") or {})
        fields = {
            "id": "string",
            "ipfs": "string",
            "space": "string",
            "voter": "address",
            "proposal": "string",
            "reason": "string",
            "app": "string",
            "created": "number",
            "vp": "number",
            "vp_state": "string",
        }
        sql, params = _where_sql(fields, where)
        order = _order(args, ("created", "vp"), "created")
        rows = self.hub.store.read(
            f"SELECT * FROM votes WHERE 1 = 1{sql} ORDER BY {order}, id ASC LIMIT ?, ?",  # noqa: S608
            [*params, args["skip"], args["first"]],
        )
        wants_proposal = any(
            selection.name.value == "proposal"
            for field in info.field_nodes
            for selection in (field.selection_set.selections if field.selection_set else [])
            if hasattr(selection, "name")
        )
        proposals = _proposals_by_id(self.hub, [r["proposal"] for r in rows], self.started) if wants_proposal else {}
        votes = []
        for row in rows:
            vote = dict(row)
            raw = [int(v) for v in json.loads(vote.pop("vp_raw"))]
            space = _public_space(self.hub, row["space"], self.started)
            strategies = space["strategies"] if space else []
            vote["vp_by_strategy"] = [
                v / 10 ** int(s.get("params", {}).get("decimals", 18)) for v, s in zip(raw, strategies, strict=False)
            ]
            vote["choice"] = json.loads(vote["choice"])
            vote["metadata"] = json.loads(vote["metadata"])
            vote["space"] = space or {"id": row["space"], "created": self.started}
            vote["proposal"] = proposals.get(row["proposal"], {"id": row["proposal"]})
            votes.append(vote)
        return votes

    def messages(self, info: Any, **args: Any) -> list[dict[str, Any]]:
        check_limits(args, "messages")
        where = dict(args.get("where") or {})
        fields = {
            "id": "string",
            "mci": "number",
            "address": "string",
            "timestamp": "number",
            "space": "string",
            "type": "string",
        }
        sql, params = _where_sql(fields, where)
        order = _order(args, ("mci", "timestamp"), "timestamp", fallback="mci")
        return self.hub.store.read(
            f"SELECT * FROM messages WHERE id IS NOT NULL{sql} ORDER BY {order}, mci ASC LIMIT ?, ?",  # noqa: S608
            [*params, args["skip"], args["first"]],
        )
