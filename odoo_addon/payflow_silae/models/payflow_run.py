"""The import log: a read-only mirror of the agent's runs (``runs.list``)."""

import json
import logging
from datetime import datetime, timezone

from odoo import Command, _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools.misc import format_amount

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
    ("changed_in_odoo", "Draft changed in Odoo"),
    ("posted_changed", "Posted payroll corrected in Silae"),
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

    agent_run_id = fields.Integer(string="Import number", required=True, index=True, readonly=True)
    name = fields.Char(compute="_compute_name", store=True)
    dossier_id = fields.Many2one("payflow.dossier", index=True, ondelete="set null", readonly=True)
    dossier_number = fields.Char(string="Silae Number", required=True, index=True, readonly=True)
    company_id = fields.Many2one("res.company", index=True, readonly=True)
    target = fields.Char(
        string="Client database",
        index=True,
        readonly=True,
        help="The Odoo database the run wrote in: \"default\" is this one.",
    )
    period = fields.Char(required=True, index=True, readonly=True)
    trigger = fields.Selection(TRIGGERS, readonly=True)
    triggered_by = fields.Char(readonly=True)
    dry_run = fields.Boolean(readonly=True)
    started_at = fields.Datetime(readonly=True)
    finished_at = fields.Datetime(readonly=True)
    status = fields.Selection(STATUSES, index=True, readonly=True)
    error_kind = fields.Selection(ERROR_KINDS, readonly=True)
    message = fields.Text(string="Technical message", readonly=True)
    outcome = fields.Text(string="Outcome (JSON)", readonly=True)
    outcome_text = fields.Text(string="Message", compute="_compute_outcome_text")
    action_code = fields.Char(compute="_compute_outcome_text")
    summary = fields.Char(compute="_compute_outcome_text")
    move_names = fields.Char(string="Entries", compute="_compute_outcome_text")
    payment_batches = fields.Char(
        string="Salary payments",
        compute="_compute_payment_batches",
        help="The period's salary payment moves by Silae's figures: each transfer batch by its "
        "number, and the advances, with their amounts.",
    )
    agent_move_ids = fields.Char(readonly=True)
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

    @api.depends("outcome", "message")
    @api.depends_context("lang")
    def _compute_outcome_text(self):
        for run in self:
            try:
                outcome = json.loads(run.outcome) if run.outcome else None
            except ValueError:
                outcome = None
            text = self._payflow_outcome_text(outcome, run.currency_id) if outcome else ""
            if text and (outcome or {}).get("net_pay"):
                text = f"{text}\n{self._payflow_net_pay_text(outcome['net_pay'], run.currency_id)}"
            run.outcome_text = text or run.message or ""
            run.action_code = (outcome or {}).get("action") or False
            # The summary of the list: the first line, and for missing accounts their codes.
            lines = [line for line in run.outcome_text.splitlines() if line.strip()]
            summary = lines[0] if lines else ""
            if len(lines) > 1 and (outcome or {}).get("error_kind") == "missing_accounts":
                codes = [a.get("code") for a in outcome["facts"].get("accounts") or []]
                summary = f"{summary} {', '.join(c for c in codes if c)}"
            run.summary = summary if len(summary) <= 200 else summary[:197] + "..."
            moves = (outcome or {}).get("moves") or []
            run.move_names = ", ".join(self._payflow_move_label(m) for m in moves) or False

    @api.depends("outcome")
    @api.depends_context("lang")
    def _compute_payment_batches(self):
        for run in self:
            try:
                totals = (json.loads(run.outcome) if run.outcome else {}).get("totals") or {}
            except (ValueError, AttributeError):
                totals = {}
            parts = []
            for rupture in totals.get("ruptures") or []:
                payment = rupture.get("payment") or {}
                amount = self._payflow_amount(rupture.get("debit_cents"), run.currency_id)
                if payment.get("kind") == "batch":
                    parts.append(_("Batch %(number)s: %(amount)s", number=payment.get("batch"), amount=amount))
                elif payment.get("kind") == "advances":
                    parts.append(_("Advances: %(amount)s", amount=amount))
            run.payment_batches = ", ".join(parts) or False

    @api.model
    def _payflow_move_label(self, move):
        name = move.get("name")
        return name if name and name != "/" else _("draft #%(id)s", id=move.get("id"))

    @api.model
    def _payflow_amount(self, cents, currency):
        currency = currency or self.env.company.currency_id
        return format_amount(self.env, (cents or 0) / 100.0, currency)

    @api.model
    def _payflow_net_pay_text(self, net_pay, currency=None):
        """The period's net pay (421) by Silae's figures, with salary payments on."""
        values = {
            "due": self._payflow_amount(net_pay.get("due_cents"), currency),
            "paid": self._payflow_amount(net_pay.get("paid_cents"), currency),
            "difference": self._payflow_amount(net_pay.get("difference_cents"), currency),
        }
        if not net_pay.get("difference_cents"):
            return _("Net pay (421): due %(due)s, paid %(paid)s: matched to the cent.", **values)
        return _(
            "Net pay (421): due %(due)s, paid %(paid)s: not matched, difference %(difference)s.",
            **values,
        )

    @api.model
    def _payflow_outcome_text(self, outcome, currency=None):
        """The agent's typed outcome in the user's language, amounts the user's way.

        Pure rendering: the facts come from the agent (docs/contract.md, ``outcome``)."""
        facts = outcome.get("facts") or {}
        case = facts.get("case")
        totals = outcome.get("totals")
        moves = ", ".join(self._payflow_move_label(m) for m in outcome.get("moves") or [])
        summary = ""
        if totals:
            summary = _(
                "%(moves)s entries, %(lines)s lines, debit %(debit)s = credit %(credit)s",
                moves=totals.get("moves"),
                lines=totals.get("lines"),
                debit=self._payflow_amount(totals.get("debit_cents"), currency),
                credit=self._payflow_amount(totals.get("credit_cents"), currency),
            )
        period = outcome.get("period") or ""
        if case == "imported":
            text = _(
                "Imported: %(summary)s. In Odoo (%(company)s): %(created)s created, "
                "%(replaced)s draft(s) replaced, %(already)s already there: %(moves)s.",
                summary=summary,
                company=facts.get("company"),
                created=facts.get("created"),
                replaced=facts.get("replaced"),
                already=facts.get("already"),
                moves=moves,
            )
            if facts.get("adjusted"):
                text += "\n" + _(
                    "%(count)s draft adjustment(s) of posted entries Silae corrected.",
                    count=facts["adjusted"],
                )
            return text
        if case == "corrected":
            return self._payflow_corrected_text(facts.get("moves") or [], currency)
        if case in ("already_imported", "found_after_write_error"):
            return _("Already in Odoo: %(moves)s. Nothing was written twice.", moves=moves)
        if case == "previewed":
            check = facts.get("odoo")
            if not check:
                return _(
                    "Preview: %(summary)s. Odoo could not be checked. Nothing was written.",
                    summary=summary,
                )
            text = _(
                "Preview: %(summary)s. Checked in Odoo (%(company)s): %(create)s to create, "
                "%(replace)s draft(s) to replace, %(already)s already imported. Nothing was "
                "written.",
                summary=summary,
                company=check.get("company"),
                create=check.get("create"),
                replace=check.get("replace"),
                already=check.get("already"),
            )
            if check.get("addon_missing"):
                text += "\n" + _("The PayFlow module is missing in this database: an import would fail.")
            for shared in check.get("unseparated") or []:
                text += "\n" + _(
                    "Warning: the Silae accounts %(silae)s all land on the Odoo account %(account)s "
                    "and %(missing)s have no partner: their balances mix there. Give each its "
                    "partner on the dossier (Partners tab).",
                    silae=", ".join(shared.get("silae") or []),
                    account=shared.get("odoo_account"),
                    missing=", ".join(shared.get("without_partner") or []),
                )
            return text
        if case == "no_data":
            return _("Silae has no payroll entries for %(period)s.", period=period)
        if case == "waiting":
            return _(
                "The payroll of %(period)s is not closed in Silae yet (period in progress: "
                "%(open)s); it will be imported once closed.",
                period=period,
                open=facts.get("in_progress"),
            )
        if case == "before_start":
            return _(
                "The dossier starts in %(start)s: %(period)s is before it and is not imported.",
                start=facts.get("start"),
                period=period,
            )
        if case == "missing_accounts":
            accounts = facts.get("accounts") or []
            lines = [
                _(
                    "%(count)s Silae account(s) have no account in Odoo; nothing was written:",
                    count=len(accounts),
                )
            ]
            for account in accounts:
                lines.append(
                    _(
                        "- %(code)s %(label)s (tried: %(tried)s)",
                        code=account.get("code"),
                        label=account.get("label") or "",
                        tried=", ".join(account.get("tried") or []),
                    )
                )
            if facts.get("analytic"):
                lines.append(_("Some analytic repartitions have no analytic account."))
            lines.append(
                _(
                    "Create the missing accounts, or map each one to an existing account, "
                    "on the dossier (account map)."
                )
            )
            return "\n".join(lines)
        if case == "interrupted":
            return _(
                "The import stopped before its end; nothing was half-written in Odoo "
                "(one transaction)."
            )
        if case == "error":
            kinds = dict(self._fields["error_kind"]._description_selection(self.env))
            kind = kinds.get(outcome.get("error_kind")) or _("Error")
            return _(
                "%(kind)s. What to do: %(todo)s\nDetail for the administrator: %(detail)s",
                kind=kind,
                todo=self._payflow_action_text(outcome.get("action")),
                detail=facts.get("detail") or "",
            )
        return facts.get("message") or ""

    @api.model
    def _payflow_corrected_text(self, moves, currency=None):
        """Drafts changed in Odoo and posted entries Silae corrected: which, who, when, the
        difference per account, what to do."""
        lines = []
        for move in moves:
            name = self._payflow_move_label(move.get("move") or {})
            if move.get("state") == "draft":
                lines.append(
                    _(
                        "The draft %(move)s was changed in Odoo by %(user)s on %(date)s (UTC) "
                        "and Silae now gives another payroll for it: it is not replaced.",
                        move=name,
                        user=move.get("changed_by") or "?",
                        date=move.get("changed_at") or "?",
                    )
                )
            else:
                lines.append(
                    _("Silae corrected the payroll of the posted entry %(move)s (never modified).", move=name)
                )
            Move = self.env["account.move"]
            for diff in move.get("diff") or []:
                lines.append("- " + Move._payflow_diff_text(
                    {
                        "account": diff.get("account"),
                        "name": diff.get("name"),
                        "analytic": diff.get("analytic"),
                        "odoo_debit": diff.get("odoo_debit_cents") or 0,
                        "odoo_credit": diff.get("odoo_credit_cents") or 0,
                        "silae_debit": diff.get("silae_debit_cents") or 0,
                        "silae_credit": diff.get("silae_credit_cents") or 0,
                    },
                    currency or self.env.company.currency_id,
                ))
        # The list's summary is the first line: which move, and that nothing was written.
        head = _("Nothing was written.")
        lines = [f"{lines[0]} {head}"] + lines[1:] if lines else [head]
        if any(m.get("state") == "draft" for m in moves):
            lines.append(
                _(
                    "What to do: report Silae's differences on the draft by hand, or delete the "
                    "draft so that the next import takes Silae's payroll again."
                )
            )
        if any(m.get("state") != "draft" for m in moves):
            lines.append(
                _(
                    "What to do: book the difference by hand, or set Corrections to Adjust on the "
                    "dossier: PayFlow then creates a draft adjustment entry."
                )
            )
        return "\n".join(lines)

    @api.model
    def _payflow_action_text(self, action):
        texts = {
            "retry_later": _("nothing: the daily run tries again."),
            "wait_silae_close": _("nothing: imported once Silae closes the period."),
            "create_or_map_accounts": _("create the missing accounts or map them on the dossier."),
            "create_journal": _("create the payroll journal, or choose another on the dossier."),
            "fix_payroll_in_silae": _("have the payroll corrected in Silae."),
            "renew_silae_credentials": _("ask the administrator to renew the Silae credentials."),
            "check_odoo_user": _("ask the administrator to check PayFlow's Odoo user."),
            "read_odoo_refusal": _("read Odoo's refusal below (a locked period must be unlocked)."),
            "fix_config": _("pass this message to the PayFlow administrator."),
            "report_to_administrator": _("if it persists, pass this message to the administrator."),
            "review_changed_draft": _(
                "report Silae's differences on the draft by hand, or delete the draft to import "
                "Silae's payroll again."
            ),
            "book_posted_correction": _(
                "book the difference by hand, or set Corrections to Adjust on the dossier."
            ),
        }
        return texts.get(action) or _("pass this message to the PayFlow administrator.")

    @api.depends("move_ids", "agent_move_ids")
    def _compute_move_count(self):
        for run in self:
            run.move_count = max(len(run.move_ids), len(run._payflow_agent_move_ids()))

    def _payflow_agent_move_ids(self):
        try:
            return [int(i) for i in json.loads(self.agent_move_ids or "[]")]
        except (TypeError, ValueError):
            return []

    # -- from the agent ----------------------------------------------------------------

    @api.model
    def _payflow_values(self, data, dossiers):
        dossier = dossiers.get(str(data.get("dossier")))
        # Moves the agent wrote a moment ago may not be visible in this transaction yet: their
        # ids and names are kept from the outcome, the links are made as soon as they are.
        target = data.get("target") or "default"
        moves = self.env["account.move"]
        # Another database's move ids are not this one's: only the ids and names are kept.
        if target == "default":
            moves = moves.sudo().browse(data.get("moves") or []).exists()
        outcome = data.get("outcome")
        debit = data.get("total_debit_cents")
        credit = data.get("total_credit_cents")
        status = data.get("status")
        kind = data.get("error_kind")
        return {
            "agent_run_id": data["id"],
            "dossier_id": dossier.id if dossier else False,
            "dossier_number": str(data.get("dossier") or ""),
            "target": target,
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
            "outcome": json.dumps(outcome) if outcome else False,
            "agent_move_ids": json.dumps(data.get("moves") or []),
            "move_ids": [Command.set(moves.ids)],
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
    def _payflow_set_group_category(self):
        """Puts PayFlow's groups in their category (a choice on the user form).

        Up to Odoo 18 a group has a ``category_id``; from 19 a ``privilege_id`` whose
        ``category_id`` is the category, hence code rather than XML."""
        groups = self.env.ref("payflow_silae.group_payflow_user") | self.env.ref(
            "payflow_silae.group_payflow_manager"
        )
        category = self.env.ref("payflow_silae.module_category_payflow")
        if "privilege_id" in self.env["res.groups"]._fields:
            Privilege = self.env["res.groups.privilege"]
            privilege = Privilege.search([("category_id", "=", category.id)], limit=1)
            if not privilege:
                privilege = Privilege.create({"name": category.name, "category_id": category.id})
            groups.write({"privilege_id": privilege.id})
        else:
            groups.write({"category_id": category.id})

    @api.model
    def _payflow_set_menu_action_groups(self):
        """Gives the menus' server actions their groups (called from menus.xml).

        A server action without groups runs only for users who may write its model, and the
        log is read-only for everyone: with groups, Odoo checks them instead. The field is
        ``groups_id`` up to Odoo 18 and ``group_ids`` from 19, hence code rather than XML.
        """
        Action = self.env["ir.actions.server"]
        field = "group_ids" if "group_ids" in Action._fields else "groups_id"
        importers = self.env.ref("payflow_silae.group_payflow_user")
        readers = self.env.ref("account.group_account_readonly") | importers
        self.env.ref("payflow_silae.payflow_run_action_open").write({field: [Command.set(readers.ids)]})
        self.env.ref("payflow_silae.payflow_dossier_action_open").write(
            {field: [Command.set(readers.ids)]}
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
        return self.env["payflow.dossier"]._payflow_group_by_target(action)

    def action_payflow_refresh(self):
        self._payflow_sync()
        return {"type": "ir.actions.client", "tag": "reload"}

    def action_payflow_create_missing_accounts(self):
        """The accounts this run lacks, listed for one confirmation."""
        self.ensure_one()
        return self.env["payflow.missing.accounts"]._payflow_open(self)

    def action_payflow_map_missing_accounts(self):
        """The accounts this run lacks, each mapped to an existing account of the company."""
        self.ensure_one()
        return self.env["payflow.missing.accounts"]._payflow_open(self, mode="map")

    def action_payflow_open_moves(self):
        self.ensure_one()
        if self.target and self.target != "default":
            raise UserError(
                _(
                    "These entries (%(moves)s) are in the client database \"%(target)s\", not in "
                    "this one: open them there.",
                    moves=self.move_names or "-",
                    target=self.target,
                )
            )
        action = {
            "type": "ir.actions.act_window",
            "name": _("Journal entries"),
            "res_model": "account.move",
            "domain": [("id", "in", self.move_ids.ids or self._payflow_agent_move_ids())],
            "context": {"create": False},
            "view_mode": f"{LIST_VIEW},form",
        }
        ids = self.move_ids.ids or self._payflow_agent_move_ids()
        if len(ids) == 1:
            action.update(view_mode="form", res_id=ids[0])
        return action
