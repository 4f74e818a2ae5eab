"""The import log: a read-only mirror of the agent's runs (``runs.list``)."""

import logging
from datetime import datetime, timezone

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from .payflow_agent import LIST_VIEW

_logger = logging.getLogger(__name__)

STATUSES = [
    ("imported", "Imported"),
    ("already_imported", "Already imported"),
    ("previewed", "Previewed"),
    ("no_data", "No payroll"),
    ("waiting", "Waiting for Silae"),
    ("failed", "Failed"),
    ("running", "Running"),
    ("interrupted", "Interrupted"),
]
ERROR_KINDS = [
    ("config", "Configuration"),
    ("silae_auth", "Silae authentication"),
    ("silae_unavailable", "Silae unavailable"),
    ("silae_bad_response", "Silae bad response"),
    ("unbalanced", "Unbalanced"),
    ("missing_accounts", "Missing accounts"),
    ("missing_journal", "Missing journal"),
    ("odoo_auth", "Odoo authentication"),
    ("odoo_unavailable", "Odoo unavailable"),
    ("odoo_rejected", "Refused by Odoo"),
    ("state", "Agent's local state unavailable"),
]
TRIGGERS = [("cli", "Command line"), ("timer", "Daily run"), ("rpc", "Odoo")]
PAGE = 200
MAX_PAGES = 50


def _utc(value):
    """An agent timestamp (RFC 3339 with offset) as Odoo's naive UTC datetime."""
    if not value:
        return False
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return False
    if moment.tzinfo:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment


