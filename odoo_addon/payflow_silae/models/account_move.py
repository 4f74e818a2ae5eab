import re

from markupsafe import Markup, escape

from odoo import Command, _, api, fields, models, release
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
        return self._payflow_write(moves, check_locks=True)

    def _payflow_write(self, moves, check_locks, found=None):
        """Writes the entries of ``payflow_import`` (see there), in the caller's transaction.
        ``found``: the moves already under the keys, by key, when the caller searched them
        (``payflow_import_plan``, in this transaction): not searched again."""
        results = []
        for entry in moves:
            key = entry.get("import_key")
            vals = dict(entry.get("vals") or {})
            if not key or not vals:
                raise UserError(_("Each PayFlow move needs an import key and values."))
            company_id = vals.get("company_id") or self.env.company.id
            if check_locks:
                self._payflow_check_lock_dates(company_id, vals.get("date"))
            if found is not None:
                existing = found.get(key) or self.browse()
            else:
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
                # A draft someone changed is never replaced (docs/odoo-protocol.md).
                existing._payflow_refuse_changed()
                result = "replaced"
            vals.update(
                payflow_import_key=key, payflow_payload_hash=entry.get("payload_hash")
            )
            # An untouched draft keeps its id: its lines are rewritten in place.
            if existing and existing._payflow_rewrite(vals, entry):
                results.append(self._payflow_result(key, existing, result))
                continue
            if existing:
                existing.unlink()
            # PayFlow's own chatter note below says where the move comes from: no automatic
            # "created" log, and the agent's user does not follow every payroll move.
            move = (
                self.with_company(company_id)
                .with_context(mail_create_nolog=True, mail_create_nosubscribe=True)
                .create(vals)
            )
            move._payflow_stamp()
            move._payflow_evidence(entry)
            results.append(self._payflow_result(key, move, result))
        self._payflow_link_payments(results)
        # Constraint violations surface here, inside the call, not at commit time.
        self.env.flush_all()
        return results

    def _payflow_evidence(self, entry):
        """Attaches Silae's answer of ``entry`` to this move and logs its PayFlow note."""
        self.ensure_one()
        attachment = entry.get("attachment")
        if attachment:
            self.env["ir.attachment"].create(
                {
                    "name": attachment.get("name") or "silae.json",
                    "datas": attachment.get("datas"),
                    "mimetype": attachment.get("mimetype") or "application/json",
                    "res_model": "account.move",
                    "res_id": self.id,
                }
            )
        if entry.get("message"):
            self._message_log(body=Markup(entry["message"]))

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
        key_prefix=None,
        corrections="alert",
        partner_map=None,
    ):
        """The whole import of one period in one call and one transaction.

        ``moves`` holds the plans as Silae gives them: ``import_key`` (and ``legacy_key``, the
        key it had before it was keyed on its establishment, or None), ``journal`` (the Odoo
        journal code of this move; ``journal_code`` when absent), ``payload_hash``, ``date``,
        ``ref``, ``lines`` (``account`` = Silae's code, ``name``, ``debit``, ``credit``,
        ``analytic`` = Silae's repartition index or None) and ``message``; ``attachment``
        (Silae's JSON) is attached to each move created; ``key_prefix`` is the prefix of every
        key of this dossier and period; ``partner_map`` (Silae code -> partner reference, VAT
        number or exact name) puts a partner on that account's lines. One step each, in this
        order: the company, the journals, the accounts, the analytic accounts, the partners,
        Odoo's own lock dates, the moves already
        there (under their key or their legacy key) and the period's keys (a rupture that looks
        renamed is refused). Then either every problem is answered at once and nothing is
        written, or each move is created / its draft replaced / left as it is (see
        ``payflow_import``). With ``dry_run`` nothing is ever written: the answer says what
        would be done, in the same shape. ``corrections`` (``alert`` or ``adjust``) is the
        dossier's answer to a posted move Silae corrected; a draft changed in Odoo is never
        replaced (``payflow_corrections``). docs/odoo-protocol.md describes the answer.
        """
        problems = []
        answer = {
            "series": release.version_info[0],
            "company": False,
            "journal": False,
            "journals": {},
            "accounts": {},
            "analytic": {},
            "partners": {},
            "problems": problems,
            "moves": [],
            "period_keys": [],
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
        moves = [dict(entry, journal=entry.get("journal") or journal_code) for entry in moves]
        payment_codes = {m["journal"] for m in moves if m.get("payment")}
        journals = self._payflow_journals(
            company, [journal_code] + [m["journal"] for m in moves], problems, payment_codes
        )
        if journal_code in journals:
            answer["journal"] = {"id": journals[journal_code].id, "code": journals[journal_code].code}
        answer["journals"] = {code: {"id": j.id, "code": j.code} for code, j in journals.items()}
        accounts = self._payflow_accounts(company, moves, account_map or {}, problems)
        answer["accounts"] = {code: {"id": a.id, "code": a.code} for code, a in accounts.items()}
        analytic = self._payflow_analytic(company, moves, analytic_map or {}, problems)
        answer["analytic"] = analytic
        partners = self._payflow_partners(company, moves, partner_map or {}, problems)
        answer["partners"] = {code: {"id": p.id, "name": p.name} for code, p in partners.items()}
        self._payflow_lock_problems(company, moves, journals, problems)
        existing = self._payflow_existing(company, moves)
        answer["moves"] = [self._payflow_planned(entry, existing.get(entry["import_key"])) for entry in moves]
        adjustments = self._payflow_corrections(company, moves, existing, accounts, analytic, corrections, problems)
        answer["moves"] += self._payflow_adjustment_rows(adjustments)
        answer["period_keys"] = self._payflow_period_keys(company, key_prefix, moves, problems)
        if problems or dry_run:
            return answer
        entries = [
            self._payflow_entry(company, entry, journals, accounts, analytic, entry.get("attachment") or attachment)
            for entry in moves
        ]
        self._payflow_set_partners(entries, moves, partners)
        answer["moves"] = self._payflow_write(entries, check_locks=False, found=existing)
        answer["moves"] += self._payflow_write_adjustments(company, adjustments, attachment)
        answer["written"] = True
        return answer

    def _payflow_journals(self, company, codes, problems, payment_codes=()):
        """Each asked code's journal of the company (exact code, else ignoring case), active and
        general (a salary payments journal, in ``payment_codes``, may also be a bank or cash
        journal); a problem per code that has none."""
        journals = (
            self.env["account.journal"]
            .with_context(active_test=False)
            .search([("company_id", "=", company.id)])
        )
        listing = [[j.code, j.name, j.type, bool(j.active)] for j in journals]
        found = {}
        for code in dict.fromkeys(codes):
            journal = journals.filtered(lambda j, c=code: j.code == c)[:1] or journals.filtered(
                lambda j, c=code: (j.code or "").lower() == (c or "").lower()
            )[:1]
            reason = None
            if not journal:
                reason = "missing"
            elif not journal.active:
                reason = "archived"
            elif journal.type != "general" and not (code in payment_codes and journal.type in ("bank", "cash")):
                reason = journal.type
            if reason:
                problems.append({"kind": "journal", "code": code, "reason": reason, "journals": listing})
            else:
                found[code] = journal
        return found

    def _payflow_accounts(self, company, moves, account_map, problems):
        """Every Silae code's account, in one search: the dossier's map entry alone when it has
        one, else the code, then without its trailing zeros down to six digits."""

        def candidates(code):
            if code in account_map:
                return [account_map[code]]
            out = [code]
            while len(code) > 6 and code.endswith("0"):
                code = code[:-1]
                out.append(code)
            return out

        silae_codes = list(
            dict.fromkeys(line.get("account") for entry in moves for line in entry.get("lines") or [])
        )
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
            else:
                problems.append({"kind": "account", "silae_code": code, "tried": tried[code]})
        return accounts

    def _payflow_analytic(self, company, moves, analytic_map, problems):
        """Each repartition index used: its analytic account's id (by code, else by name)."""
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
        if not used or not analytic_map:
            return analytic
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
            else:
                problems.append({"kind": "analytic", "index": index, "name": name})
        return analytic

    def _payflow_partners(self, company, moves, partner_map, problems):
        """Each used Silae code's partner from ``partner_map``, in one search: the partners (of
        the company or shared) with that exact reference, else that VAT number, else that exact
        name; exactly one, else a problem (none found, or several: ``found`` lists them)."""
        used = {line.get("account") for entry in moves for line in entry.get("lines") or []}
        wanted = {code: text for code, text in partner_map.items() if code in used and text}
        if not wanted:
            return {}
        texts = sorted(set(wanted.values()))
        Partner = self.env["res.partner"].with_company(company)
        rows = Partner.search(
            ["|", "|", ("ref", "in", texts), ("vat", "in", texts), ("name", "in", texts)]
            + [("company_id", "in", [company.id, False])]
        )
        partners = {}
        for code, text in sorted(wanted.items()):
            hits = Partner
            for field in ("ref", "vat", "name"):
                hits = rows.filtered(lambda p, f=field, t=text: p[f] == t)
                if hits:
                    break
            if len(hits) == 1:
                partners[code] = hits
            else:
                problems.append(
                    {
                        "kind": "partner",
                        "silae_code": code,
                        "partner": text,
                        "found": [[p.id, p.name] for p in hits],
                    }
                )
        return partners

    @api.model
    def _payflow_set_partners(self, entries, moves, partners):
        """Puts each line's partner (``_payflow_partners``) on the resolved move values."""
        if not partners:
            return
        for entry, plan in zip(entries, moves):
            for command, line in zip(entry["vals"]["line_ids"], plan.get("lines") or []):
                partner = partners.get(line.get("account"))
                if partner:
                    command[2]["partner_id"] = partner.id

    def _payflow_lock_problems(self, company, moves, journals, problems):
        """Odoo's own lock date rules, once per date (over the journals of that date's moves)."""
        for date in sorted({entry.get("date") for entry in moves if entry.get("date")}):
            violated = set()
            for code in dict.fromkeys(m["journal"] for m in moves if m.get("date") == date):
                locks = self._payflow_violated_locks(company, fields.Date.to_date(date), journals.get(code))
                violated.update((lock, str(name)) for lock, name in locks)
            if violated:
                violated = sorted(violated)
                problems.append(
                    {
                        "kind": "locked",
                        "date": date,
                        "lock_date": fields.Date.to_string(violated[-1][0]),
                        "locks": [[fields.Date.to_string(d), name] for d, name in violated],
                    }
                )

    def _payflow_existing(self, company, moves):
        """The moves already carrying the keys, by key. A move Odoo holds under its legacy key
        only (imported before it was keyed on its establishment) keeps that key: ``moves`` is
        changed in place so that it is found, never doubled."""
        keys = [k for entry in moves for k in (entry.get("import_key"), entry.get("legacy_key")) if k]
        existing = {
            m.payflow_import_key: m
            for m in self.with_company(company).search(
                [("payflow_import_key", "in", keys), ("company_id", "=", company.id)]
            )
        }
        for entry in moves:
            legacy = entry.get("legacy_key")
            if legacy and entry.get("import_key") not in existing and legacy in existing:
                entry["import_key"] = legacy
        return existing

    def _payflow_period_keys(self, company, key_prefix, moves, problems):
        """Every key Odoo holds for this dossier and period; a problem when a move's key is new
        while Odoo holds a key no move has (the rupture looks renamed: never a second move)."""
        if not key_prefix:
            return []
        period_keys = self.with_company(company).search(
            [("payflow_import_key", "=like", key_prefix + "%"), ("company_id", "=", company.id)]
        ).mapped("payflow_import_key")
        ours = {k for entry in moves for k in (entry.get("import_key"), entry.get("legacy_key")) if k}
        # Salary payments (their own keys, one per batch) never look like a renamed rupture.
        orphans = [
            k for k in period_keys if k not in ours and not PAYMENT_KEY.match(k) and ":regul-" not in k
        ]
        new = [
            entry["import_key"]
            for entry in moves
            if entry["import_key"] not in period_keys and not entry.get("payment")
        ]
        if orphans and new:
            problems.append({"kind": "renamed", "keys": new, "orphans": orphans})
        return period_keys

    def _payflow_planned(self, entry, move):
        """What writing ``entry`` would do, ``move`` being the one already under its key."""
        if not move:
            result = "created"
        elif move.state != "draft":
            result = "posted"
        elif move.payflow_payload_hash == entry.get("payload_hash"):
            result = "unchanged"
        else:
            result = "replaced"
        return {
            "import_key": entry["import_key"],
            "id": move.id if move else False,
            "name": move.name if move else False,
            "result": result,
            "state": move.state if move else False,
        }

    def _payflow_entry(self, company, entry, journals, accounts, analytic, attachment):
        """``entry`` as ``payflow_import`` takes it: the resolved move values."""
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
        return {
            "import_key": entry["import_key"],
            "payload_hash": entry.get("payload_hash"),
            "vals": {
                "move_type": "entry",
                "journal_id": journals[entry["journal"]].id,
                "company_id": company.id,
                "date": entry.get("date"),
                "ref": entry.get("ref"),
                "line_ids": lines,
            },
            "attachment": attachment,
            "message": entry.get("message"),
        }

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

    # -- salary payments: the payroll's chatter links its payment moves once imported ----------

    def _payflow_move_link(self):
        """A link to this move in the chatter: its number and its reference."""
        self.ensure_one()
        number = self.name if self.name and self.name != "/" else ""
        text = f"{number} ({self.ref})" if number and self.ref else (number or self.ref or str(self.id))
        return Markup('<a href="#" data-oe-model="account.move" data-oe-id="%s">%s</a>') % (self.id, text)

    def _payflow_link_payments(self, results):
        """After a write (``_payflow_write``'s results): for each period where payment moves
        were created or replaced, the payroll moves' chatter lists all the period's payment
        moves, with links. Logged, never sent."""
        periods = set()
        for result in results:
            key = result.get("import_key") or ""
            if result.get("result") in ("created", "replaced") and PAYMENT_KEY.match(key):
                move = self.browse(result["id"])
                periods.add((move.company_id.id, PERIOD_PREFIX.match(key).group(1)))
        for company_id, prefix in sorted(periods):
            payroll, payments = self._payflow_period_moves(company_id, prefix)
            if not payroll:
                continue
            links = Markup(", ").join(m._payflow_move_link() for m in payments.sorted("id"))
            body = escape(_("Salary payments imported from Silae for this payroll: %(moves)s.")) % {
                "moves": links
            }
            for move in payroll:
                move._message_log(body=body)
