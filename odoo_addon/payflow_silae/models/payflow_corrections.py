"""Corrected payrolls (docs/odoo-protocol.md, "Corrections"): a draft someone changed in Odoo is
never replaced; a posted move Silae corrected is never touched, and per dossier either told
(``alert``) or completed by a draft adjustment move holding exactly the difference (``adjust``).

Steps of ``account.move.payflow_import_plan``, in their own methods so that the plan stays one
method per step."""
# A second class on account.move, on purpose: the corrections are their own concern.
# pylint: disable=consider-merging-classes-inherited

import hashlib
import json
import re

from markupsafe import Markup, escape

from odoo import Command, _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools.misc import formatLang

REGUL_KEY = re.compile(r":regul-(\d+)$")
CORRECTIONS = ("alert", "adjust")


def _cents(amount):
    return int(round((amount or 0.0) * 100))


class AccountMove(models.Model):
    _inherit = "account.move"

    payflow_lines_hash = fields.Char(
        string="PayFlow lines fingerprint",
        copy=False,
        readonly=True,
        help="Fingerprint of the move as PayFlow wrote it (date, reference, journal, and each "
        "line's account, label, amounts, analytic and partner): a draft that no longer matches "
        "it was changed in Odoo and is never replaced.",
    )
    payflow_adjusted_move_id = fields.Many2one(
        "account.move",
        string="PayFlow: adjusts",
        copy=False,
        readonly=True,
        index=True,
        help="On a PayFlow adjustment: the posted payroll entry whose Silae correction it books.",
    )
    payflow_adjustment_ids = fields.One2many(
        "account.move", "payflow_adjusted_move_id", string="PayFlow adjustments", readonly=True
    )

    # -- what PayFlow wrote, and what changed since ----------------------------------------

    def _payflow_fingerprint(self):
        """SHA-256 of the move's head and lines as they are now (cents, sorted)."""
        self.ensure_one()
        lines = sorted(
            [
                line.account_id.id,
                line.name or "",
                _cents(line.debit),
                _cents(line.credit),
                json.dumps(line.analytic_distribution or {}, sort_keys=True),
                line.partner_id.id or 0,
            ]
            for line in self.line_ids
        )
        head = [fields.Date.to_string(self.date), self.ref or "", self.journal_id.id]
        return hashlib.sha256(json.dumps([head, lines]).encode()).hexdigest()

    def _payflow_stamp(self):
        """Remembers the move as PayFlow just wrote it."""
        for move in self:
            move.payflow_lines_hash = move._payflow_fingerprint()

    def _payflow_changes(self):
        """Why this draft is not as PayFlow left it: ``(reasons, user name, date)``, or None.

        The rule (docs/odoo-protocol.md): PayFlow's users are the caller (the agent's login)
        and the move's creator (the agent's login when it was imported). Changed = the move or
        one of its lines last written by another user, an attachment or a chatter message
        added by another user, or the lines no longer what PayFlow wrote (their fingerprint,
        which also catches an edit made under the agent's own login)."""
        self.ensure_one()
        ours = {self.env.uid, self.create_uid.id}
        found = []  # (date, user, reason)
        if self.write_uid.id not in ours:
            found.append((self.write_date, self.write_uid, "move"))
        for line in self.line_ids:
            if line.write_uid.id not in ours or line.create_uid.id not in ours:
                found.append((line.write_date, line.write_uid, "lines"))
        attachments = self.env["ir.attachment"].sudo().search(
            [("res_model", "=", "account.move"), ("res_id", "=", self.id), ("create_uid", "not in", list(ours))]
        )
        found += [(a.create_date, a.create_uid, "attachment") for a in attachments]
        messages = self.env["mail.message"].sudo().search(
            [("model", "=", "account.move"), ("res_id", "=", self.id), ("create_uid", "not in", list(ours))]
        )
        found += [(m.create_date, m.create_uid, "message") for m in messages]
        if self.payflow_lines_hash and self.payflow_lines_hash != self._payflow_fingerprint():
            latest = max([*self.line_ids, self], key=lambda r: r.write_date or fields.Datetime.now())
            found.append((latest.write_date, latest.write_uid, "lines"))
        if not found:
            return None
        date, who, _reason = max(found, key=lambda f: f[0] or fields.Datetime.now())
        reasons = list(dict.fromkeys(reason for _d, _u, reason in found))
        return reasons, who.name or "", fields.Datetime.to_string(date) if date else False

    def _payflow_refuse_changed(self):
        """``payflow_import``'s guard: a draft changed in Odoo is never replaced (the whole call
        is refused, nothing written)."""
        changes = self._payflow_changes()
        if changes:
            # (not named `user`: Odoo's `_` reads a local of that name as the uid)
            reasons, who, date = changes
            raise UserError(
                _(
                    "The draft %(move)s was changed in Odoo by %(user)s on %(date)s (%(what)s) and "
                    "Silae now gives another payroll for it: it is not replaced and nothing was "
                    "written. Report Silae's changes on it by hand, or delete it to import Silae's "
                    "payroll again.",
                    move=self.name,
                    user=who,
                    date=date,
                    what=", ".join(reasons),
                )
            )

    # -- the difference per account --------------------------------------------------------

    @api.model
    def _payflow_analytic_key(self, distribution):
        """The analytic part of a diff key: the one analytic account's id, else the whole
        distribution as text, else ""."""
        distribution = distribution or {}
        if len(distribution) == 1:
            return str(next(iter(distribution)))
        return json.dumps(distribution, sort_keys=True) if distribution else ""

    @api.model
    def _payflow_silae_sums(self, entry, accounts, analytic):
        """Silae's latest amounts of one move: {(account id or Silae code, analytic key):
        [debit cents, credit cents, Silae's label]}."""
        sums = {}
        for line in entry.get("lines") or []:
            code = line.get("account")
            account = accounts.get(code)
            index = line.get("analytic")
            key_analytic = ""
            if index not in (None, False) and str(index) in analytic:
                key_analytic = str(analytic[str(index)])
            key = (account.id if account else code, key_analytic)
            row = sums.setdefault(key, [0, 0, line.get("name") or ""])
            row[0] += _cents(line.get("debit"))
            row[1] += _cents(line.get("credit"))
        return sums

    def _payflow_odoo_sums(self):
        """The amounts these moves hold, summed the same way."""
        sums = {}
        for line in self.line_ids:
            key = (line.account_id.id, self._payflow_analytic_key(line.analytic_distribution))
            row = sums.setdefault(key, [0, 0, line.name or ""])
            row[0] += _cents(line.debit)
            row[1] += _cents(line.credit)
        return sums

    @api.model
    def _payflow_diff(self, odoo, silae):
        """Each (account, analytic) whose amounts differ, readable: account code and name,
        analytic name, Odoo's and Silae's debit and credit in cents, Silae's label."""
        Account = self.env["account.account"]
        Analytic = self.env["account.analytic.account"]
        diff = []
        for key in sorted(set(odoo) | set(silae), key=lambda k: (str(k[0]), k[1])):
            o = odoo.get(key, [0, 0, ""])
            s = silae.get(key, [0, 0, ""])
            if o[:2] == s[:2]:
                continue
            account_id, analytic_key = key
            account = Account.browse(account_id) if isinstance(account_id, int) else Account
            analytic_name = False
            if analytic_key.isdigit():
                analytic_name = Analytic.browse(int(analytic_key)).exists().name or analytic_key
            elif analytic_key:
                analytic_name = analytic_key
            diff.append(
                {
                    "account": account.code if account else str(account_id),
                    "account_id": account.id or False,
                    "name": account.name if account else (s[2] or o[2]),
                    "label": s[2] or o[2],
                    "analytic": analytic_name,
                    "analytic_key": analytic_key,
                    "odoo_debit": o[0],
                    "odoo_credit": o[1],
                    "silae_debit": s[0],
                    "silae_credit": s[1],
                }
            )
        return diff

    # -- the step of payflow_import_plan ---------------------------------------------------

    @api.model
    def _payflow_corrections(self, company, moves, existing, accounts, analytic, corrections, problems):
        """Moves Odoo holds under another payload: a changed draft is a ``changed_in_odoo``
        problem; a posted move whose amounts Silae changed is a ``posted_changed`` problem
        (``alert``) or gets a draft adjustment (``adjust``: returned, to write). Answers the
        adjustments to write: ``{"import_key", "original", "entry", "diff"}``."""
        mode = corrections if corrections in CORRECTIONS else "alert"
        adjustments = []
        for entry in moves:
            move = existing.get(entry["import_key"])
            if not move or move.payflow_payload_hash == entry.get("payload_hash"):
                continue
            silae = self._payflow_silae_sums(entry, accounts, analytic)
            fact = {"import_key": entry["import_key"], "move": {"id": move.id, "name": move.name},
                    "state": move.state}
            if move.state == "draft":
                changes = move._payflow_changes()
                if changes:
                    reasons, who, date = changes
                    diff = self._payflow_diff(move._payflow_odoo_sums(), silae)
                    problems.append(dict(fact, kind="changed_in_odoo", changed_by=who, changed_at=date,
                                         reasons=reasons, diff=diff))
                continue
            if move.state != "posted":
                continue  # cancelled: never touched, nothing to book against
            booked = move | move.payflow_adjustment_ids.filtered(lambda m: m.state != "cancel")
            # What an adjustment books: the (account, analytic) whose balance Silae changed.
            diff = [
                d for d in self._payflow_diff(booked._payflow_odoo_sums(), silae)
                if d["silae_debit"] - d["silae_credit"] != d["odoo_debit"] - d["odoo_credit"]
            ]
            if not diff:
                continue
            adjusted = [{"id": m.id, "name": m.name} for m in booked - move]
            if mode == "alert":
                problems.append(dict(fact, kind="posted_changed", diff=diff, adjustments=adjusted))
                continue
            used = [int(m.group(1)) for m in map(REGUL_KEY.search, self._payflow_regul_keys(company, move))
                    if m]
            key = "%s:regul-%d" % (move.payflow_import_key, max(used, default=0) + 1)
            adjustments.append({"import_key": key, "original": move, "entry": entry, "diff": diff})
        return adjustments

    @api.model
    def _payflow_regul_keys(self, company, move):
        return self.with_company(company).search(
            [("payflow_import_key", "=like", move.payflow_import_key + ":regul-%"),
             ("company_id", "=", company.id)]
        ).mapped("payflow_import_key")

    @api.model
    def _payflow_adjustment_rows(self, adjustments):
        """The answer's rows of the adjustments a preview (or a refusal) would create."""
        return [
            {"import_key": a["import_key"], "id": False, "name": False, "result": "created",
             "state": False, "adjusts": a["original"].payflow_import_key}
            for a in adjustments
        ]

    @api.model
    def _payflow_write_adjustments(self, company, adjustments, attachment):
        """Creates each adjustment: a draft in the original's journal, one line per
        (account, analytic) holding exactly Silae's latest minus what Odoo holds, its own key,
        linked from both chatters. Answers its rows."""
        rows = []
        for adjustment in adjustments:
            original = adjustment["original"]
            entry = adjustment["entry"]
            lines = []
            for d in adjustment["diff"]:
                balance = (d["silae_debit"] - d["silae_credit"]) - (d["odoo_debit"] - d["odoo_credit"])
                if not balance:
                    continue
                vals = {
                    "account_id": d["account_id"],
                    "name": d["label"] or d["name"],
                    "debit": balance / 100.0 if balance > 0 else 0.0,
                    "credit": -balance / 100.0 if balance < 0 else 0.0,
                }
                if d["analytic_key"]:
                    vals["analytic_distribution"] = (
                        {d["analytic_key"]: 100.0} if d["analytic_key"].isdigit()
                        else json.loads(d["analytic_key"])
                    )
                lines.append(Command.create(vals))
            move = (
                self.with_company(company)
                .with_context(mail_create_nolog=True, mail_create_nosubscribe=True)
                .create(
                    {
                        "move_type": "entry",
                        "journal_id": original.journal_id.id,
                        "company_id": company.id,
                        "date": entry.get("date") or original.date,
                        "ref": "REGULARISATION %s" % (entry.get("ref") or original.ref or ""),
                        "line_ids": lines,
                        "payflow_import_key": adjustment["import_key"],
                        "payflow_payload_hash": entry.get("payload_hash"),
                        "payflow_adjusted_move_id": original.id,
                    }
                )
            )
            move._payflow_stamp()
            file = entry.get("attachment") or attachment
            if file:
                self.env["ir.attachment"].create(
                    {
                        "name": file.get("name") or "silae.json",
                        "datas": file.get("datas"),
                        "mimetype": file.get("mimetype") or "application/json",
                        "res_model": "account.move",
                        "res_id": move.id,
                    }
                )
            move._payflow_log_adjustment(original, adjustment["diff"])
            rows.append(
                {"import_key": move.payflow_import_key, "id": move.id, "name": move.name,
                 "result": "created", "state": move.state, "adjusts": original.payflow_import_key}
            )
        self.env.flush_all()
        return rows

    def _payflow_link(self):
        return Markup('<a href="#" data-oe-model="account.move" data-oe-id="%s">%s</a>') % (
            self.id, self.name if self.name and self.name != "/" else "#%s" % self.id
        )

    def _payflow_log_adjustment(self, original, diff):
        """Both chatters link the other; the adjustment's lists the difference per account."""
        lang = self.company_id.partner_id.lang or self.env.lang
        self = self.with_context(lang=lang)
        original = original.with_context(lang=lang)
        items = Markup("").join(
            Markup("<li>%s</li>") % self._payflow_diff_text(d, self.company_id.currency_id) for d in diff
        )
        self._message_log(
            body=Markup("<p>%s</p><ul>%s</ul>")
            % (
                escape(_("Silae corrected this payroll after %(move)s was posted: this draft books the "
                         "difference, per account.")) % {"move": original._payflow_link()},
                items,
            )
        )
        original._message_log(
            body=Markup("<p>%s</p>")
            % (escape(_("Silae corrected this payroll after it was posted: adjustment %(move)s "
                        "(draft) books the difference.")) % {"move": self._payflow_link()})
        )

    @api.model
    def _payflow_diff_text(self, d, currency):
        """One line of a diff, in the user's language: account, what Odoo holds, what Silae says."""
        def amount(debit, credit):
            if debit and credit:
                return _("debit %(debit)s, credit %(credit)s",
                         debit=formatLang(self.env, debit / 100.0, currency_obj=currency),
                         credit=formatLang(self.env, credit / 100.0, currency_obj=currency))
            if credit:
                return _("credit %(amount)s", amount=formatLang(self.env, credit / 100.0, currency_obj=currency))
            return _("debit %(amount)s", amount=formatLang(self.env, debit / 100.0, currency_obj=currency))

        account = "%s %s" % (d.get("account") or "", d.get("name") or "")
        if d.get("analytic"):
            account = "%s (%s)" % (account, d["analytic"])
        if not (d["odoo_debit"] or d["odoo_credit"]):
            return _("%(account)s: added by Silae, %(silae)s", account=account,
                     silae=amount(d["silae_debit"], d["silae_credit"]))
        if not (d["silae_debit"] or d["silae_credit"]):
            return _("%(account)s: removed by Silae (Odoo holds %(odoo)s)", account=account,
                     odoo=amount(d["odoo_debit"], d["odoo_credit"]))
        return _("%(account)s: %(odoo)s in Odoo, %(silae)s by Silae", account=account,
                 odoo=amount(d["odoo_debit"], d["odoo_credit"]),
                 silae=amount(d["silae_debit"], d["silae_credit"]))

    # -- an untouched draft, replaced in place ---------------------------------------------

    def _payflow_rewrite(self, vals, entry):
        """Rewrites this untouched draft with ``vals`` (same id, same name): its lines replaced
        by ``Command``s, Silae's new JSON attached, the note logged. False when Odoo cannot keep
        the move (another journal or company): the caller replaces it."""
        self.ensure_one()
        if vals.get("journal_id") != self.journal_id.id or vals.get("company_id", self.company_id.id) != self.company_id.id:
            return False
        new = {k: v for k, v in vals.items() if k not in ("move_type", "journal_id", "company_id", "line_ids")}
        new["line_ids"] = [Command.delete(line.id) for line in self.line_ids] + list(vals.get("line_ids") or [])
        self.write(new)
        self._payflow_stamp()
        self._payflow_evidence(entry)
        return True
