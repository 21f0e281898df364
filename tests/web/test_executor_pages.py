"""The executors' pages: runs, start/pause/resume/cancel, live progress, the audit log, verification, queue/execute.

A push plan approved on the session anvil by the timelock (impersonated), as the execution tests
build it (``tests/recovery/test_execution_helpers.py``); its run found on chain by the same
service as the periodic task. The pages are driven with Django's test client; without a Celery
worker here, the batches a start enqueues are sent by calling the service, as the execution
tests do.
"""

import html
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from chain import devkeys
from chain.artifacts import bind
from chain.demo import VOTING_PERIOD_BLOCKS, holder_account
from chain.transact import send
from governance import following
from governance.publishing import publish_proposal
from recovery import execution
from recovery.execution_reconcile import reconcile_executions
from recovery.models import Allocation, BatchSend, ExecutionEvent, ExecutionRun, ExecutionRunStatus
from tests.factories import UserFactory
from tests.governance.governors import dev_venue, frozen_document, increase_time, make_publishable, mine, vote
from tests.recovery.test_execution_helpers import ApprovedPlan, make_approved_plan, make_plan

pytestmark = [pytest.mark.django_db, pytest.mark.chain]

HOLDER = "0x" + "ab" * 20


def _text(response) -> str:
    return html.unescape(response.content.decode())


@pytest.fixture
def depth(settings):
    settings.CONFIRMATION_DEPTH = 0
    return settings


def approved_plan_with_allocations(w3, demo, deployer, timelock) -> ApprovedPlan:
    """The execution tests' approved push plan (4 batches, 12 holders), with the allocation rows a plan build
    writes too (the verification report reads them; the helper writes only the batches)."""
    approved = make_approved_plan(w3, demo, deployer, timelock)
    rows = [
        (recipient, amount, batch.index)
        for batch in approved.batches
        for recipient, amount in zip(batch.recipients, batch.amounts, strict=True)
    ]
    Allocation.objects.bulk_create(
        Allocation(
            plan_asset=approved.plan_asset,
            account=account,
            claim=amount,
            amount=amount,
            leaf_index=n,
            tree_index=n,
            batch_index=index,
        )
        for n, (account, amount, index) in enumerate(rows)
    )
    return approved


@pytest.fixture
def ready_run(w3, demo, deployer, timelock, chain_settings, depth) -> ExecutionRun:
    """A push plan of 4 batches approved on chain; its run found (status ready), as the periodic task finds it."""
    approved_plan_with_allocations(w3, demo, deployer, timelock)
    (run,) = execution.discover_approvals(w3=w3)
    assert run.status == ExecutionRunStatus.READY
    return run


def _executor() -> Client:
    client = Client()
    client.force_login(UserFactory(executor=True))
    return client


def _clients() -> dict[str, Client]:
    holder = Client()
    session = holder.session
    session["holder_address"] = HOLDER
    session.save()
    committee = Client()
    committee.force_login(UserFactory(committee=True))
    return {"anonymous": Client(), "holder": holder, "committee": committee, "executor": _executor()}


def _send_all(run: ExecutionRun, w3) -> None:
    for batch_send in BatchSend.objects.filter(run=run).order_by("index"):
        execution.send_batch(batch_send_id=batch_send.pk, w3=w3)


def _pages(run: ExecutionRun) -> list[str]:
    return [
        "/executions/",
        f"/executions/{run.pk}/",
        f"/executions/{run.pk}/progress/",
        f"/executions/{run.pk}/events/",
        f"/plans/{run.plan_asset.plan_id}/verification/",
    ]


def test_every_page_is_for_executors_only_anonymous_and_holders_sign_in_the_committee_is_refused(ready_run):
    clients = _clients()
    for url in _pages(ready_run):
        anonymous = clients["anonymous"].get(url)
        assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/?next="), url
        holder = clients["holder"].get(url)
        assert holder.status_code == 302 and holder["Location"].startswith("/login/?next="), url
        committee = clients["committee"].get(url)
        assert committee.status_code == 403, url
        assert "needs the executor role" in _text(committee)
        assert clients["executor"].get(url).status_code == 200, url


