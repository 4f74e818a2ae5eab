"""Helpers shared by the tests: a fake agent for the ORM tests, the real one for the live test."""

import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request

from odoo.addons.payflow_silae.models.payflow_agent import PARAM_TOKEN, PARAM_URL

ADDON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _repo_dir():
    """The PayFlow checkout the addon sits in: odoo_addon/payflow_silae, or a build of it
    (target/packages/odoo/<series>/payflow_silae); PAYFLOW_REPO_DIR says it otherwise."""
    if os.environ.get("PAYFLOW_REPO_DIR"):
        return os.environ["PAYFLOW_REPO_DIR"]
    here = ADDON_DIR
    while os.path.dirname(here) != here:
        here = os.path.dirname(here)
        if os.path.isdir(os.path.join(here, "agent", "sim", "samples")):
            return here
    return os.path.dirname(os.path.dirname(ADDON_DIR))


REPO_DIR = _repo_dir()
SAMPLE_ACCOUNTS = (
    "421000", "431000", "437000", "442100", "641100", "641400",
    "645100", "645300", "645400", "645800", "647500",
)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def closed_port():
    """A loopback port nobody listens on (bound then released)."""
    return free_port()


def wait_port(port, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.1)
    return False


class FakeAgent:
    """Stands for ``payflow.agent._call`` in the ORM tests: an in-memory agent."""

    def __init__(self):
        self.dossiers = {}
        self.runs = []
        self.calls = []

    def __call__(self, method, **params):
        self.calls.append((method, params))
        if method == "dossiers.upsert":
            dossier = dict(params["dossier"])
            self.dossiers[dossier["silae_number"]] = dossier
            return dossier
        if method == "dossiers.remove":
            self.dossiers.pop(params["silae_number"], None)
            return {"removed": params["silae_number"]}
        if method == "dossiers.list":
            return list(self.dossiers.values())
        if method == "runs.list":
            before = params.get("before_id")
            runs = [r for r in self.runs if before is None or r["id"] < before]
            return sorted(runs, key=lambda r: -r["id"])[: params.get("limit", 100)]
        if method == "silae.dossiers":
            return [{"number": "100200", "company_name": "Dossier 100200", "siret": "1", "state": 1}]
        if method == "status":
            return {"instance": "fake", "version": "0", "odoo": {}, "silae": {}}
        raise AssertionError(f"unexpected agent call {method}")


class LiveAgent:
    """The real ``payflow-sim silae`` and ``payflow-agent serve`` on loopback.

    ``start`` returns None when it runs, else the reason it cannot (binaries or samples
    missing), for ``skipTest``."""

    def __init__(self):
        self.procs = []
        self.workdir = None
        self.url = None
        self.token = secrets.token_urlsafe(24)

    @staticmethod
    def binaries():
        agent = os.environ.get("PAYFLOW_AGENT_BIN") or os.path.join(
            REPO_DIR, "target", "debug", "payflow-agent"
        )
        sim = os.environ.get("PAYFLOW_SIM_BIN") or os.path.join(
            REPO_DIR, "target", "debug", "payflow-sim"
        )
        samples = os.environ.get("PAYFLOW_SAMPLES") or os.path.join(
            REPO_DIR, "agent", "sim", "samples"
        )
        return agent, sim, samples

    def start(self, odoo_url, database, odoo_secret="admin"):
        agent, sim, samples = self.binaries()
        for path in (agent, sim):
            if not os.access(path, os.X_OK):
                return f"no {path} (cargo build --workspace --bins, or set PAYFLOW_AGENT_BIN / PAYFLOW_SIM_BIN)"
        if not os.path.isdir(samples):
            return f"no Silae samples at {samples} (set PAYFLOW_SAMPLES)"
        self.workdir = tempfile.mkdtemp(prefix="payflow-addon-test-")
        silae_port, rpc_port = free_port(), free_port()
        log = open(os.path.join(self.workdir, "sim.log"), "wb")  # noqa: SIM115
        self.procs.append(
            subprocess.Popen(  # noqa: S603
                [sim, "silae", "--samples", samples, "--listen", f"127.0.0.1:{silae_port}"],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        config = os.path.join(self.workdir, "agent.toml")
        with open(config, "w", encoding="utf-8") as f:
            f.write(
                f'instance = "addontest"\n'
                f'data_dir = "state"\n'
                f"[rpc]\n"
                f'listen = "127.0.0.1:{rpc_port}"\n'
                f"[silae]\n"
                f'api_url = "http://127.0.0.1:{silae_port}/payroll"\n'
                f'token_url = "http://127.0.0.1:{silae_port}/oauth2/v2.0/token"\n'
                f"[odoo]\n"
                f'url = "{odoo_url}"\n'
                f'database = "{database}"\n'
                f'login = "admin"\n'
            )
        env = dict(
            os.environ,
            PAYFLOW_SILAE_CLIENT_ID="demo-client-id",
            PAYFLOW_SILAE_CLIENT_SECRET="demo-client-secret",
            PAYFLOW_SILAE_SUBSCRIPTION_KEY="demo-subscription-key",
            PAYFLOW_ODOO_SECRET=odoo_secret,
            PAYFLOW_RPC_TOKEN=self.token,
        )
        log = open(os.path.join(self.workdir, "agent.log"), "wb")  # noqa: SIM115
        self.procs.append(
            subprocess.Popen(  # noqa: S603
                [agent, "--config", config, "serve"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        )
        if not (wait_port(silae_port) and wait_port(rpc_port)):
            self.stop()
            return "the agent or the Silae simulator did not start"
        self.url = f"http://127.0.0.1:{rpc_port}"
        self.silae_url = f"http://127.0.0.1:{silae_port}"
        return None

    def publish_late_batches(self, dossier, period):
        """Silae publishes the transfer batches its sample marks late (the simulator's control)."""
        body = json.dumps({"publish_late": {"dossier": dossier, "period": period}}).encode()
        request = urllib.request.Request(  # noqa: S310
            f"{self.silae_url}/_sim/faults", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            return answer.status

    def configure(self, env):
        params = env["ir.config_parameter"].sudo()
        params.set_param(PARAM_URL, self.url)
        params.set_param(PARAM_TOKEN, self.token)

    def stop(self):
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.procs = []
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def payroll_setup(env, company):
    """The payroll journal SAL and the accounts the Silae samples need, in ``company``."""
    journal = env["account.journal"].search(
        [("company_id", "=", company.id), ("code", "=", "SAL")], limit=1
    ) or env["account.journal"].create(
        {"name": "Salaires", "code": "SAL", "type": "general", "company_id": company.id}
    )
    Account = env["account.account"].with_company(company)
    for code in SAMPLE_ACCOUNTS:
        if not Account.search([("code", "=", code)], limit=1):
            Account.create(
                {
                    "code": code,
                    "name": f"PayFlow test {code}",
                    "account_type": "expense" if code.startswith("6") else "liability_current",
                }
            )
    return journal
