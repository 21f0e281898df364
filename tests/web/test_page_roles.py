"""Every page states who may use it, and the guard does what the table says.

``PAGES`` lists each URL name of ``web.urls`` with its access: *public* (everyone reads),
*holder* (everyone; a holder signed in with Ethereum sees their own data), *committee* or
*executor* (staff accounts in that role). A page added to ``web/urls*.py`` without a line here
fails ``test_every_page_states_its_access``. Adding one is one line: the URL name, the access,
the method (GET unless the view takes POST only), ``page=False`` for what is not a full HTML page
(a fragment, JSON), and each URL argument as the key of a sample object (``SAMPLES``).

Objects are not built here: an id names no row, and a 404 for the right role counts as "past
the guard" (the role decorator runs before the lookup). ``tests/browser/test_every_page.py``
visits the same table with real objects.
"""

from dataclasses import dataclass, field

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, reverse

from tests.factories import UserFactory
from web import urls as web_urls

PUBLIC, HOLDER, COMMITTEE, EXECUTOR = "public", "holder", "committee", "executor"
MISSING_ID = 987_654
HOLDER_ADDRESS = "0x1111111111111111111111111111111111111111"


@dataclass(frozen=True, slots=True)
class Page:
    access: str
    method: str = "GET"
    page: bool = True  # a full HTML page, visited by the browser test
    args: dict[str, str] = field(default_factory=dict)  # URL argument -> key of a sample object


def P(access: str, method: str = "GET", *, page: bool = True, **args: str) -> Page:
    return Page(access, method, page if method == "GET" else False, args)


# URL name -> who may use it. Keep in the order of web/urls.py.
PAGES: dict[str, Page] = {
    "home": P(PUBLIC),
    "login": P(PUBLIC),
    "logout": P(PUBLIC, "POST"),
    "siwe-nonce": P(PUBLIC, page=False),
    "siwe-login": P(PUBLIC, "POST"),
    "siwe-logout": P(PUBLIC, "POST"),
    "holder-proposals": P(PUBLIC),
    "holder-proposal": P(PUBLIC, proposal_id="document"),
    "holder-proposal-account": P(PUBLIC, proposal_id="document", address="victim"),
    "holder-me": P(HOLDER),
    "vote-tally": P(PUBLIC, page=False, proposal_id="document", kind="venue_kind", pk="venue"),
    "committee-incidents": P(COMMITTEE),
    "committee-incident-new": P(COMMITTEE),
    "committee-incident": P(COMMITTEE, incident_id="incident"),
    "committee-analysis-new": P(COMMITTEE, "POST", incident_id="incident"),
    "committee-analysis": P(COMMITTEE, analysis_id="analysis"),
    "committee-analysis-progress": P(COMMITTEE, page=False, analysis_id="analysis"),
    "committee-analysis-cancel": P(COMMITTEE, "POST", analysis_id="analysis"),
    "committee-plan-new": P(COMMITTEE, analysis_id="analysis"),
    "committee-plan": P(COMMITTEE, plan_id="plan"),
    "committee-plan-abi": P(COMMITTEE, page=False, artifact="artifact"),
    "committee-plan-preview": P(COMMITTEE, "POST"),
    "committee-plan-freeze": P(COMMITTEE, "POST", plan_id="plan"),
    "committee-document": P(COMMITTEE, document_id="document"),
    "committee-document-rehearse": P(COMMITTEE, "POST", document_id="document"),
    "committee-document-publish": P(COMMITTEE, "POST", document_id="document"),
    "committee-rehearsal": P(COMMITTEE, rehearsal_id="rehearsal"),
    "committee-rehearsal-status": P(COMMITTEE, page=False, rehearsal_id="rehearsal"),
    "executor-runs": P(EXECUTOR),
    "executor-discover": P(EXECUTOR, "POST"),
    "executor-publication-queue": P(EXECUTOR, "POST", publication_id="publication"),
    "executor-publication-execute": P(EXECUTOR, "POST", publication_id="publication"),
    "executor-run": P(EXECUTOR, run_id="run"),
    "executor-run-progress": P(EXECUTOR, page=False, run_id="run"),
    "executor-run-events": P(EXECUTOR, page=False, run_id="run"),
    "executor-run-start": P(EXECUTOR, "POST", run_id="run"),
    "executor-run-pause": P(EXECUTOR, "POST", run_id="run"),
    "executor-run-resume": P(EXECUTOR, "POST", run_id="run"),
    "executor-run-cancel": P(EXECUTOR, "POST", run_id="run"),
    "executor-verification": P(EXECUTOR, plan_id="plan"),
    "monitoring": P(PUBLIC),
    "monitoring-live": P(PUBLIC, page=False),
    "monitoring-rule": P(PUBLIC, rule_id="rule"),
    "monitoring-firing": P(PUBLIC, firing_id="firing"),
    "monitoring-firing-resolve": P(COMMITTEE, "POST", firing_id="firing"),
    "monitoring-pauses": P(PUBLIC),
    "monitoring-unpause": P(COMMITTEE, "POST"),
    "snapshots-page": P(PUBLIC),
    "snapshot-page": P(PUBLIC, snapshot_id="snapshot"),
    "snapshot-file": P(PUBLIC, page=False, snapshot_id="snapshot"),
    "vault": P(PUBLIC),
    "vault-escape-hatch": P(PUBLIC, page=False, deployment_id="deployment"),
    "vault-shutdown": P(COMMITTEE, "POST"),
}

