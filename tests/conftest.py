"""Fixtures every test builds on: a real anvil node with the demo stack, snapshot/revert per
test, a real Celery worker on the configured broker, and the database from DATABASE_URL."""

import shutil
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.db import connection
from django.db.backends.signals import connection_created
from eth_account.signers.local import LocalAccount
from web3 import Web3

from chain import devkeys
from chain.anvil import Anvil
from chain.demo import DemoDeployment, deploy_demo_stack, exploit_vault, seed_holders, seed_margin_positions
from chain.keys import load_account
from chain.rpc import connect
from tests.recovery.deployments import recorded_demo_deployment  # noqa: F401  (autouse: binds plans to the demo executor)
from tests.snapshot_hub import snapshot_hub  # noqa: F401  (the local Snapshot hub, per test)

TEST_HOLDERS = 24


# The session's anvil mines thousands of blocks across the suite (every test's, reverted or not).
# Anvil keeps 500 block states in memory and, by default, 3,600 more on disk, then deletes the
# oldest: past ~4,100 blocks the base chain's own history (the demo stack's deployment blocks,
# which every test reverts to and reads at) is gone, and a call at such a block answers
# "BlockOutOfRangeError". Keep every state on disk for the session, in a folder of its own that
# is removed afterwards (anvil leaves its state files behind when it is stopped).
SESSION_ANVIL_PERSISTED_STATES = 1_000_000


@pytest.fixture(scope="session")
def anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Anvil]:
    states = tmp_path_factory.mktemp("anvil-states")
    flags = ("--max-persisted-states", str(SESSION_ANVIL_PERSISTED_STATES), "--cache-path", str(states))
    node = Anvil(port=0, extra_args=flags).start()
    try:
        yield node
    finally:
        node.stop()
        shutil.rmtree(states, ignore_errors=True)


@pytest.fixture(scope="session")
def w3(anvil: Anvil) -> Web3:
    return connect(anvil.url)


@pytest.fixture(scope="session")
def deployer() -> LocalAccount:
    return load_account(private_key=devkeys.DEPLOYER_KEY)


@pytest.fixture(scope="session")
def executor_account() -> LocalAccount:
    return load_account(private_key=devkeys.EXECUTOR_KEY)


@pytest.fixture(scope="session")
def committee_account() -> LocalAccount:
    return load_account(private_key=devkeys.COMMITTEE_KEY)


@pytest.fixture(scope="session")
def attacker() -> LocalAccount:
    return load_account(private_key=devkeys.ATTACKER_KEY)


@pytest.fixture(scope="session")
def demo_stack(
    anvil: Anvil, w3: Web3, deployer: LocalAccount, executor_account: LocalAccount, committee_account: LocalAccount
) -> DemoDeployment:
    """The demo protocol deployed once per session, with TEST_HOLDERS seeded holders."""
    deployment = deploy_demo_stack(
        w3, rpc_url=anvil.url, deployer=deployer, executor=executor_account.address, committee=committee_account.address
    )
    return seed_holders(w3, deployment, deployer=deployer, count=TEST_HOLDERS)


@pytest.fixture
def demo(w3: Web3, demo_stack: DemoDeployment) -> Iterator[DemoDeployment]:
    """The demo stack, with every chain change of the test reverted afterwards."""
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    try:
        yield demo_stack
    finally:
        # evm_revert drops this snapshot (and later ones); the next test takes a new one.
        reverted = w3.provider.make_request("evm_revert", [snapshot])["result"]  # type: ignore[arg-type]
        assert reverted, "evm_revert failed: the chain state leaked out of the test"


@pytest.fixture
def margin_demo(w3: Web3, demo: DemoDeployment, deployer: LocalAccount) -> tuple[DemoDeployment, list[str]]:
    """The demo stack with every test holder's margin account opened (``chain.demo.margin_position``)
    on the margin market at a price of 1e8; reverted after the test with the rest of ``demo``."""
    return demo, seed_margin_positions(w3, demo, deployer=deployer, count=len(demo.holders))


