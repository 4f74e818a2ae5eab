import re

from markupsafe import Markup, escape

from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools.misc import formatLang

# Odoo 19 declares SQL constraints as class attributes; 17 and 18 use _sql_constraints.
Constraint = getattr(models, "Constraint", None)

_UNIQUE_MESSAGE = "A move with this PayFlow import key already exists in this company."
# Salary payments (docs/payments.md): the payment moves' keys, a period's key prefix, and the
# net pay accounts reconciled once a period's payroll and payment moves are all posted.
PAYMENT_KEY = re.compile(r"^silae:[^:]+:\d{4}-\d{2}:(virement-\d+|acomptes)$")
PERIOD_PREFIX = re.compile(r"^(silae:[^:]+:\d{4}-\d{2}:)")
NET_PAY_PREFIX = "421"


class AccountMove(models.Model):
    _inherit = "account.move"

    payflow_import_key = fields.Char(
        string="PayFlow import key",
        index=True,
        copy=False,
        readonly=True,
        help="Set by the PayFlow agent on the moves it imports from Silae: one key per "
        "dossier, period and establishment, unique in the company, so that a payroll is "
        "never imported twice.",
    )
    payflow_payload_hash = fields.Char(
        string="PayFlow payload fingerprint",
        copy=False,
        readonly=True,
        help="Fingerprint of the Silae lines this move was created from: tells an identical "
        "payroll from a corrected one.",
    )

    if Constraint is not None:
        _payflow_import_key_company_uniq = Constraint(
            "unique(company_id, payflow_import_key)", _UNIQUE_MESSAGE
        )
    else:
        _sql_constraints = [
            (
                "payflow_import_key_company_uniq",
                "unique(company_id, payflow_import_key)",
                _UNIQUE_MESSAGE,
            )
        ]

    @api.model
    def payflow_import(self, moves):
        """Create (or replace the drafts of) the moves of one payroll import, atomically.

        ``moves`` is a list of dicts with ``import_key``, ``payload_hash``, ``vals`` (the
        account.move values), and optionally ``attachment`` (name, datas, mimetype) and
        ``message`` (HTML for the chatter). For each: a posted move with that key is never
        touched (``posted``), a draft with the same fingerprint is kept (``unchanged``), a
        draft with another one is replaced (``replaced``), else the move is created
        (``created``). The RPC call is one transaction: any error leaves nothing written.
        """
        results = []
        for entry in moves:
            key = entry.get("import_key")
            vals = dict(entry.get("vals") or {})
            if not key or not vals:
                raise UserError(_("Each PayFlow move needs an import key and values."))
            company_id = vals.get("company_id") or self.env.company.id
            self._payflow_check_lock_dates(company_id, vals.get("date"))
            existing = self.search(
                [("payflow_import_key", "=", key), ("company_id", "=", company_id)], limit=1
            )
            if existing and existing.state != "draft":
                results.append(self._payflow_result(key, existing, "posted"))
                continue
            if existing and existing.payflow_payload_hash == entry.get("payload_hash"):
                results.append(self._payflow_result(key, existing, "unchanged"))
                continue
            result = "created"
            if existing:
                existing.unlink()
                result = "replaced"
            vals.update(
                payflow_import_key=key, payflow_payload_hash=entry.get("payload_hash")
            )
            move = self.with_company(company_id).create(vals)
            attachment = entry.get("attachment")
            if attachment:
                self.env["ir.attachment"].create(
                    {
                        "name": attachment.get("name") or "silae.json",
                        "datas": attachment.get("datas"),
                        "mimetype": attachment.get("mimetype") or "application/json",
                        "res_model": "account.move",
                        "res_id": move.id,
                    }
                )
            if entry.get("message"):
                move.message_post(body=Markup(entry["message"]))
            results.append(self._payflow_result(key, move, result))
        # Constraint violations surface here, inside the call, not at commit time.
        self.env.flush_all()
        return results

    def _payflow_check_lock_dates(self, company_id, date):
        """Refuse a payroll dated inside the company's lock dates.

        Odoo accepts a draft there and re-dates it when it is posted: a payroll of October
        would land in January. The agent checks this before writing; this check closes the
        gap when a lock date moves between its reads and its write.
        """
        company = self.env["res.company"].browse(company_id)
        names = ("fiscalyear_lock_date", "hard_lock_date", "period_lock_date")
        locks = [company[name] for name in names if name in company._fields and company[name]]
        if date and locks and fields.Date.to_date(date) <= max(locks):
            raise UserError(
                _(
                    "The payroll dated %(date)s cannot be imported: %(company)s is locked "
                    "until %(lock)s.",
                    date=date,
                    company=company.name,
                    lock=max(locks),
                )
            )

    def _payflow_result(self, key, move, result):
        return {
            "import_key": key,
            "id": move.id,
            "name": move.name,
            "result": result,
            "state": move.state,
        }

    # -- salary payments: the net pay (421) reconciled when a period is all posted ------------

    def _post(self, soft=True):
        posted = super()._post(soft=soft)
        periods = set()
        for move in posted.filtered("payflow_import_key"):
            match = PERIOD_PREFIX.match(move.payflow_import_key)
            if match:
                periods.add((move.company_id.id, match.group(1)))
        for company_id, prefix in sorted(periods):
            self._payflow_reconcile_period(company_id, prefix)
        return posted

    @api.model
    def _payflow_period_moves(self, company_id, prefix):
        """(payroll moves, payment moves) of one dossier and period."""
        moves = self.sudo().search(
            [("company_id", "=", company_id), ("payflow_import_key", "=like", prefix + "%")]
        )
        payments = moves.filtered(lambda m: PAYMENT_KEY.match(m.payflow_import_key))
        return moves - payments, payments

    @api.model
    def _payflow_net_pay_lines(self, moves):
        return moves.line_ids.filtered(
            lambda l: (l.account_id.code or "").startswith(NET_PAY_PREFIX)
        )

    @api.model
    def _payflow_reconcile_period(self, company_id, prefix):
        """Reconciles the period's 421 lines when everything is posted and they balance;
        returns ``"reconciled"``, ``"open"`` or ``None`` (nothing to do yet)."""
        payroll, payments = self._payflow_period_moves(company_id, prefix)
        if not payroll or not payments or any(m.state != "posted" for m in payroll | payments):
            return None
        lines = self._payflow_net_pay_lines(payroll | payments)
        todo = lines.filtered(lambda l: not l.reconciled)
        if not todo:
            return None
        currency = payroll[0].company_id.currency_id
        difference = sum(todo.mapped("balance"))
        if currency.is_zero(difference) and all(a.reconcile for a in todo.account_id):
            todo.reconcile()
            body = _("Net pay (421) reconciled to the cent with its payments: %(moves)s.")
            result = "reconciled"
        else:
            if not currency.is_zero(difference):
                body = _(
                    "Net pay (421) left open: the payments differ from the payroll by "
                    "%(difference)s. Payments: %(moves)s."
                )
            else:
                body = _(
                    "Net pay (421) not reconciled: the account does not allow reconciliation "
                    "(Accounting > Configuration > Chart of Accounts, \"Allow "
                    "Reconciliation\"). Payments: %(moves)s."
                )
            result = "open"
        links = Markup(", ").join(
            Markup('<a href="#" data-oe-model="account.move" data-oe-id="%s">%s</a>')
            % (m.id, m.name or m.ref or m.id)
            for m in payments.sorted("id")
        )
        # Payments received as money: paid - due (421 credit by the payroll, debit by payments).
        amount = formatLang(self.env, difference, currency_obj=currency)
        message = escape(body) % {"moves": links, "difference": escape(amount)}
        for move in payroll:
            move.message_post(body=Markup(message))
        return result