# Sample URL arguments naming no row (ids) or a harmless value; the browser test fills real ones.
SAMPLES: dict[str, object] = {
    "incident": MISSING_ID,
    "analysis": MISSING_ID,
    "plan": MISSING_ID,
    "document": MISSING_ID,
    "rehearsal": MISSING_ID,
    "run": MISSING_ID,
    "publication": MISSING_ID,
    "venue": MISSING_ID,
    "rule": MISSING_ID,
    "firing": MISSING_ID,
    "snapshot": MISSING_ID,
    "deployment": MISSING_ID,
    "venue_kind": "governor",
    "victim": HOLDER_ADDRESS,
    "artifact": "RecoveryExecutor",
}


def url_of(name: str, samples: dict[str, object] = SAMPLES) -> str:
    page = PAGES[name]
    return reverse(name, kwargs={arg: samples[key] for arg, key in page.args.items()})


def web_url_names() -> list[str | None]:
    """The name of every URL pattern of ``web.urls``, nested includes walked."""

    def walk(patterns: list) -> list[str | None]:
        names: list[str | None] = []
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                names += walk(pattern.url_patterns)
            elif isinstance(pattern, URLPattern):
                names.append(pattern.name)
        return names

    return walk(web_urls.urlpatterns)


def test_every_page_states_its_access():
    names = web_url_names()

    unnamed = [name for name in names if name is None]
    unlisted = [name for name in names if name is not None and name not in PAGES]
    stale = [name for name in PAGES if name not in names]
    assert not unnamed, "every page's URL pattern needs a name to be listed in PAGES"
    assert not unlisted, f"add to PAGES in tests/web/test_page_roles.py, with its access: {unlisted}"
    assert not stale, f"PAGES lists URL names web.urls no longer has: {stale}"
    assert {page.access for page in PAGES.values()} <= {PUBLIC, HOLDER, COMMITTEE, EXECUTOR}


def _clients() -> dict[str, Client]:
    holder = Client()
    session = holder.session
    session["holder_address"] = HOLDER_ADDRESS
    session.save()
    committee, executor, superuser = Client(), Client(), Client()
    committee.force_login(UserFactory(username="page-roles-committee", committee=True))
    executor.force_login(UserFactory(username="page-roles-executor", executor=True))
    superuser.force_login(UserFactory(username="page-roles-admin", superuser=True))
    return {
        "anonymous": Client(),
        "holder": holder,
        "committee": committee,
        "executor": executor,
        "superuser": superuser,
    }


def _request(client: Client, page: Page, url: str):
    return client.post(url) if page.method == "POST" else client.get(url)


def _to_login(response) -> bool:
    return response.status_code == 302 and response["Location"].startswith(reverse("login"))


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(PAGES))
def test_the_guard_of_each_page_lets_in_exactly_its_role(name, settings):
    # A node nobody answers on: a page that reads the chain says so, and the guard is what is tested.
    settings.CHAIN_RPC_URL = "http://127.0.0.1:9"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # test accounts: fast
    page = PAGES[name]
    url = url_of(name)
    answers = {who: _request(client, page, url) for who, client in _clients().items()}
    statuses = {who: response.status_code for who, response in answers.items()}

    assert all(status < 500 for status in statuses.values()), statuses
    if page.access in (COMMITTEE, EXECUTOR):
        wrong = EXECUTOR if page.access == COMMITTEE else COMMITTEE
        # Anonymous, or a holder signed in with Ethereum only (no Django account): the staff sign-in.
        assert _to_login(answers["anonymous"]), statuses
        assert answers["anonymous"]["Location"].endswith("?next=" + url), answers["anonymous"]
        assert _to_login(answers["holder"]), statuses
        assert statuses[wrong] == 403, statuses
        assert "needs the " + page.access + " role" in answers[wrong].content.decode()
        # Past the guard: the page, a 404 for the sample id, a 400 for an empty form, or a form's redirect onwards.
        assert not _to_login(answers[page.access]) and statuses[page.access] != 403, statuses
        assert not _to_login(answers["superuser"]) and statuses["superuser"] != 403, statuses  # every role
    else:
        for who, response in answers.items():
            assert not _to_login(response) and response.status_code != 403, (who, statuses)
        if page.method == "GET" and not page.args:
            # (A signed-in user may be sent on: the sign-in page sends staff to the home page.)
            assert statuses["anonymous"] == statuses["holder"] == 200, statuses