@pytest.fixture
def exploited(w3: Web3, demo: DemoDeployment, attacker: LocalAccount) -> dict:
    """The demo vault drained for three holders in four; blocks and parties of the incident."""
    rollback_block = w3.eth.block_number
    victims = [h for i, h in enumerate(demo.holders) if i % 4 != 3]
    drainer, tx_hash = exploit_vault(w3, demo, attacker=attacker, victims=victims)
    return {
        "vault": demo.address("vault"),
        "asset": demo.address("asset"),
        "rollback_block": rollback_block,
        "reference_block": w3.eth.block_number,
        "victims": victims,
        "attacker": attacker.address,
        "drainer": drainer.address,
        "tx": tx_hash,
        "from_block": demo.contracts["vault"].block,
    }


@pytest.fixture
def timelock(w3: Web3, demo: DemoDeployment) -> Iterator[str]:
    """The governance timelock's address, which tests may send from through anvil's impersonation."""
    address = demo.address("timelock")
    w3.provider.make_request("anvil_impersonateAccount", [address])  # type: ignore[arg-type]
    w3.provider.make_request("anvil_setBalance", [address, hex(10**18)])  # type: ignore[arg-type]
    yield address
    w3.provider.make_request("anvil_stopImpersonatingAccount", [address])  # type: ignore[arg-type]


@pytest.fixture
def chain_settings(anvil: Anvil, settings: object) -> object:
    """Point the Django settings (and so services and tasks) at the session's anvil."""
    settings.CHAIN_RPC_URL = anvil.url  # type: ignore[attr-defined]
    settings.CHAIN_ID = None  # type: ignore[attr-defined]
    return settings


def _sqlite_readers_take_no_table_locks(sender: object, connection: object, **_: object) -> None:
    """On the tests' shared in-memory SQLite database, a read takes no table lock.

    The in-process worker's threads and the test (or the live server's threads) share one
    in-memory database in shared-cache mode, where a table lock is not waited for: a page polled
    while the worker writes an analysis or a rehearsal failed one side at once with "database
    table is locked". ``read_uncommitted`` lets readers skip the lock (they may see a write in
    progress, which polling tolerates); writers still exclude each other. Only for an in-memory
    test database: files and PostgreSQL are untouched.
    """
    if getattr(connection, "vendor", "") == "sqlite" and connection.is_in_memory_db():  # type: ignore[attr-defined]
        with connection.cursor() as cursor:  # type: ignore[attr-defined]
            cursor.execute("PRAGMA read_uncommitted = 1")


connection_created.connect(_sqlite_readers_take_no_table_locks, dispatch_uid="lifeboat-tests-sqlite-read-uncommitted")


@pytest.fixture(scope="session")
def _celery_worker_session(django_db_blocker: object) -> Iterator[object]:
    from celery.contrib.testing.worker import start_worker

    from config.celery import app

    # Preflight reads settings.CHAIN_RPC_URL, which tests point at their own anvil per test;
    # the start-up check itself is tested with real worker processes in tests/test_startup.py.
    settings.LIFEBOAT_PREFLIGHT_ON_WORKER_START = False
    # Messages left on the broker by an earlier session name rows and nodes of that session (ids
    # this session's database reuses, an anvil that is gone): this session's worker must not run them.
    app.control.purge()
    if connection.vendor == "sqlite":
        # The worker's threads and the test's share one in-memory SQLite database, whose table locks
        # fail at once instead of waiting ("database table is locked" when a test reads a task's result
        # while the worker writes another): results go through the broker's Redis instead.
        broker = str(settings.CELERY_BROKER_URL)
        app.conf.result_backend = broker if broker.startswith(("redis://", "rediss://")) else "rpc://"
        app._backend_cache = None  # the backend already made from the old setting, in any thread
        vars(app._local).pop("backend", None)
    with start_worker(app, pool="threads", concurrency=2, perform_ping_check=False, shutdown_timeout=20) as worker:
        yield worker


@pytest.fixture
def celery_worker(_celery_worker_session: object, transactional_db: None) -> object:
    """A real Celery worker consuming from the configured broker (Redis in CI).

    It runs in threads of this process, so tests using it need ``transactional_db``: the
    worker's database connection must see what the test wrote.
    """
    return _celery_worker_session