class PayflowRun(models.Model):
    _name = "payflow.run"
    _description = "PayFlow import run"
    _order = "agent_run_id desc"
    _rec_name = "name"

    agent_run_id = fields.Integer(string="Run", required=True, index=True, readonly=True)
    name = fields.Char(compute="_compute_name", store=True)
    dossier_id = fields.Many2one("payflow.dossier", index=True, ondelete="set null", readonly=True)
    dossier_number = fields.Char(string="Silae dossier", required=True, index=True, readonly=True)
    company_id = fields.Many2one("res.company", index=True, readonly=True)
    period = fields.Char(required=True, index=True, readonly=True)
    trigger = fields.Selection(TRIGGERS, readonly=True)
    triggered_by = fields.Char(readonly=True)
    dry_run = fields.Boolean(readonly=True)
    started_at = fields.Datetime(readonly=True)
    finished_at = fields.Datetime(readonly=True)
    status = fields.Selection(STATUSES, index=True, readonly=True)
    error_kind = fields.Selection(ERROR_KINDS, readonly=True)
    message = fields.Text(readonly=True)
    summary = fields.Char(compute="_compute_summary")
    move_ids = fields.Many2many(
        "account.move",
        "payflow_run_account_move_rel",
        "run_id",
        "move_id",
        string="Journal entries",
        readonly=True,
    )
    move_count = fields.Integer(compute="_compute_move_count")
    currency_id = fields.Many2one(related="company_id.currency_id")
    total_debit = fields.Monetary(readonly=True)
    total_credit = fields.Monetary(readonly=True)
    line_count = fields.Integer(string="Lines", readonly=True)
    alert = fields.Char(string="Alert e-mail", readonly=True)

    if getattr(models, "Constraint", None) is not None:
        _agent_run_uniq = models.Constraint("unique(agent_run_id)", "A run is mirrored once.")
    else:
        _sql_constraints = [
            ("agent_run_uniq", "unique(agent_run_id)", "A run is mirrored once."),
        ]

    @api.depends("dossier_number", "period", "agent_run_id")
    def _compute_name(self):
        for run in self:
            run.name = f"{run.dossier_number} {run.period} #{run.agent_run_id}"

    @api.depends("message")
    def _compute_summary(self):
        for run in self:
            first = (run.message or "").strip().splitlines()[:1]
            summary = first[0] if first else ""
            run.summary = summary if len(summary) <= 160 else summary[:157] + "..."

    @api.depends("move_ids")
    def _compute_move_count(self):
        for run in self:
            run.move_count = len(run.move_ids)

    # -- from the agent ----------------------------------------------------------------

    @api.model
    def _payflow_values(self, data, dossiers):
        dossier = dossiers.get(str(data.get("dossier")))
        moves = self.env["account.move"].sudo().browse(data.get("moves") or []).exists()
        debit = data.get("total_debit_cents")
        credit = data.get("total_credit_cents")
        status = data.get("status")
        kind = data.get("error_kind")
        return {
            "agent_run_id": data["id"],
            "dossier_id": dossier.id if dossier else False,
            "dossier_number": str(data.get("dossier") or ""),
            "company_id": dossier.company_id.id if dossier else (moves[:1].company_id.id or False),
            "period": data.get("period") or "",
            "trigger": data.get("trigger") if data.get("trigger") in dict(TRIGGERS) else False,
            "triggered_by": data.get("triggered_by") or False,
            "dry_run": bool(data.get("dry_run")),
            "started_at": _utc(data.get("started_at")),
            "finished_at": _utc(data.get("finished_at")),
            "status": status if status in dict(STATUSES) else False,
            "error_kind": kind if kind in dict(ERROR_KINDS) else False,
            "message": data.get("message") or "",
            "move_ids": [(6, 0, moves.ids)],
            "total_debit": debit / 100.0 if debit is not None else 0.0,
            "total_credit": credit / 100.0 if credit is not None else 0.0,
            "line_count": data.get("line_count") or 0,
            "alert": data.get("alert") or False,
        }

    @api.model
    def _payflow_store(self, items):
        """Creates or updates the mirror of these agent runs; returns the records."""
        mirror = self.sudo()
        dossiers = {d.silae_number: d for d in self.env["payflow.dossier"].sudo().search([])}
        known = {
            r.agent_run_id: r
            for r in mirror.search([("agent_run_id", "in", [i["id"] for i in items])])
        }
        runs = mirror.browse()
        for item in items:
            values = self._payflow_values(item, dossiers)
            run = known.get(item["id"])
            if run:
                run.write(values)
            else:
                run = mirror.create(values)
            runs |= run
        return runs

    @api.model
    def _payflow_sync(self):
        """Pulls the runs newer than the mirror's (and those not finished), newest first."""
        agent = self.env["payflow.agent"]
        mirror = self.sudo()
        latest = mirror.search([("finished_at", "!=", False)], limit=1).agent_run_id
        unfinished = mirror.search([("finished_at", "=", False)])
        oldest_open = min(unfinished.mapped("agent_run_id") or [latest + 1])
        floor = min(latest, oldest_open - 1)
        before = None
        for _page in range(MAX_PAGES):
            params = {"limit": PAGE}
            if before:
                params["before_id"] = before
            items = agent._call("runs.list", **params) or []
            self._payflow_store(items)
            if len(items) < PAGE or not items or min(i["id"] for i in items) <= floor:
                break
            before = min(i["id"] for i in items)
        return True

    # -- actions -----------------------------------------------------------------------

    @api.model
    def _payflow_set_menu_action_groups(self):
        """Gives the menus' server actions their groups (called from menus.xml).

        A server action without groups runs only for users who may write its model, and the
        log is read-only for everyone: with groups, Odoo checks them instead. The field is
        ``groups_id`` up to Odoo 18 and ``group_ids`` from 19, hence code rather than XML.
        """
        Action = self.env["ir.actions.server"]
        field = "group_ids" if "group_ids" in Action._fields else "groups_id"
        manager = self.env.ref("account.group_account_manager")
        # In Community, managers do not imply the read-only (auditor/accountant) group.
        readers = self.env.ref("account.group_account_readonly") | manager
        self.env.ref("payflow_silae.payflow_run_action_open").write({field: [(6, 0, readers.ids)]})
        self.env.ref("payflow_silae.payflow_dossier_action_open").write(
            {field: [(6, 0, manager.ids)]}
        )

    @api.model
    def action_payflow_open(self):
        """Menu entry: refresh from the agent, then the log (a notice if it cannot)."""
        action = self.env["ir.actions.act_window"]._for_xml_id("payflow_silae.payflow_run_action")
        try:
            with self.env.cr.savepoint():
                self.env["payflow.dossier"]._payflow_sync()
                self._payflow_sync()
        except UserError as e:
            return self.env["payflow.dossier"]._payflow_notice(str(e), action)
        return action

    def action_payflow_refresh(self):
        self._payflow_sync()
        return {"type": "ir.actions.client", "tag": "reload"}

    def action_payflow_open_moves(self):
        self.ensure_one()
        action = {
            "type": "ir.actions.act_window",
            "name": _("Journal entries"),
            "res_model": "account.move",
            "domain": [("id", "in", self.move_ids.ids)],
            "context": {"create": False},
            "view_mode": f"{LIST_VIEW},form",
        }
        if len(self.move_ids) == 1:
            action.update(view_mode="form", res_id=self.move_ids.id)
        return action
