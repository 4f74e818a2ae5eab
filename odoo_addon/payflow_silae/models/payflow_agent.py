"""The one way to the PayFlow agent: JSON-RPC 2.0 over HTTP, params by name.

``rpc_call`` is plain Python (no ORM, no cursor): the tests poll the agent with it while the
agent calls Odoo back. ``payflow.agent._call`` reads the URL and the token from the database's
parameters and turns every failure into a ``UserError`` the user can act on, in their language.
The token is sent in the ``Authorization`` header only: it never appears in a message or a log.
"""

import itertools
import logging

import requests

from odoo import _, api, models
from odoo.exceptions import UserError
from odoo.release import version_info

# The list view is <tree> up to 17, <list> from 18 on.
LIST_VIEW = "list" if version_info[0] >= 18 else "tree"

_logger = logging.getLogger(__name__)

PARAM_URL = "payflow_silae.agent_url"
PARAM_TOKEN = "payflow_silae.agent_token"
# A PEM file of the CA that signed the agent's certificate (an https URL to an agent with the
# firm's own CA); else the system's roots verify it. Never a switch to stop verifying.
PARAM_CA = "payflow_silae.agent_ca_file"
DEFAULT_URL = "http://127.0.0.1:8390"
TIMEOUT = 30
# Methods that reach Silae or Odoo before answering get more time.
SLOW_METHODS = {"silae.dossiers", "odoo.companies", "connections.test", "status"}
SLOW_TIMEOUT = 90

# JSON-RPC error codes of the agent (docs/rpc.md).
NOT_FOUND = -32001
INVALID = -32002
UNAVAILABLE = -32003

_ids = itertools.count(1)


class AgentError(Exception):
    """A failed call: ``kind`` is unreachable, timeout, token, http, rpc or bad_answer."""

    def __init__(self, kind, detail="", code=None):
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.code = code


def rpc_call(url, token, method, params=None, timeout=TIMEOUT, verify=True):
    """Calls ``method`` on the agent at ``url``; returns its result or raises AgentError.

    An https URL's certificate is verified (``verify``: True for the system's roots, or the
    path of a CA file)."""
    payload = {"jsonrpc": "2.0", "id": next(_ids), "method": method, "params": params or {}}
    headers = {"Authorization": f"Bearer {token or ''}", "Content-Type": "application/json"}
    try:
        response = requests.post(
            url.rstrip("/") + "/", json=payload, headers=headers, timeout=timeout, verify=verify
        )
    except requests.exceptions.Timeout as e:
        raise AgentError("timeout") from e
    except (requests.exceptions.ConnectionError, requests.exceptions.InvalidURL) as e:
        raise AgentError("unreachable") from e
    except requests.exceptions.RequestException as e:
        raise AgentError("unreachable", type(e).__name__) from e
    if response.status_code == 401:
        raise AgentError("token")
    if response.status_code != 200:
        raise AgentError("http", str(response.status_code))
    try:
        answer = response.json()
    except ValueError as e:
        raise AgentError("bad_answer") from e
    if not isinstance(answer, dict):
        raise AgentError("bad_answer")
    if answer.get("error"):
        error = answer["error"]
        raise AgentError("rpc", str(error.get("message") or ""), error.get("code"))
    return answer.get("result")


class PayflowAgent(models.AbstractModel):
    _name = "payflow.agent"
    _description = "PayFlow agent (JSON-RPC client)"

    @api.model
    def _settings(self):
        params = self.env["ir.config_parameter"].sudo()
        return (params.get_param(PARAM_URL) or "").strip(), params.get_param(PARAM_TOKEN) or ""

    @api.model
    def _call(self, method, **params):
        """Calls the agent with named params; every failure is a UserError saying what to do."""
        url, token = self._settings()
        if not url or not token:
            raise UserError(
                _(
                    "The PayFlow agent is not configured. A system administrator sets its "
                    "URL and token in Accounting > Configuration > Settings, section "
                    "PayFlow (Silae)."
                )
            )
        return self._call_at(url, token, method, **params)

    @api.model
    def _call_at(self, url, token, method, **params):
        timeout = SLOW_TIMEOUT if method in SLOW_METHODS else TIMEOUT
        ca_file = (self.env["ir.config_parameter"].sudo().get_param(PARAM_CA) or "").strip()
        try:
            return rpc_call(url, token, method, params, timeout=timeout, verify=ca_file or True)
        except AgentError as e:
            _logger.warning(
                "PayFlow agent call %s to %s failed: %s %s", method, url, e.kind, e.detail
            )
            raise UserError(self._message(e, url)) from None

    @api.model
    def _message(self, error, url):
        """The message for a failed call, in the user's language; never the token."""
        if error.kind == "unreachable":
            return _(
                "The PayFlow agent cannot be reached at %(url)s. Ask your system "
                "administrator to start its service on the Odoo server "
                "(systemctl start payflow-agent@<instance>), or to check the agent URL in "
                "Accounting > Configuration > Settings, section PayFlow (Silae).",
                url=url,
            )
        if error.kind == "timeout":
            return _(
                "The PayFlow agent at %(url)s did not answer in time. Try again in a "
                "moment; if it goes on, ask your system administrator to look at the "
                "service's log (journalctl -u payflow-agent@<instance>).",
                url=url,
            )
        if error.kind == "token":
            return _(
                "The PayFlow agent refused the token. The token in Accounting > "
                "Configuration > Settings, section PayFlow (Silae), must be the agent's "
                "rpc_token: set the same value on both sides (on the server: "
                "payflow-agent secret set rpc_token)."
            )
        if error.kind in ("http", "bad_answer"):
            return _(
                "The address %(url)s did not answer as a PayFlow agent (HTTP %(status)s). "
                "Check the agent URL in Accounting > Configuration > Settings, section "
                "PayFlow (Silae).",
                url=url,
                status=error.detail or "?",
            )
        if error.code == NOT_FOUND:
            return _(
                "The PayFlow agent does not know this item: %(detail)s. Refresh the list "
                "and try again.",
                detail=error.detail,
            )
        if error.code == INVALID:
            return _(
                "The PayFlow agent refused these values: %(detail)s. Correct them and save "
                "again.",
                detail=error.detail,
            )
        if error.code == UNAVAILABLE:
            return _(
                "Silae or Odoo is unavailable or refused the PayFlow agent: %(detail)s. "
                "Use Test connections on the dossiers, fix what it reports, and try again.",
                detail=error.detail,
            )
        return _(
            "The PayFlow agent answered with an error: %(detail)s.", detail=error.detail
        )
