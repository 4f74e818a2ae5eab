"""Dossiers: a mirror of the agent's configuration.

The agent's SQLite database is the truth. Create and write send the whole dossier to
``dossiers.upsert`` and keep what the agent stored; unlink calls ``dossiers.remove``;
``_payflow_sync`` pulls ``dossiers.list``. Writes made by the sync itself carry the context
key ``payflow_from_agent`` and are not sent back.
"""

import logging
import re

from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError

from .payflow_run import STATUSES

_logger = logging.getLogger(__name__)

PERIOD_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
# Odoo 19 declares SQL constraints as class attributes; 17 and 18 use _sql_constraints.
Constraint = getattr(models, "Constraint", None)
_UNIQUE_MESSAGE = "This Silae dossier is already set up."


class PayflowDossier(models.Model):
    _name = "payflow.dossier"
    _description = "PayFlow Silae dossier"
    _order = "silae_number"
    _rec_name = "name"

    silae_number = fields.Char(
        required=True,
        index=True,
        help="The dossier's number in Silae, e.g. 100200.",
    )
    silae_dossier_id = fields.Many2one(
        "payflow.silae.dossier",
        string="Pick from Silae",
        store=False,
        help="The dossiers the agent's Silae credentials can read.",
    )
    name = fields.Char(required=True)
    company_id = fields.Many2one(
        "res.company",
        required=True,
        index=True,
        default=lambda self: self.env.company,
    )
    journal_id = fields.Many2one(
        "account.journal",
        string="Payroll journal",
        domain="[('company_id', '=', company_id), ('type', '=', 'general')]",
        check_company=True,
        help="The journal of the company the payroll entries are written in.",
    )
    journal_code = fields.Char(
        required=True,
        help="The code of the payroll journal, as the agent looks it up in Odoo.",
    )
    transfer_day = fields.Integer(
        default=5,
        required=True,
        help="Day of the month the previous month's payroll is imported (29 to 31: the "
        "last day of shorter months).",
    )
    alert_emails = fields.Char(
        string="Alert e-mails",
        help="Addresses (separated by commas) that receive an e-mail when an import of "
        "this dossier fails.",
    )
    enabled = fields.Boolean(default=True, help="Imported by the daily run.")
    wait_closed = fields.Boolean(
        string="Wait for the closed period",
        default=True,
        help="Import a period only once Silae has closed its payroll.",
    )
    start_period = fields.Char(
        help="The first period to import (YYYY-MM); nothing before it is caught up.",
    )
    account_map_ids = fields.One2many(
        "payflow.dossier.mapping",
        "dossier_id",
        string="Account map",
        domain=[("kind", "=", "account")],
        context={"default_kind": "account"},
    )
    analytic_map_ids = fields.One2many(
        "payflow.dossier.mapping",
        "dossier_id",
        string="Analytic setting",
        domain=[("kind", "=", "analytic")],
        context={"default_kind": "analytic"},
    )
    # All the lines, both kinds: what the sync writes.
    mapping_ids = fields.One2many("payflow.dossier.mapping", "dossier_id", string="Mappings")
    run_ids = fields.One2many("payflow.run", "dossier_id", string="Runs")
    run_count = fields.Integer(compute="_compute_run_count")
    last_run_status = fields.Selection(STATUSES, string="Last run", compute="_compute_run_count")

    _check_company_auto = True

    if Constraint is not None:
        _silae_number_uniq = Constraint("unique(silae_number)", _UNIQUE_MESSAGE)
    else:
        _sql_constraints = [("silae_number_uniq", "unique(silae_number)", _UNIQUE_MESSAGE)]

    @api.model
    def default_get(self, fields_list):
        """Opening a new dossier from the menu refreshes the Silae picker's choices."""
        values = super().default_get(fields_list)
        if self.env.context.get("payflow_silae_picker"):
            try:
                with self.env.cr.savepoint():
                    self.env["payflow.silae.dossier"]._payflow_sync()
            except UserError as e:
                _logger.info("PayFlow: the Silae picker is not refreshed: %s", e)
        return values

    @api.depends("run_ids.status")
    def _compute_run_count(self):
        for dossier in self:
            runs = dossier.run_ids
            dossier.run_count = len(runs)
            dossier.last_run_status = runs[:1].status if runs else False

    @api.onchange("silae_dossier_id")
    def _onchange_silae_dossier_id(self):
        if self.silae_dossier_id:
            self.silae_number = self.silae_dossier_id.number
            if not self.name:
                self.name = self.silae_dossier_id.company_name

    @api.onchange("journal_id")
    def _onchange_journal_id(self):
        if self.journal_id:
            self.journal_code = self.journal_id.code

    @api.onchange("company_id")
    def _onchange_company_id(self):
        if self.journal_id and self.journal_id.company_id != self.company_id:
            self.journal_id = False

    @api.constrains("transfer_day")
    def _check_transfer_day(self):
        for dossier in self:
            if not 1 <= dossier.transfer_day <= 31:
                raise ValidationError(_("The transfer day is a day of the month, from 1 to 31."))

    @api.constrains("start_period")
    def _check_start_period(self):
        for dossier in self:
            if dossier.start_period and not PERIOD_RE.match(dossier.start_period):
                raise ValidationError(
                    _("The start period is a month written YYYY-MM, e.g. 2026-01.")
                )

    # -- to and from the agent ---------------------------------------------------------

    def _payflow_payload(self):
        self.ensure_one()
        emails = [e.strip() for e in (self.alert_emails or "").replace(";", ",").split(",")]
        return {
            "silae_number": (self.silae_number or "").strip(),
            "name": self.name,
            "company_id": self.company_id.id,
            "journal_code": self.journal_code or self.journal_id.code or "",
            "transfer_day": self.transfer_day,
            "alert_emails": [e for e in emails if e],
            "enabled": self.enabled,
            "account_map": {
                m.source.strip(): m.target.strip()
                for m in self.mapping_ids
                if m.kind == "account"
            },
            "analytic": {
                m.source.strip(): m.target.strip()
                for m in self.mapping_ids
                if m.kind == "analytic"
            },
            "start_period": self.start_period or None,
            "wait_closed": self.wait_closed,
        }

    @api.model
    def _payflow_values(self, data):
        """The field values of an agent dossier."""
        company = self.env["res.company"].sudo().browse(data.get("company_id") or 0).exists()
        journal = self.env["account.journal"]
        if company and data.get("journal_code"):
            journal = journal.sudo().search(
                [("company_id", "=", company.id), ("code", "=", data["journal_code"])], limit=1
            )
        mappings = [(5, 0, 0)]
        for kind, key in (("account", "account_map"), ("analytic", "analytic")):
            for source, target in sorted((data.get(key) or {}).items()):
                mappings.append((0, 0, {"kind": kind, "source": source, "target": target}))
        return {
            "silae_number": data["silae_number"],
            "name": data.get("name") or data["silae_number"],
            "company_id": company.id or self.env.company.id,
            "journal_id": journal.id or False,
            "journal_code": data.get("journal_code") or "",
            "transfer_day": data.get("transfer_day") or 1,
            "alert_emails": ", ".join(data.get("alert_emails") or []),
            "enabled": bool(data.get("enabled", True)),
            "wait_closed": bool(data.get("wait_closed", True)),
            "start_period": data.get("start_period") or False,
            "mapping_ids": mappings,
        }

    def _payflow_push(self):
        agent = self.env["payflow.agent"]
        own = self.with_context(payflow_from_agent=True)
        for dossier in own:
            stored = agent._call("dossiers.upsert", dossier=dossier._payflow_payload())
            values = self._payflow_values(stored or {})
            values.pop("silae_number")
            if dossier.journal_id and dossier.journal_id.code == values["journal_code"]:
                values.pop("journal_id")
            dossier.write(values)

    @api.model_create_multi
    def create(self, vals_list):
        dossiers = super().create(vals_list)
        if not self.env.context.get("payflow_from_agent"):
            dossiers._payflow_push()
        return dossiers

    def write(self, vals):
        if "silae_number" in vals and not self.env.context.get("payflow_from_agent"):
            for dossier in self:
                if dossier.silae_number != vals["silae_number"]:
                    raise UserError(
                        _(
                            "The Silae number of a dossier cannot change: create a new "
                            "dossier and delete this one."
                        )
                    )
        res = super().write(vals)
        if not self.env.context.get("payflow_from_agent"):
            self._payflow_push()
        return res

    def unlink(self):
        if not self.env.context.get("payflow_from_agent"):
            agent = self.env["payflow.agent"]
            for dossier in self:
                agent._call("dossiers.remove", silae_number=dossier.silae_number)
        return super().unlink()

    @api.model
    def _payflow_sync(self):
        """Makes the mirror equal to the agent's dossiers (all companies)."""
        data = self.env["payflow.agent"]._call("dossiers.list") or []
        mirror = self.sudo().with_context(payflow_from_agent=True, active_test=False)
        existing = {d.silae_number: d for d in mirror.search([])}
        for item in data:
            values = self._payflow_values(item)
            dossier = existing.pop(item["silae_number"], None)
            if dossier:
                dossier.write(values)
            else:
                mirror.create(values)
        for gone in existing.values():
            gone.unlink()
        return True

    # -- actions -----------------------------------------------------------------------

    @api.model
    def action_payflow_open(self):
        """Menu entry: refresh from the agent, then the list (a notice if it cannot)."""
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "payflow_silae.payflow_dossier_action"
        )
        try:
            with self.env.cr.savepoint():
                self._payflow_sync()
        except UserError as e:
            return self._payflow_notice(str(e), action)
        return action

    @api.model
    def _payflow_notice(self, message, next_action=None, kind="warning", title=None):
        params = {
            "type": kind,
            "title": title or _("PayFlow agent"),
            "message": message,
            "sticky": kind != "success",
        }
        if next_action:
            params["next"] = next_action
        return {"type": "ir.actions.client", "tag": "display_notification", "params": params}

    def action_payflow_refresh(self):
        self._payflow_sync()
        return {"type": "ir.actions.client", "tag": "reload"}

    def action_payflow_silae_refresh(self):
        """Reloads the Silae picker's list from the agent."""
        self.env["payflow.silae.dossier"]._payflow_sync()
        return True

    def action_payflow_test_connections(self):
        """Tests Silae and Odoo (and SMTP when configured) from the agent's side."""
        agent = self.env["payflow.agent"]
        status = agent._call("status") or {}
        targets = ["silae", "odoo"] + (["smtp"] if status.get("smtp_configured") else [])
        lines, ok = [], True
        labels = {"silae": _("Silae"), "odoo": _("Odoo"), "smtp": _("E-mail (SMTP)")}
        for target in targets:
            result = agent._call("connections.test", target=target) or {}
            ok = ok and bool(result.get("ok"))
            lines.append(
                _(
                    "%(target)s: %(state)s — %(message)s",
                    target=labels[target],
                    state=_("OK") if result.get("ok") else _("failed"),
                    message=result.get("message") or "",
                )
            )
        return self._payflow_notice(
            "\n".join(lines),
            kind="success" if ok else "danger",
            title=_("PayFlow connections"),
        )

    def action_payflow_open_runs(self):
        action = self.env["ir.actions.act_window"]._for_xml_id("payflow_silae.payflow_run_action")
        action["domain"] = [("dossier_id", "in", self.ids)]
        action["context"] = {}
        return action

    def action_payflow_import(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "payflow_silae.payflow_import_wizard_action"
        )
        action["context"] = {"default_dossier_id": self.id}
        return action


