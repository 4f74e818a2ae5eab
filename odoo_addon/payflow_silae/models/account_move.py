from markupsafe import Markup

from odoo import Command, _, api, fields, models, release
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
        return self._payflow_write(moves, check_locks=True)

    def _payflow_write(self, moves, check_locks):
        """Writes the entries of ``payflow_import`` (see there), in the caller's transaction."""
        results = []
        for entry in moves:
            key = entry.get("import_key")
            vals = dict(entry.get("vals") or {})
            if not key or not vals:
                raise UserError(_("Each PayFlow move needs an import key and values."))
            company_id = vals.get("company_id") or self.env.company.id
            if check_locks:
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

    @api.model
    def payflow_import_plan(
        self,
        company_id,
        journal_code,
        moves,
        account_map=None,
        analytic_map=None,
        dry_run=False,
        attachment=None,
    ):
        """The whole import of one period in one call and one transaction.

        ``moves`` holds the plans as Silae gives them: ``import_key``, ``payload_hash``,
        ``date``, ``ref``, ``lines`` (``account`` = Silae's code, ``name``, ``debit``,
        ``credit``, ``analytic`` = Silae's repartition index or None) and ``message``;
        ``attachment`` (Silae's JSON) is attached to each move created. The company, the journal (by code), every account (one search:
        the dossier's map, else the code then without its trailing zeros down to six
        digits), the analytic accounts, Odoo's own lock dates and the moves already carrying
        the keys are read here; then either every problem is answered at once and nothing
        is written, or each move is created / its draft replaced / left as it is (see
        ``payflow_import``). With ``dry_run`` nothing is ever written: the answer says what
        would be done, in the same shape. docs/odoo-protocol.md describes the answer.
        """
        account_map = account_map or {}
        analytic_map = analytic_map or {}
        problems = []
        answer = {
            "series": release.version_info[0],
            "company": False,
            "journal": False,
            "accounts": {},
            "analytic": {},
            "problems": problems,
            "moves": [],
            "written": False,
        }
        company = self.env["res.company"].browse(company_id).exists()
        if not company or company not in self.env.user.company_ids:
            allowed = self.env.user.company_ids
            problems.append(
                {"kind": "company", "asked": company_id, "available": [[c.id, c.name] for c in allowed]}
            )
            return answer
        answer["company"] = {"id": company.id, "name": company.name}
        Move = self.with_company(company)
        journal = self._payflow_journal(company, journal_code, problems)
        if journal:
            answer["journal"] = {"id": journal.id, "code": journal.code}

        # Every candidate of every line, in one search.
        def candidates(code):
            if code in account_map:
                return [account_map[code]]
            out = [code]
            while len(code) > 6 and code.endswith("0"):
                code = code[:-1]
                out.append(code)
            return out

        silae_codes = []
        for entry in moves:
            for line in entry.get("lines") or []:
                if line.get("account") not in silae_codes:
                    silae_codes.append(line.get("account"))
        tried = {code: candidates(code) for code in silae_codes}
        Account = self.env["account.account"].with_company(company)
        domain = [("code", "in", sorted({c for cs in tried.values() for c in cs}))]
        domain += Account._check_company_domain(company)
        if "deprecated" in Account._fields:
            domain.append(("deprecated", "=", False))
        found = {}
        for account in Account.search(domain):
            found.setdefault(account.code, account)
        accounts = {}
        for code in silae_codes:
            hit = next((found[c] for c in tried[code] if c in found), None)
            if hit:
                accounts[code] = hit
                answer["accounts"][code] = {"id": hit.id, "code": hit.code}
            else:
                problems.append({"kind": "account", "silae_code": code, "tried": tried[code]})

        used = sorted(
            {
                str(line["analytic"])
                for entry in moves
                for line in entry.get("lines") or []
                if line.get("analytic") not in (None, False)
            },
            key=lambda i: (len(i), i),
        )
        analytic = {}
        if used and analytic_map:
            names = list(analytic_map.values())
            Analytic = self.env["account.analytic.account"].with_company(company)
            rows = Analytic.search(["|", ("code", "in", names), ("name", "in", names)])
            for index in used:
                name = analytic_map.get(index)
                if not name:
                    problems.append({"kind": "analytic", "index": index, "name": False})
                    continue
                hit = rows.filtered(lambda a, n=name: a.code == n)[:1] or rows.filtered(
                    lambda a, n=name: a.name == n
                )[:1]
                if hit:
                    analytic[index] = hit.id
                    answer["analytic"][index] = hit.id
                else:
                    problems.append({"kind": "analytic", "index": index, "name": name})

        # Odoo's own lock date rules, once per date.
        for date in sorted({entry.get("date") for entry in moves if entry.get("date")}):
            violated = self._payflow_violated_locks(company, fields.Date.to_date(date), journal)
            if violated:
                problems.append(
                    {
                        "kind": "locked",
                        "date": date,
                        "lock_date": fields.Date.to_string(violated[-1][0]),
                        "locks": [[fields.Date.to_string(d), str(name)] for d, name in violated],
                    }
                )
        if problems:
            return answer

        keys = [entry.get("import_key") for entry in moves]
        existing = {
            m.payflow_import_key: m
            for m in Move.search(
                [("payflow_import_key", "in", keys), ("company_id", "=", company.id)]
            )
        }
        if dry_run:
            for entry in moves:
                key = entry.get("import_key")
                move = existing.get(key)
                if not move:
                    result = "created"
                elif move.state != "draft":
                    result = "posted"
                elif move.payflow_payload_hash == entry.get("payload_hash"):
                    result = "unchanged"
                else:
                    result = "replaced"
                answer["moves"].append(
                    {
                        "import_key": key,
                        "id": move.id if move else False,
                        "name": move.name if move else False,
                        "result": result,
                        "state": move.state if move else False,
                    }
                )
            return answer
        entries = []
        for entry in moves:
            lines = []
            for line in entry.get("lines") or []:
                line_vals = {
                    "account_id": accounts[line["account"]].id,
                    "name": line.get("name"),
                    "debit": line.get("debit") or 0.0,
                    "credit": line.get("credit") or 0.0,
                }
                index = line.get("analytic")
                if index not in (None, False) and str(index) in analytic:
                    line_vals["analytic_distribution"] = {str(analytic[str(index)]): 100.0}
                lines.append(Command.create(line_vals))
            entries.append(
                {
                    "import_key": entry.get("import_key"),
                    "payload_hash": entry.get("payload_hash"),
                    "vals": {
                        "move_type": "entry",
                        "journal_id": journal.id,
                        "company_id": company.id,
                        "date": entry.get("date"),
                        "ref": entry.get("ref"),
                        "line_ids": lines,
                    },
                    "attachment": attachment,
                    "message": entry.get("message"),
                }
            )
        answer["moves"] = self._payflow_write(entries, check_locks=False)
        answer["written"] = True
        return answer

    def _payflow_journal(self, company, code, problems):
        """The company's journal of that code (exact, else ignoring case), active and general."""
        journals = (
            self.env["account.journal"]
            .with_context(active_test=False)
            .search([("company_id", "=", company.id)])
        )
        listing = [[j.code, j.name, j.type, bool(j.active)] for j in journals]
        journal = journals.filtered(lambda j: j.code == code)[:1] or journals.filtered(
            lambda j: (j.code or "").lower() == (code or "").lower()
        )[:1]
        if not journal:
            problems.append({"kind": "journal", "code": code, "reason": "missing", "journals": listing})
            return None
        if not journal.active:
            problems.append({"kind": "journal", "code": code, "reason": "archived", "journals": listing})
            return None
        if journal.type != "general":
            problems.append(
                {"kind": "journal", "code": code, "reason": journal.type, "journals": listing}
            )
            return None
        return journal

    def _payflow_violated_locks(self, company, date, journal):
        """Odoo's own rule: ``_get_violated_lock_dates`` (18+ takes the journal; 17 does not)."""
        if release.version_info[0] >= 18:
            return company._get_violated_lock_dates(date, False, journal or self.env["account.journal"])
        return company._get_violated_lock_dates(date, False)

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