def test_every_action_refuses_the_wrong_roles_and_a_post_without_csrf_token_writing_nothing(ready_run):
    run = ready_run
    events = ExecutionEvent.objects.count()
    posts = [
        (f"/executions/{run.pk}/start/", {}),
        (f"/executions/{run.pk}/pause/", {"reason": "x"}),
        (f"/executions/{run.pk}/resume/", {}),
        (f"/executions/{run.pk}/cancel/", {"confirm": "yes"}),
        ("/executions/discover/", {}),
    ]
    clients = _clients()
    for url, data in posts:
        assert clients["anonymous"].post(url, data).status_code == 302, url
        assert clients["holder"].post(url, data).status_code == 302, url
        assert clients["committee"].post(url, data).status_code == 403, url
        strict = Client(enforce_csrf_checks=True)
        strict.force_login(UserFactory(executor=True))
        assert strict.post(url, data).status_code == 403, url
    run.refresh_from_db()
    assert run.status == ExecutionRunStatus.READY
    assert ExecutionEvent.objects.count() == events and not BatchSend.objects.exists()


def test_unknown_runs_and_plans_are_404_pages(ready_run):
    client = _executor()
    for url in ("/executions/999999/", "/executions/999999/progress/", "/executions/999999/events/"):
        reply = client.get(url)
        assert reply.status_code == 404 and "There is no execution run 999999." in _text(reply)
    assert client.post("/executions/999999/start/").status_code == 404
    assert client.post("/executions/publications/999999/queue/").status_code == 404
    reply = client.get("/plans/999999/verification/")
    assert reply.status_code == 404 and "there is no recovery plan 999999" in _text(reply)


def test_an_executor_starts_pauses_resumes_and_cancels_each_only_when_the_status_allows(ready_run, w3):
    run, client = ready_run, _executor()
    page = _text(client.get(f"/executions/{run.pk}/"))
    assert 'data-testid="start"' in page and 'data-testid="pause"' not in page
    assert str(run.approval_block) in page and run.approval_block_hash in page
    assert run.plan_asset.commitment_root in page and "waiting to start" in page
    # Pausing or resuming a run that is not running: 409 in words, nothing written.
    for action in ("pause", "resume"):
        refused = client.post(f"/executions/{run.pk}/{action}/")
        assert refused.status_code == 409
        assert re.search(r'role="alert"[^>]*>execution run \d+ is ready: only a', _text(refused))

    started = client.post(f"/executions/{run.pk}/start/")
    assert started.status_code == 302 and started["Location"] == f"/executions/{run.pk}/"
    run.refresh_from_db()
    assert run.status == ExecutionRunStatus.RUNNING and run.started_via == "web"
    user = run.started_by
    assert ExecutionEvent.objects.get(run=run, kind="started").actor == user
    page = _text(client.get(f"/executions/{run.pk}/"))
    assert "Execution started: run" in page and 'data-testid="pause"' in page and 'data-testid="start"' not in page

    again = client.post(f"/executions/{run.pk}/start/")
    assert again.status_code == 409 and "is running, not ready" in _text(again)

    too_long = client.post(f"/executions/{run.pk}/pause/", {"reason": "x" * 501})
    assert too_long.status_code == 400
    assert 'aria-describedby="pause-reason-error"' in _text(too_long) and "At most 500 characters" in _text(too_long)
    run.refresh_from_db()
    assert run.status == ExecutionRunStatus.RUNNING

    assert client.post(f"/executions/{run.pk}/pause/", {"reason": "gas spike, waiting"}).status_code == 302
    run.refresh_from_db()
    assert run.status == ExecutionRunStatus.PAUSED and run.pause_reason == "gas spike, waiting"
    listing = _text(client.get("/executions/"))
    assert "paused" in listing and "gas spike, waiting" in listing
    assert client.post(f"/executions/{run.pk}/resume/").status_code == 302
    run.refresh_from_db()
    assert run.status == ExecutionRunStatus.RUNNING

    unconfirmed = client.post(f"/executions/{run.pk}/cancel/")
    assert unconfirmed.status_code == 400 and "Tick the box to confirm" in _text(unconfirmed)
    run.refresh_from_db()
    assert run.status == ExecutionRunStatus.RUNNING
    assert client.post(f"/executions/{run.pk}/cancel/", {"confirm": "yes"}).status_code == 302
    run.refresh_from_db()
    assert run.status == ExecutionRunStatus.CANCELLED
    page = _text(client.get(f"/executions/{run.pk}/"))
    assert 'data-testid="no-actions"' in page and "hx-trigger" not in page
    kinds = list(ExecutionEvent.objects.filter(run=run).order_by("pk").values_list("kind", "actor_label"))
    name = user.get_username()
    assert kinds == [
        ("approved", "system"),
        ("started", name),
        ("paused", name),
        ("resumed", name),
        ("cancelled", name),
    ]


