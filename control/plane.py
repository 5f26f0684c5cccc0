"""The control plane of one process: its database, keys, clients, services and background loops."""

from contextlib import suppress

import httpx
from loguru import logger

from control.auth import KeyRing
from control.callbacks import Dispatcher
from control.clients.airflow import AirflowClients
from control.clients.gateway import GatewayClient
from control.clients.mlflow import MlflowClient
from control.deployments import DeploymentService
from control.errors import ControlError
from control.follower import JobFollower
from control.jobs import JobService
from control.leader import Leadership, Loop
from control.settings import ControlSettings
from control.store import Database, LeaseLost
from control.store import jobs as job_rows

DELIVERY_INTERVAL_SECONDS = 0.5
EVENT_POLL_SECONDS = 0.5


class ControlPlane:
    """Everything a replica runs; `start(background=False)` leaves the loops to the caller (tests)."""

    def __init__(
        self,
        settings: ControlSettings,
        airflow_transport: httpx.BaseTransport | None = None,
        callback_transport: httpx.BaseTransport | None = None,
        gateway_transport: httpx.BaseTransport | None = None,
        mlflow_transport: httpx.BaseTransport | None = None,
    ) -> None:
        """The transports replace the network (tests: an in-process Airflow, a recording receiver,
        in-process gateway replicas)."""
        self.settings = settings
        self.db = Database(settings.database_url)
        self.keys = KeyRing(settings.api_keys.get_secret_value(), settings.read_api_keys.get_secret_value())
        self.airflow = AirflowClients(settings, transport=airflow_transport)
        self.jobs = JobService(settings, self.db)
        self.gateway = GatewayClient(settings, transport=gateway_transport)
        self.mlflow = MlflowClient(settings, transport=mlflow_transport)
        self.deployments = DeploymentService(settings, self.db, self.gateway, self.mlflow)
        self.follower = JobFollower(settings, self.db, self.airflow)
        self.dispatcher = Dispatcher(settings, self.db, callback_transport)
        self.leadership = Leadership(self.db, settings.replica_id, settings.lease_ttl_seconds)
        self.event_poll_seconds = EVENT_POLL_SECONDS
        self.loops: list[Loop] = []

    def start(self, background: bool = True) -> None:
        self.db.create()
        if not background:
            return
        self.loops = [
            Loop("control-lease", self.settings.lease_ttl_seconds / 3, self.leadership.tick),
            Loop("control-follower", self.settings.poll_interval_seconds, self.follow_step),
            Loop("control-callbacks", DELIVERY_INTERVAL_SECONDS, self.deliver_step),
            Loop("control-deployments", self.settings.poll_interval_seconds, self.deploy_step),
        ]
        for loop in self.loops:
            loop.start()

    def stop(self) -> None:
        for loop in self.loops:
            loop.stop()
        for loop in self.loops:
            loop.join(timeout=30)
        with suppress(Exception):
            self.leadership.release()
        self.dispatcher.close()
        self.airflow.close()
        self.gateway.close()
        self.mlflow.close()
        self.db.close()

    def follow_step(self) -> int:
        fence = self.leadership.fence
        if fence is None:
            return 0
        try:
            return self.follower.follow_all(fence)
        except LeaseLost as error:
            logger.warning("stopped following: {}", error)
            self.leadership.lost()
            return 0

    def deliver_step(self) -> int:
        fence = self.leadership.fence
        if fence is None:
            return 0
        try:
            return self.dispatcher.deliver_due(fence)
        except LeaseLost as error:
            logger.warning("stopped sending callbacks: {}", error)
            self.leadership.lost()
            return 0

    def deploy_step(self) -> int:
        """The lease holder checks applying deployments against the gateway fleet."""
        fence = self.leadership.fence
        if fence is None:
            return 0
        try:
            return self.deployments.follow_all(fence)
        except LeaseLost as error:
            logger.warning("stopped following deployments: {}", error)
            self.leadership.lost()
            return 0
        except ControlError as error:  # the gateway is down: the next round asks again
            logger.info("deployments not checked: {}", error.message)
            return 0

    def trigger_now(self, job_id: str) -> None:
        """Start a new job's run right away (the follower would, one poll later); errors wait for it."""
        with self.db.read() as conn:
            row = job_rows.get(conn, job_id)
        if row is None or row["triggered_at"] is not None:
            return
        try:
            self.follower.trigger(row)
        except Exception as error:  # the follower retries or fails the job under the lease
            logger.info("job {}: trigger deferred to the follower: {}", job_id, error)
