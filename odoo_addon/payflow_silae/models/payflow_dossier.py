"""Dossiers: a mirror of the agent's configuration.

The agent's SQLite database is the truth. Create and write send the whole dossier to
``dossiers.upsert`` and keep what the agent stored; unlink calls ``dossiers.remove``;
``_payflow_sync`` pulls ``dossiers.list``. Writes made by the sync itself carry the context
key ``payflow_from_agent`` and are not sent back.
"""

import json
import logging
import re

from odoo import Command, _, api, fields, models
from odoo.exceptions import UserError, ValidationError

from .payflow_run import STATUSES

_logger = logging.getLogger(__name__)

PERIOD_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
# Odoo 19 declares SQL constraints as class attributes; 17 and 18 use _sql_constraints.
Constraint = getattr(models, "Constraint", None)
_UNIQUE_MESSAGE = "This Silae dossier is already set up."
# What the agent's last ``status`` said of its SMTP: "1", "0", or unset (never asked).
PARAM_SMTP = "payflow_silae.smtp_configured"
# What the agent's last ``status`` said of Silae's client secrets' expiry (JSON, or unset).
PARAM_SECRET_EXPIRY = "payflow_silae.silae_secret_expiry"


def _is_remote(target):
    """Whether a target is another Odoo database than this one ("default" is this one)."""
    return bool(target) and target.strip() != "default"