def test_a_start_the_chain_refuses_is_shown_in_words_and_nothing_is_written(ready_run, w3, committee_account):
    run = ready_run
    send(w3, committee_account, bind(w3, "RecoveryExecutor", run.recovery_executor).functions.pause())
    reply = _executor().post(f"/executions/{run.pk}/start/")
    assert reply.status_code == 409
    assert "is paused by its guardian: no batch can run until it is unpaused" in _text(reply)
    run.refresh_from_db()
    assert run.status == ExecutionRunStatus.READY and not BatchSend.objects.filter(run=run).exists()


def test_a_start_with_a_key_lacking_executor_role_is_refused_naming_the_grant(ready_run, settings):
    settings.EXECUTOR_PRIVATE_KEYS = ["0x" + "42" * 32]
    reply = _executor().post(f"/executions/{ready_run.pk}/start/")
    assert reply.status_code == 409 and "lacks EXECUTOR_ROLE" in _text(reply) and "grantRole" in _text(reply)
    assert "42" * 32 not in _text(reply)
    ready_run.refresh_from_db()
    assert ready_run.status == ExecutionRunStatus.READY


def test_the_progress_fragment_polls_while_running_brings_the_actions_when_the_status_changed_and_stops_when_done(
    ready_run, w3
):
    run, client = ready_run, _executor()
    fragment = _text(client.get(f"/executions/{run.pk}/progress/"))
    assert "hx-trigger" not in fragment and "0 of 4 batches confirmed" in fragment  # ready: nothing moves by itself
    client.post(f"/executions/{run.pk}/start/")
    fragment = _text(client.get(f"/executions/{run.pk}/progress/?shown=running"))
    assert 'hx-trigger="every 2s"' in fragment and f"/executions/{run.pk}/progress/?shown=running" in fragment
    assert "hx-swap-oob" not in fragment

    execution.send_batch(batch_send_id=BatchSend.objects.get(run=run, index=0).pk, w3=w3)
    fragment = _text(client.get(f"/executions/{run.pk}/progress/?shown=running"))
    assert "1 of 4 batches confirmed" in fragment and "3 of 12 accounts paid" in fragment
    assert 'hx-trigger="every 2s"' in fragment

    _send_all(run, w3)
    run.refresh_from_db()
    assert run.status == ExecutionRunStatus.COMPLETED
    fragment = _text(client.get(f"/executions/{run.pk}/progress/?shown=running"))
    assert (
        "hx-trigger" not in fragment and "4 of 4 batches confirmed" in fragment and "12 of 12 accounts paid" in fragment
    )
    # The page showed "running": the actions come along out of band, now none.
    assert 'id="run-actions" data-testid="run-actions" hx-swap-oob="true"' in fragment
    assert 'data-testid="no-actions"' in fragment and 'data-testid="pause"' not in fragment
    gas = sum(s.gas_used for s in BatchSend.objects.filter(run=run))
    fees = sum(s.gas_used * int(s.effective_gas_price) for s in BatchSend.objects.filter(run=run))
    assert f"{gas:,}" in fragment and f"{fees:,} wei" in fragment
    for batch_send in BatchSend.objects.filter(run=run):
        assert batch_send.tx_hash in fragment and batch_send.sender in fragment