class PayflowDossierMapping(models.Model):
    _name = "payflow.dossier.mapping"
    _description = "PayFlow dossier mapping"
    _order = "kind, source"

    dossier_id = fields.Many2one("payflow.dossier", required=True, ondelete="cascade")
    company_id = fields.Many2one(related="dossier_id.company_id", store=True)
    kind = fields.Selection(
        [("account", "Account"), ("analytic", "Analytic")],
        required=True,
        default="account",
    )
    source = fields.Char(
        string="Silae",
        required=True,
        help="Account map: the Silae account code (e.g. 43730000). Analytic setting: the "
        "Silae repartition index (1, 2…).",
    )
    target = fields.Char(
        string="Odoo",
        required=True,
        help="Account map: the Odoo account code (e.g. 437000). Analytic setting: the "
        "analytic account's code or name.",
    )


class PayflowSilaeDossier(models.Model):
    """The dossiers the agent's Silae credentials can read: the picker's choices."""

    _name = "payflow.silae.dossier"
    _description = "Dossier readable in Silae"
    _order = "number"
    _rec_name = "display"

    number = fields.Char(required=True, index=True)
    company_name = fields.Char()
    siret = fields.Char(string="SIRET")
    state = fields.Integer(string="Silae state")
    display = fields.Char(compute="_compute_display", store=True)

    @api.depends("number", "company_name")
    def _compute_display(self):
        for item in self:
            item.display = f"{item.number} — {item.company_name or ''}".strip(" —")

    @api.model
    def _payflow_sync(self):
        data = self.env["payflow.agent"]._call("silae.dossiers") or []
        known = {d.number: d for d in self.sudo().search([])}
        for item in data:
            values = {
                "number": str(item.get("number") or ""),
                "company_name": item.get("company_name") or "",
                "siret": item.get("siret") or "",
                "state": item.get("state") or 0,
            }
            if not values["number"]:
                continue
            record = known.pop(values["number"], None)
            if record:
                record.write(values)
            else:
                self.sudo().create(values)
        for gone in known.values():
            gone.unlink()
        return True
