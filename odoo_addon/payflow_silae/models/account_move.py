from markupsafe import Markup

from odoo import _, api, fields, models
from odoo.exceptions import UserError

# Odoo 19 declares SQL constraints as class attributes; 17 and 18 use _sql_constraints.
Constraint = getattr(models, "Constraint", None)

_UNIQUE_MESSAGE = "A move with this PayFlow import key already exists in this company."


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