def test_the_verification_report_and_the_audit_log_of_a_finished_run(ready_run, w3):
    run, client = ready_run, _executor()
    before = _text(client.get(f"/plans/{run.plan_asset.plan_id}/verification/"))
    assert 'data-testid="verdict"' in before and "<strong>incomplete</strong>" in before

    client.post(f"/executions/{run.pk}/start/")
    _send_all(run, w3)
    report = _text(client.get(f"/plans/{run.plan_asset.plan_id}/verification/?asset={run.plan_asset.asset}"))
    assert "<strong>complete</strong>" in report and "12 accounts checked" in report
    for batch_send in BatchSend.objects.filter(run=run):
        assert batch_send.tx_hash in report
    assert f"/api/plans/{run.plan_asset.plan_id}/verification.md?asset=" in report
    assert 'data-testid="no-unexpected"' in report
    bad_asset = client.get(f"/plans/{run.plan_asset.plan_id}/verification/?asset=0x{'11' * 20}")
    assert bad_asset.status_code == 404 and "has no asset" in _text(bad_asset)
    malformed = client.get(f"/plans/{run.plan_asset.plan_id}/verification/?asset=nope")
    assert malformed.status_code == 400

    log = _text(client.get(f"/executions/{run.pk}/events/"))
    kinds = re.findall(r'<tr data-kind="([a-z_]+)">', log)
    assert kinds[:2] == ["approved", "started"] and kinds[-1] == "completed"
    assert kinds.count("confirmed") == 4 and kinds.count("sent") == 4
    run.refresh_from_db()
    assert run.started_by.get_username() in log


def test_the_audit_log_is_paginated_oldest_first(ready_run):
    run = ready_run
    for n in range(60):
        execution.record_event(run, "note", f"note {n}")
    client = _executor()
    first = _text(client.get(f"/executions/{run.pk}/events/"))
    assert "Page 1 of 2" in first and "note 48" in first and "note 49" not in first
    assert re.findall(r'<tr data-kind="([a-z_]+)">', first)[0] == "approved"
    second = _text(client.get(f"/executions/{run.pk}/events/?page=2"))
    assert "note 49" in second and "note 59" in second and "note 48" not in second


def test_no_key_and_no_rpc_url_reach_any_page(ready_run, anvil, settings, w3):
    # Credentials in the node's URL (anvil ignores them) must never be shown.
    settings.CHAIN_RPC_URL = anvil.url.replace("http://", "http://lifeboat:secret-token-77@")
    client = _executor()
    client.post(f"/executions/{ready_run.pk}/start/")
    _send_all(ready_run, w3)
    for url in _pages(ready_run):
        text = _text(client.get(url))
        for secret in ("secret-token-77", devkeys.EXECUTOR_KEY.removeprefix("0x"), devkeys.DEPLOYER_KEY[2:]):
            assert secret.lower() not in text.lower(), url


# A closed port (nothing listens on 9): every request is refused. The path stands for an API key.
DEAD_NODE = "http://127.0.0.1:9/v3/node-key-5531"


def _names_no_node(text: str) -> None:
    for part in ("127.0.0.1:9", "node-key-5531", "/v3/"):
        assert part not in text


