import base64
from unittest.mock import patch

from psycopg2 import IntegrityError

from odoo import Command
from odoo.exceptions import UserError
from odoo.tests import TransactionCase, tagged
from odoo.tools import mute_logger


@tagged("post_install", "-at_install")
class TestPayflowImport(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.env.company
        cls.journal = cls._journal(cls.company)
        cls.expense, cls.payable = cls._accounts(cls.company, "1")

    @classmethod
    def _journal(cls, company):
        return cls.env["account.journal"].create(
            {"name": "Salaires PayFlow", "code": "PFSAL", "type": "general", "company_id": company.id}
        )

    @classmethod
    def _accounts(cls, company, suffix):
        account = cls.env["account.account"].with_company(company)
        expense = account.create(
            {"code": "64119" + suffix, "name": "Salaires (test)", "account_type": "expense"}
        )
        payable = account.create(
            {"code": "42119" + suffix, "name": "Personnel (test)", "account_type": "liability_current"}
        )
        return expense, payable

    def _vals(self, amount=100.0, journal=None, accounts=None, credit=None):
        journal = journal or self.journal
        expense, payable = accounts or (self.expense, self.payable)
        return {
            "move_type": "entry",
            "journal_id": journal.id,
            "company_id": journal.company_id.id,
            "date": "2026-10-31",
            "ref": "SALAIRES OCTOBRE 2026",
            "line_ids": [
                Command.create({"account_id": expense.id, "name": "Salaires", "debit": amount, "credit": 0.0}),
                Command.create({"account_id": payable.id, "name": "Net à payer", "debit": 0.0,
                        "credit": amount if credit is None else credit}),
            ],
        }

    def _entry(self, key, payload_hash="h1", amount=100.0, **kw):
        return {
            "import_key": key,
            "payload_hash": payload_hash,
            "vals": self._vals(amount, **kw),
            "attachment": {"name": "silae-100200-2026-10.json",
                           "datas": base64.b64encode(b'{"ruptures": []}').decode()},
            "message": "<p>Import\u00e9 de Silae par PayFlow</p>",
        }

    def test_import_creates_the_move_with_its_key_payload_and_message(self):
        result = self.env["account.move"].payflow_import([self._entry("silae:100200:2026-10:paris")])
        self.assertEqual(result[0]["result"], "created")
        move = self.env["account.move"].browse(result[0]["id"])
        self.assertEqual(move.payflow_import_key, "silae:100200:2026-10:paris")
        self.assertEqual(move.payflow_payload_hash, "h1")
        self.assertEqual(move.state, "draft")
        self.assertEqual(move.journal_id, self.journal)
        self.assertAlmostEqual(sum(move.line_ids.mapped("debit")), 100.0)
        attachments = self.env["ir.attachment"].search(
            [("res_model", "=", "account.move"), ("res_id", "=", move.id)]
        )
        self.assertEqual(attachments.mapped("name"), ["silae-100200-2026-10.json"])
        self.assertIn("PayFlow", move.message_ids[0].body)
        imported = self.env["account.move"].search([("payflow_import_key", "!=", False)])
        self.assertIn(move, imported)

    def test_same_payload_is_unchanged_corrected_draft_replaced_posted_untouched(self):
        Move = self.env["account.move"]
        first = Move.payflow_import([self._entry("k1")])[0]
        again = Move.payflow_import([self._entry("k1")])[0]
        self.assertEqual((again["result"], again["id"]), ("unchanged", first["id"]))
        corrected = Move.payflow_import([self._entry("k1", "h2", amount=110.0)])[0]
        self.assertEqual(corrected["result"], "replaced")
        # An untouched draft keeps its id: its lines are rewritten in place.
        self.assertEqual(corrected["id"], first["id"])
        new = Move.browse(corrected["id"])
        self.assertAlmostEqual(sum(new.line_ids.mapped("debit")), 110.0)
        new.action_post()
        posted = Move.payflow_import([self._entry("k1", "h3", amount=120.0)])[0]
        self.assertEqual((posted["result"], posted["id"], posted["state"]), ("posted", new.id, "posted"))
        self.assertAlmostEqual(sum(new.line_ids.mapped("debit")), 110.0)
        self.assertEqual(Move.search_count([("payflow_import_key", "=", "k1")]), 1)

    def test_the_key_is_unique_per_company(self):
        Move = self.env["account.move"]
        Move.create(dict(self._vals(), payflow_import_key="dup"))
        with mute_logger("odoo.sql_db"), self.assertRaises(IntegrityError), self.env.cr.savepoint():
            Move.create(dict(self._vals(), payflow_import_key="dup"))
            self.env.flush_all()
        # Several moves without key are fine.
        Move.create(self._vals())
        Move.create(self._vals())
        self.env.flush_all()

    def test_same_key_in_another_company_is_allowed(self):
        other = self.env["res.company"].create({"name": "PayFlow Filiale"})
        self.env.user.company_ids |= other
        journal = self._journal(other)
        accounts = self._accounts(other, "2")
        Move = self.env["account.move"]
        Move.create(dict(self._vals(), payflow_import_key="shared"))
        Move.with_company(other).create(dict(self._vals(journal=journal, accounts=accounts), payflow_import_key="shared"))
        self.env.flush_all()
        self.assertEqual(Move.search_count([("payflow_import_key", "=", "shared")]), 2)

    def test_a_copy_does_not_carry_the_key(self):
        move = self.env["account.move"].create(dict(self._vals(), payflow_import_key="original"))
        self.assertFalse(move.copy().payflow_import_key)

    def test_one_bad_move_writes_none(self):
        Move = self.env["account.move"]
        with self.assertRaises(UserError), self.env.cr.savepoint():
            Move.payflow_import([self._entry("good"), self._entry("bad", credit=90.0)])
        self.assertFalse(Move.search([("payflow_import_key", "in", ["good", "bad"])]))

    def test_a_period_inside_the_lock_date_is_refused(self):
        self.company.fiscalyear_lock_date = "2026-12-31"
        with self.assertRaises(UserError):
            self.env["account.move"].payflow_import([self._entry("locked")])
        self.assertFalse(self.env["account.move"].search([("payflow_import_key", "=", "locked")]))

    def test_an_entry_without_key_is_refused(self):
        with self.assertRaises(UserError):
            self.env["account.move"].payflow_import([{"vals": self._vals()}])


@tagged("post_install", "-at_install")
class TestPayflowImportPlan(TransactionCase):
    """payflow_import_plan: the whole import in one call and one transaction."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.env.company
        cls.journal = cls.env["account.journal"].create(
            {"name": "Salaires PayFlow", "code": "PFPLN", "type": "general", "company_id": cls.company.id}
        )
        account = cls.env["account.account"].with_company(cls.company)
        cls.expense = account.create({"code": "641197", "name": "Salaires (plan)", "account_type": "expense"})
        cls.payable = account.create(
            {"code": "421197", "name": "Personnel (plan)", "account_type": "liability_current"}
        )

    def _moves(self, payable="42119700", amount=100.0, key="plan:k1", payload_hash="h1"):
        return [{
            "import_key": key, "payload_hash": payload_hash, "date": "2026-10-31", "ref": "SALAIRES",
            "message": "<p>PayFlow</p>",
            "lines": [
                {"account": "64119700", "name": "Salaires", "debit": amount, "credit": 0.0, "analytic": None},
                {"account": payable, "name": "Net", "debit": 0.0, "credit": amount, "analytic": None},
            ],
        }]

    def _plan(self, moves, journal_code="PFPLN", dry_run=False, account_map=None, key_prefix=None):
        return self.env["account.move"].payflow_import_plan(
            self.company.id,
            journal_code,
            moves,
            account_map=account_map or {},
            dry_run=dry_run,
            key_prefix=key_prefix,
        )

    def _keyed(self):
        return self.env["account.move"].search([("payflow_import_key", "=", "plan:k1")])

    def test_every_problem_is_answered_and_nothing_written(self):
        answer = self._plan(self._moves(payable="99999910"), journal_code="NOPE")
        kinds = [p["kind"] for p in answer["problems"]]
        self.assertEqual(kinds, ["journal", "account"])
        self.assertEqual(answer["problems"][1]["tried"], ["99999910", "9999991"])
        self.assertEqual(answer["accounts"]["64119700"]["id"], self.expense.id)
        self.assertFalse(answer["written"])
        self.assertFalse(self._keyed())

    def test_a_preview_writes_nothing_then_the_import_creates_then_unchanged(self):
        preview = self._plan(self._moves(), dry_run=True)
        self.assertEqual(preview["problems"], [])
        self.assertEqual(preview["moves"][0]["result"], "created")
        self.assertFalse(self._keyed())
        answer = self._plan(self._moves())
        self.assertTrue(answer["written"])
        move = self._keyed()
        self.assertEqual(answer["moves"][0]["id"], move.id)
        self.assertEqual(move.journal_id, self.journal)
        self.assertEqual(sorted(move.line_ids.account_id.ids), sorted((self.expense | self.payable).ids))
        self.assertEqual(self._plan(self._moves())["moves"][0]["result"], "unchanged")
        replaced = self._plan(self._moves(amount=120.0, payload_hash="h2"))
        self.assertEqual(replaced["moves"][0]["result"], "replaced")
        self.assertEqual(len(self._keyed()), 1)

    def test_the_map_wins_and_odoo_s_lock_dates_refuse(self):
        answer = self._plan(self._moves(payable="43730000"), dry_run=True, account_map={"43730000": "421197"})
        self.assertEqual(answer["accounts"]["43730000"]["id"], self.payable.id)
        self.company.fiscalyear_lock_date = "2026-12-31"
        answer = self._plan(self._moves())
        locked = [p for p in answer["problems"] if p["kind"] == "locked"]
        self.assertEqual(locked[0]["lock_date"], "2026-12-31")
        self.assertFalse(answer["written"])
        self.assertFalse(self._keyed())

    def test_each_move_goes_to_its_own_journal_and_a_missing_one_is_a_problem(self):
        second = self.env["account.journal"].create(
            {"name": "Paie (OD)", "code": "PFOD", "type": "general", "company_id": self.company.id}
        )
        moves = self._moves() + self._moves(key="plan:k1~pb")
        moves[1]["journal"] = "PFOD"
        answer = self._plan(moves)
        self.assertTrue(answer["written"], answer["problems"])
        self.assertEqual(answer["journals"]["PFOD"]["id"], second.id)
        by_key = {m.payflow_import_key: m.journal_id for m in self.env["account.move"].search(
            [("payflow_import_key", "in", ["plan:k1", "plan:k1~pb"])]
        )}
        self.assertEqual(by_key, {"plan:k1": self.journal, "plan:k1~pb": second})
        moves[1]["journal"] = "NOPE2"
        moves[1]["payload_hash"] = "h9"
        answer = self._plan(moves)
        problems = [(p["kind"], p.get("code")) for p in answer["problems"]]
        self.assertEqual(problems, [("journal", "NOPE2")])
        self.assertFalse(answer["written"])

    def test_the_keys_are_searched_once_per_call(self):
        """The write step takes the moves the plan step found: no second search of the keys."""
        Move = type(self.env["account.move"])
        original = Move.search
        keyed = []

        def spy(records, domain, *args, **kwargs):
            if any(isinstance(t, (list, tuple)) and t[0] == "payflow_import_key" for t in domain):
                keyed.append(domain)
            return original(records, domain, *args, **kwargs)

        for amount, payload_hash, result in ((100.0, "h1", "created"), (120.0, "h2", "replaced")):
            keyed.clear()
            with patch.object(Move, "search", spy):
                answer = self._plan(self._moves(amount=amount, payload_hash=payload_hash))
            self.assertEqual(answer["moves"][0]["result"], result)
            self.assertEqual(len(keyed), 1, keyed)
        self.assertEqual(len(self._keyed()), 1)
        self.assertEqual(self._keyed().amount_total, 120.0)

    def test_a_move_held_under_its_legacy_key_is_found_and_a_rename_refused(self):
        self._plan(self._moves())
        move = self._keyed()
        rekeyed = self._moves(key="plan:k1:siret-1")
        rekeyed[0]["legacy_key"] = "plan:k1"
        for dry_run in (True, False):
            answer = self._plan(rekeyed, dry_run=dry_run, key_prefix="plan:")
            self.assertEqual(answer["problems"], [])
            self.assertEqual(answer["period_keys"], ["plan:k1"])
            row = answer["moves"][0]
            self.assertEqual((row["import_key"], row["id"], row["result"]), ("plan:k1", move.id, "unchanged"))
        self.assertEqual(self.env["account.move"].search_count([("payflow_import_key", "=like", "plan:%")]), 1)
        answer = self._plan(self._moves(key="plan:renamed"), key_prefix="plan:")
        self.assertEqual(
            answer["problems"], [{"kind": "renamed", "keys": ["plan:renamed"], "orphans": ["plan:k1"]}]
        )
        self.assertFalse(answer["written"])
        self.assertEqual(self.env["account.move"].search_count([("payflow_import_key", "=like", "plan:%")]), 1)