class PayflowDossier(models.Model):
    _name = "payflow.dossier"
    _inherit = ["mail.thread"]
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
    name = fields.Char(required=True, tracking=True)
    company_id = fields.Many2one(
        "res.company",
        required=True,
        index=True,
        default=lambda self: self.env.company,
        tracking=True,
    )
    journal_id = fields.Many2one(
        "account.journal",
        string="Payroll journal",
        domain="[('company_id', '=', company_id), ('type', '=', 'general')]",
        check_company=True,
        help="The journal of the company the payroll entries are written in.",
        tracking=True,
    )
    journal_code = fields.Char(
        required=True,
        help="The code of the payroll journal, as the agent looks it up in Odoo.",
        tracking=True,
    )
    payments = fields.Boolean(
        string="Salary payments",
        help="Also import the period's salary transfer batches and advances from Silae, into "
        "the payments journal; their net pay (421) lines are reconciled with the payroll's "
        "once all are posted.",
        tracking=True,
    )
    payments_journal_id = fields.Many2one(
        "account.journal",
        string="Payments journal",
        domain="[('company_id', '=', company_id), ('type', 'in', ('bank', 'cash', 'general'))]",
        check_company=True,
        help="The bank (or transfer) journal the salary payments are written in.",
        tracking=True,
    )
    corrections = fields.Selection(
        [("alert", "Alert"), ("adjust", "Adjust")],
        default="alert",
        required=True,
        help="When Silae corrects a payroll already posted in Odoo (the posted entry is never "
        "touched): Alert = the import fails and lists the difference per account; Adjust = a "
        "draft adjustment entry (REGULARISATION SALAIRES ...) holds exactly the difference.",
        tracking=True,
    )
    payments_status = fields.Text(
        string="Net pay reconciliation",
        compute="_compute_payments_status",
        help="Per period with salary payments (latest first): balanced when every net pay "
        "(421) line is reconciled, else the number of lines left open.",
    )
    transfer_day = fields.Integer(
        default=5,
        required=True,
        help="Day of the month the previous month's payroll is imported (29 to 31: the "
        "last day of shorter months).",
        tracking=True,
    )
    alert_emails = fields.Char(
        string="Alert e-mails",
        help="Addresses (separated by commas) that receive an e-mail when an import of "
        "this dossier fails.",
        tracking=True,
    )
    enabled = fields.Boolean(default=True, help="Imported by the daily run.", tracking=True)
    wait_closed = fields.Boolean(
        string="Wait for the closed period",
        default=True,
        help="Import a period only once Silae has closed its payroll.",
        tracking=True,
    )
    # The agent's journal map (Silae journal code -> Odoo journal code, set with the agent's
    # `dossier add --journal-map`), as JSON: not edited here, kept so that a save from Odoo
    # sends it back unchanged.
    journal_map_json = fields.Char(string="Journal map", readonly=True, copy=False)
    large = fields.Boolean(
        string="Large dossier",
        help="Always ask Silae for this dossier's payroll journal asynchronously (for "
        "journals too long to compute within one request; done anyway when Silae does not "
        "answer in time).",
        tracking=True,
    )
    start_period = fields.Char(
        help="The first period to import (YYYY-MM); nothing before it is caught up.",
        tracking=True,
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
    partner_map_ids = fields.One2many(
        "payflow.dossier.mapping",
        "dossier_id",
        string="Partners",
        domain=[("kind", "=", "partner")],
        context={"default_kind": "partner"},
    )
    # All the lines, every kind: what the sync writes.
    mapping_ids = fields.One2many("payflow.dossier.mapping", "dossier_id", string="Mappings")
    smtp_missing = fields.Boolean(
        string="No SMTP in the agent",
        compute="_compute_smtp_missing",
        help="Alert e-mails are set but the agent has no SMTP server to send them.",
    )
    target = fields.Char(
        string="Client database",
        default="default",
        required=True,
        tracking=True,
        help="The Odoo database the agent writes this dossier's entries in: \"default\" is this "
        "database (the agent's [odoo]), another name one of its [odoo.targets.<name>].",
    )
    target_company_id = fields.Integer(
        string="Company in the client database",
        help="The id of the company in the client database (another target than this one).",
    )
    payments_journal_code = fields.Char(
        string="Payments journal code",
        help="The code of the payments journal in the client database (another target).",
    )
    is_remote = fields.Boolean(
        compute="_compute_is_remote",
        help="The entries go to another Odoo database than this one.",
    )
    run_ids = fields.One2many("payflow.run", "dossier_id", string="Imports")
    run_count = fields.Integer(compute="_compute_run_count")
    last_run_status = fields.Selection(STATUSES, string="Last run", compute="_compute_run_count")

    _check_company_auto = True

    if Constraint is not None:
        _silae_number_uniq = Constraint("unique(silae_number)", _UNIQUE_MESSAGE)
    else:
        _sql_constraints = [("silae_number_uniq", "unique(silae_number)", _UNIQUE_MESSAGE)]

    @api.depends("run_ids.status")
    def _compute_run_count(self):
        for dossier in self:
            runs = dossier.run_ids
            dossier.run_count = len(runs)
            dossier.last_run_status = runs[:1].status if runs else False

    @api.depends("alert_emails")
    def _compute_smtp_missing(self):
        missing = self._payflow_smtp_known_missing()
        for dossier in self:
            dossier.smtp_missing = missing and bool((dossier.alert_emails or "").strip())

    @api.model
    def _payflow_smtp_known_missing(self):
        """The agent said, at its last ``status``, that it has no SMTP server."""
        return self.env["ir.config_parameter"].sudo().get_param(PARAM_SMTP) == "0"

    @api.model
    def _payflow_note_status(self, status):
        """Keeps what the agent's ``status`` says of its SMTP and of Silae's client secrets'
        expiry, for the warnings (the forms never call the agent)."""
        params = self.env["ir.config_parameter"].sudo()
        if isinstance(status, dict) and "smtp_configured" in status:
            value = "1" if status["smtp_configured"] else "0"
            if params.get_param(PARAM_SMTP) != value:
                params.set_param(PARAM_SMTP, value)
        silae = status.get("silae") if isinstance(status, dict) else None
        if isinstance(silae, dict) and "secret_expiry" in silae:
            expiry = silae.get("secret_expiry") or {}
            value = json.dumps(expiry, sort_keys=True) if expiry else False
            if (params.get_param(PARAM_SECRET_EXPIRY) or False) != value:
                params.set_param(PARAM_SECRET_EXPIRY, value)
        return status

    @api.model
    def _payflow_refresh_status(self):
        """Asks the agent's ``status`` (for the SMTP warning); quiet when it cannot."""
        try:
            with self.env.cr.savepoint():
                self._payflow_note_status(self.env["payflow.agent"]._call("status"))
        except UserError as e:
            _logger.info("PayFlow: the agent's status is not read: %s", e)

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

    @api.depends("payments", "silae_number", "company_id")
    def _compute_payments_status(self):
        Move = self.env["account.move"].sudo()
        for dossier in self:
            if not dossier.payments or not dossier.silae_number or not dossier.company_id:
                dossier.payments_status = False
                continue
            moves = Move.search(
                [
                    ("company_id", "=", dossier.company_id.id),
                    ("payflow_import_key", "=like", f"silae:{dossier.silae_number}:%"),
                ]
            )
            periods = {}
            for move in moves:
                period = move.payflow_import_key.split(":")[2]
                periods.setdefault(period, Move)
                periods[period] |= move
            rows = []
            for period in sorted(periods, reverse=True)[:12]:
                lines = Move._payflow_net_pay_lines(periods[period])
                still_open = len(lines.filtered(lambda l: not l.reconciled))
                if not lines:
                    continue
                if still_open:
                    status = _("%(count)s open lines", count=still_open)
                else:
                    status = _("balanced")
                rows.append(f"{period} : {status}")
            dossier.payments_status = "\n".join(rows) or False

    @api.depends("target")
    def _compute_is_remote(self):
        for dossier in self:
            dossier.is_remote = _is_remote(dossier.target)

    @api.constrains("payments", "payments_journal_id")
    def _check_payments_journal(self):
        for dossier in self:
            if dossier.payments and not dossier.payments_journal_id and not dossier.is_remote:
                raise ValidationError(
                    _("The salary payments need their journal: choose the payments journal.")
                )

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
        remote = _is_remote(self.target)
        return {
            "silae_number": (self.silae_number or "").strip(),
            "name": self.name,
            "target": (self.target or "default").strip(),
            # Another database's company and journals are not this one's: kept as given.
            "company_id": self.target_company_id if remote else self.company_id.id,
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
            "partner_map": {
                m.source.strip(): m.target.strip()
                for m in self.mapping_ids
                if m.kind == "partner"
            },
            "start_period": self.start_period or None,
            "wait_closed": self.wait_closed,
            "payments": self.payments,
            "payments_journal": (
                self.payments_journal_code if remote else self.payments_journal_id.code
            )
            or None,
            "large": self.large,
            "corrections": self.corrections or "alert",
            "journal_map": self._payflow_journal_map(),
        }

    def _payflow_journal_map(self):
        try:
            value = json.loads(self.journal_map_json or "{}")
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    @api.model
    def _payflow_values(self, data):
        """The field values of an agent dossier.

        A dossier of another target (another Odoo database: an accounting firm's client) keeps
        that database's company id and journal codes as given, under this database's company."""
        remote = _is_remote(data.get("target"))
        company = self.env["res.company"]
        if not remote:
            company = company.sudo().browse(data.get("company_id") or 0).exists()
        journal = self.env["account.journal"]
        if company and data.get("journal_code"):
            journal = journal.sudo().search(
                [("company_id", "=", company.id), ("code", "=", data["journal_code"])], limit=1
            )
        payments_journal = self.env["account.journal"]
        if company and data.get("payments_journal"):
            payments_journal = payments_journal.sudo().search(
                [("company_id", "=", company.id), ("code", "=", data["payments_journal"])], limit=1
            )
        mappings = [Command.clear()]
        accounts = self._payflow_accounts_by_code(company, (data.get("account_map") or {}).values())
        for kind, key in (
            ("account", "account_map"),
            ("analytic", "analytic"),
            ("partner", "partner_map"),
        ):
            for source, target in sorted((data.get(key) or {}).items()):
                values = {"kind": kind, "source": source, "target": target}
                if kind == "account":
                    values["account_id"] = accounts.get(target, False)
                mappings.append(Command.create(values))
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
            "large": bool(data.get("large", False)),
            "corrections": data.get("corrections") if data.get("corrections") in ("alert", "adjust") else "alert",
            "journal_map_json": json.dumps(data.get("journal_map") or {}, sort_keys=True),
            "start_period": data.get("start_period") or False,
            "mapping_ids": mappings,
            "payments": bool(data.get("payments")),
            "payments_journal_id": payments_journal.id or False,
            "target": data.get("target") or "default",
            "target_company_id": (data.get("company_id") or 0) if remote else 0,
            "payments_journal_code": data.get("payments_journal") or False,
        }

    @api.model
    def _payflow_accounts_by_code(self, company, codes):
        """{code: account id} of the company's accounts among ``codes``."""
        codes = [c for c in set(codes) if c]
        if not company or not codes:
            return {}
        Account = self.env["account.account"].sudo().with_company(company)
        domain = self.env["payflow.missing.accounts"]._payflow_company_domain(company)
        return {a.code: a.id for a in Account.search(domain + [("code", "in", codes)])}

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
        if any(d.alert_emails for d in own):
            self._payflow_refresh_status()

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
        self._payflow_refresh_status()
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
                # The choices of a new dossier's Silae picker, read here rather than when the
                # form opens (no HTTP call in default_get).
                self.env["payflow.silae.dossier"]._payflow_sync()
        except UserError as e:
            return self._payflow_notice(str(e), action)
        return self._payflow_group_by_target(action)

    @api.model
    def _payflow_group_by_target(self, action):
        """Lists grouped by client database by default when the agent serves several."""
        mirror = self.sudo().with_context(active_test=False)
        targets = {g["target"] for g in mirror.search_read([], ["target"])}
        if len(targets) > 1:
            action["context"] = {"search_default_group_target": 1}
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
        """Tests Silae and Odoo (and SMTP when configured) from the agent's side, then what
        each dossier needs in Odoo: its journal and the accounts of its account map and of its
        last failed run. Rendered here from the agent's facts, in the user's language."""
        agent = self.env["payflow.agent"]
        lines, ok = [], True
        try:
            status = self._payflow_note_status(agent._call("status") or {})
            targets = ["silae", "odoo"] + (["smtp"] if status.get("smtp_configured") else [])
            for target in targets:
                result = agent._call("connections.test", target=target) or {}
                ok = ok and bool(result.get("ok"))
                lines.append(self._payflow_connection_text(target, result))
        except UserError as e:
            # Shown like a success: a notification, not an error dialog.
            return self._payflow_notice(str(e), kind="danger", title=_("PayFlow connections"))
        if not status.get("smtp_configured") and any(d.alert_emails for d in self):
            lines.append(_("E-mail (SMTP): not configured in the agent, the alert e-mails are not sent."))
        for dossier in self:
            problems = dossier._payflow_odoo_problems()
            ok = ok and not problems
            lines.append(
                _("Dossier %(name)s: %(state)s", name=dossier.display_name, state=_("ready"))
                if not problems
                else _(
                    "Dossier %(name)s: %(problems)s",
                    name=dossier.display_name,
                    problems="; ".join(problems),
                )
            )
        return self._payflow_notice(
            "\n".join(lines),
            kind="success" if ok else "danger",
            title=_("PayFlow connections"),
        )

    @api.model
    def _payflow_connection_text(self, target, result):
        facts = result.get("facts") or {}
        label = {"silae": _("Silae"), "odoo": _("Odoo"), "smtp": _("E-mail (SMTP)")}[target]
        if result.get("ok"):
            if target == "silae" and "dossiers" in facts:
                detail = _("%(count)s dossier(s) readable", count=facts["dossiers"])
            elif target == "odoo" and "series" in facts:
                detail = _(
                    "Odoo %(series)s, PayFlow module installed", series=facts["series"]
                )
            else:
                detail = _("reachable")
            return _("%(target)s: OK — %(detail)s", target=label, detail=detail)
        if target == "odoo" and facts.get("addon_installed") is False:
            detail = _("the PayFlow module is not installed in the database the agent uses")
        else:
            # The agent's own words, for the administrator.
            detail = _("detail for the administrator: %(detail)s", detail=result.get("message") or "?")
        return _("%(target)s: failed — %(detail)s", target=label, detail=detail)

    def _payflow_odoo_problems(self):
        """What this dossier lacks in Odoo, read here (no agent call): its journal, the
        accounts its account map names, the accounts its last failed run lacked."""
        self.ensure_one()
        problems = []
        code = self.journal_code or self.journal_id.code
        journal = self.env["account.journal"].sudo().search(
            [("company_id", "=", self.company_id.id), ("code", "=", code)], limit=1
        ) if code else False
        if not journal:
            problems.append(
                _("no journal %(code)s in %(company)s", code=code or "?", company=self.company_id.name)
            )
        targets = {m.target for m in self.account_map_ids if m.target}
        known = self._payflow_accounts_by_code(self.company_id, targets)
        unknown = sorted(targets - set(known))
        if unknown:
            problems.append(
                _(
                    "account map to accounts that do not exist: %(codes)s",
                    codes=", ".join(unknown),
                )
            )
        last = self.run_ids.sorted("agent_run_id", reverse=True)[:1]
        if last and last.action_code == "create_or_map_accounts":
            missing = self._payflow_still_missing(last)
            if missing:
                problems.append(
                    _(
                        "Silae accounts without an Odoo account at the last run: %(codes)s",
                        codes=", ".join(missing),
                    )
                )
        return problems

    def _payflow_still_missing(self, run):
        """The Silae accounts the run lacked that neither the map nor the chart has now."""
        try:
            facts = json.loads(run.outcome or "{}").get("facts") or {}
        except ValueError:
            return []
        mapped = {m.source for m in self.account_map_ids}
        missing = []
        for item in facts.get("accounts") or []:
            tried = item.get("tried") or [item.get("code")]
            if item.get("code") in mapped:
                continue
            if not self._payflow_accounts_by_code(self.company_id, tried):
                missing.append(item.get("code") or "?")
        return missing

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
        [("account", "Account"), ("analytic", "Analytic"), ("partner", "Partner")],
        required=True,
        default="account",
    )
    source = fields.Char(
        string="Silae",
        required=True,
        help="Account map and partners: the Silae account code (e.g. 43730000). Analytic "
        "setting: the Silae repartition index (1, 2…).",
    )
    target = fields.Char(
        string="Odoo",
        required=True,
        help="Account map: the Odoo account code (e.g. 437000). Analytic setting: the "
        "analytic account's code or name. Partners: the partner's internal reference, else "
        "its VAT number, else its exact name.",
    )
    # The account map's picker: what the agent stores is its code (``target``).
    account_id = fields.Many2one(
        "account.account",
        string="Odoo account",
        ondelete="set null",
        domain=lambda self: self._payflow_account_domain(),
        help="The company's account the Silae account goes to; the agent receives its code.",
    )

    # The partners' picker: what the agent stores is the partner's reference, else its VAT
    # number, else its name (``target``), matched by the import in that order.
    partner_id = fields.Many2one(
        "res.partner",
        string="Odoo partner",
        ondelete="set null",
        help="The partner put on the lines of this Silae account (the URSSAF, a retirement "
        "fund, the tax office); the agent receives its internal reference, else its VAT "
        "number, else its name.",
    )

    @api.onchange("partner_id")
    def _onchange_partner_id(self):
        if self.partner_id:
            self.target = self.partner_id.ref or self.partner_id.vat or self.partner_id.name

    @api.model
    def _payflow_account_domain(self):
        """The accounts of the row's company (``company_id`` up to 17, ``company_ids`` from 18)."""
        if "company_ids" in self.env["account.account"]._fields:
            return "[('company_ids', 'in', company_id)]"
        return "[('company_id', '=', company_id)]"

    @api.onchange("account_id")
    def _onchange_account_id(self):
        if self.account_id:
            self.target = self.account_id.code

    @api.model
    def _payflow_with_target(self, vals, company):
        """The picked account's code (in the dossier's company: codes are per company from
        18) is what the agent stores."""
        if vals.get("account_id"):
            account = self.env["account.account"].browse(vals["account_id"])
            vals = dict(vals, target=account.with_company(company or self.env.company).code)
        return vals

    @api.model_create_multi
    def create(self, vals_list):
        Dossier = self.env["payflow.dossier"]
        mappings = super().create(
            [
                self._payflow_with_target(v, Dossier.browse(v.get("dossier_id")).company_id)
                for v in vals_list
            ]
        )
        for mapping in mappings:
            mapping._payflow_log(_("%(map)s: %(source)s → %(target)s added."))
        return mappings

    def write(self, vals):
        before = {m.id: m.target for m in self}
        if not vals.get("account_id"):
            res = super().write(vals)
        else:
            for mapping in self:
                super(PayflowDossierMapping, mapping).write(
                    self._payflow_with_target(vals, mapping.company_id)
                )
            res = True
        for mapping in self:
            if before[mapping.id] != mapping.target:
                mapping._payflow_log(
                    _("%(map)s: %(source)s → %(target)s (was %(old)s)."), old=before[mapping.id]
                )
        return res

    def unlink(self):
        for mapping in self:
            mapping._payflow_log(_("%(map)s: %(source)s → %(target)s removed."))
        return super().unlink()

    def _payflow_log(self, text, **more):
        """Who changed the account map or the analytic setting: a note in the dossier's
        chatter (not for what the sync with the agent rewrites)."""
        if self.env.context.get("payflow_from_agent") or not self.dossier_id:
            return
        name = {
            "account": _("Account map"),
            "analytic": _("Analytic setting"),
            "partner": _("Partners"),
        }.get(self.kind)
        self.dossier_id.message_post(
            body=text % dict(map=name, source=self.source, target=self.target, **more),
            subtype_xmlid="mail.mt_note",
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