def test_a_node_that_does_not_answer_is_a_503_in_words_on_start_and_discover_naming_no_url(
    ready_run, w3, anvil, demo, settings
):
    run, client = ready_run, _executor()
    make_plan(w3, demo)  # another plan with an on-chain id and no run: discovery has a plan to ask the chain about
    events = ExecutionEvent.objects.count()
    settings.CHAIN_RPC_URL = DEAD_NODE

    started = client.post(f"/executions/{run.pk}/start/")
    assert started.status_code == 503
    text = _text(started)
    refused = "the chain node did not answer (connection refused)"
    assert re.search(
        rf'role="alert"[^>]*>{re.escape(refused)} while starting execution run {run.pk}: '
        r"try again once it answers \(retrying is safe\)<",
        text,
    )
    assert 'data-testid="start"' in text  # the form is there to try again
    _names_no_node(text)
    run.refresh_from_db()
    assert run.status == ExecutionRunStatus.READY and not BatchSend.objects.exists()

    looked = client.post("/executions/discover/")
    assert looked.status_code == 503
    text = _text(looked)
    assert re.search(rf'role="alert"[^>]*>{re.escape(refused)} while looking for approved plans: ', text)
    assert f'data-testid="run-row-{run.pk}"' in text  # the list is still shown
    _names_no_node(text)
    assert ExecutionRun.objects.count() == 1 and ExecutionEvent.objects.count() == events

    # Reading the pages needs no node; pausing and cancelling do not either.
    for url in _pages(run)[:4]:
        assert client.get(url).status_code == 200, url
    settings.CHAIN_RPC_URL = anvil.url
    assert client.post(f"/executions/{run.pk}/start/").status_code == 302  # once the node answers, it starts


def test_a_resume_the_node_cannot_check_is_a_503_and_the_run_stays_paused(ready_run, w3, demo, settings):
    run, client = ready_run, _executor()
    assert client.post(f"/executions/{run.pk}/start/").status_code == 302
    assert client.post(f"/executions/{run.pk}/pause/", {"reason": "checking"}).status_code == 302
    # A later plan version of the incident: resuming asks the chain whether it superseded this one.
    make_plan(w3, demo, version=2, incident=run.plan_asset.plan.incident)
    settings.CHAIN_RPC_URL = DEAD_NODE

    resumed = client.post(f"/executions/{run.pk}/resume/")
    assert resumed.status_code == 503
    text = _text(resumed)
    assert f"the chain node did not answer (connection refused) while resuming execution run {run.pk}" in text
    assert 'data-testid="resume"' in text
    _names_no_node(text)
    run.refresh_from_db()
    assert run.status == ExecutionRunStatus.PAUSED
    assert not ExecutionEvent.objects.filter(run=run, kind="resumed").exists()
    assert client.post(f"/executions/{run.pk}/cancel/", {"confirm": "yes"}).status_code == 302
    run.refresh_from_db()
    assert run.status == ExecutionRunStatus.CANCELLED


def test_a_plan_not_approved_has_no_run_and_the_list_says_so(w3, demo, chain_settings, depth):
    make_plan(w3, demo)
    client = _executor()
    reply = client.post("/executions/discover/")
    assert reply.status_code == 302
    listing = _text(client.get("/executions/"))
    assert "No new approval on chain" in listing and 'data-testid="no-runs"' in listing


def test_a_passed_proposal_is_queued_then_executed_from_the_list_and_its_run_appears(
    w3, anvil, demo, deployer, exploited, chain_settings, depth, settings
):
    token = bind(w3, "LifeboatToken", demo.address("token"))
    send(w3, deployer, token.functions.delegate(holder_account(0).address))
    document = frozen_document(anvil, exploited)
    venue = dev_venue(demo, anvil)
    make_publishable(document, venue, anvil.url)
    publication = publish_proposal(proposal_id=document.pk, venue_id=venue.pk, rpc_url=anvil.url)
    mine(w3, 2)
    vote(w3, venue.governor, int(publication.proposal_id), 0)
    mine(w3, VOTING_PERIOD_BLOCKS + 1)
    following.follow_publication(publication_id=publication.pk, rpc_url=anvil.url)
    publication.refresh_from_db()
    assert publication.state == "succeeded"

    client = _executor()
    listing = _text(client.get("/executions/"))
    assert f"Queue publication {publication.pk}" in listing and f"Execute publication {publication.pk}" in listing
    # The node down: queue and execute answer 503 in words, the URL's secret part never shown, nothing sent.
    settings.CHAIN_RPC_URL = DEAD_NODE
    for action in ("queue", "execute"):
        down = client.post(f"/executions/publications/{publication.pk}/{action}/")
        assert down.status_code == 503, action
        text = _text(down)
        assert re.search(rf'role="alert"[^>]*>Publication {publication.pk}: [^<]*connection refused', text), action
        assert "node-key-5531" not in text and "/v3/" not in text
    settings.CHAIN_RPC_URL = anvil.url
    publication.refresh_from_db()
    assert not publication.queue_tx_hash and not publication.execute_tx_hash
    early = client.post(f"/executions/publications/{publication.pk}/execute/")
    assert early.status_code == 409 and "must be queued on the timelock first" in _text(early)
    queued = client.post(f"/executions/publications/{publication.pk}/queue/")
    assert queued.status_code == 302
    publication.refresh_from_db()
    assert publication.queue_tx_hash and publication.queued_by is not None
    listing = _text(client.get("/executions/"))
    assert f"Publication {publication.pk} queued in {publication.queue_tx_hash}" in listing
    assert f"Queue publication {publication.pk}" not in listing

    increase_time(w3, 61)
    executed = client.post(f"/executions/publications/{publication.pk}/execute/")
    assert executed.status_code == 302
    publication.refresh_from_db()
    assert publication.execute_tx_hash
    assert client.post("/executions/discover/").status_code == 302
    listing = _text(client.get("/executions/"))
    assert "Approved on chain and ready to start" in listing
    run = ExecutionRun.objects.get(plan_asset__plan=document.plan)
    assert f'href="/executions/{run.pk}/"' in listing and "waiting to start" in listing
    assert f"Execute publication {publication.pk}" not in listing


def test_a_stuck_transaction_and_its_replacement_show_with_every_hash_and_the_fee_bump(ready_run, w3, settings):
    run, client = ready_run, _executor()
    client.post(f"/executions/{run.pk}/start/")
    settings.EXECUTION_RECEIPT_TIMEOUT_SECONDS = 0
    first = BatchSend.objects.get(run=run, index=0)
    w3.provider.make_request("evm_setAutomine", [False])
    try:
        execution.send_batch(batch_send_id=first.pk, w3=w3)
        # Ten minutes pass (EXECUTION_STUCK_AFTER_SECONDS is 180) without the transaction being mined.
        BatchSend.objects.filter(pk=first.pk).update(sent_at=timezone.now() - timedelta(minutes=10))
        first.refresh_from_db()
        old_hash = first.tx_hash
        fragment = _text(client.get(f"/executions/{run.pk}/progress/?shown=running"))
        waiting = fragment[fragment.index('data-testid="waiting"') :]
        assert old_hash in waiting and '<span class="badge bad">stuck</span>' in waiting
        assert re.search(r">6\d\d s<", waiting)  # waiting ten minutes

        reconcile_executions(w3=w3)
        first.refresh_from_db()
        assert first.replacements == 1 and first.tx_hash != old_hash
        fragment = _text(client.get(f"/executions/{run.pk}/progress/?shown=running"))
        waiting = fragment[fragment.index('data-testid="waiting"') :]
        assert waiting.index(old_hash) < waiting.index(first.tx_hash)  # every hash it had, the latest last
        assert "1 replacement with fees raised" in waiting
        log = _text(client.get(f"/executions/{run.pk}/events/"))
        assert '<tr data-kind="replaced">' in log
    finally:
        w3.provider.make_request("evm_mine", [])
        w3.provider.make_request("evm_setAutomine", [True])
