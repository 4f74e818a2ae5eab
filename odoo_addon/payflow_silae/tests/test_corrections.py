import base64

from odoo import Command
from odoo.exceptions import UserError
from odoo.tests import TransactionCase, new_test_user, tagged


@tagged("post_install", "-at_install")
class TestCorrections(TransactionCase):
    """A corrected Silae payroll: a draft changed in Odoo is never replaced, an untouched one
    is rewritten in place, a posted one is told (``alert``) or adjusted (``adjust``)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.env.company
        cls.journal = cls.env["account.journal"].create(
            {"name": "Salaires PayFlow", "code": "PFCOR", "type": "general", "company_id": cls.company.id}
        )
        account = cls.env["account.account"].with_company(cls.company)
        cls.expense = account.create({"code": "641196", "name": "Salaires (corr)", "account_type": "expense"})
        cls.charges = account.create({"code": "645196", "name": "URSSAF (corr)", "account_type": "expense"})
        cls.payable = account.create(
            {"code": "421196", "name": "Personnel (corr)", "account_type": "liability_current"}
        )
        cls.accountant = new_test_user(
            cls.env, "pf_corr_accountant", name="Jeanne Comptable", groups="account.group_account_manager"
        )

    def _moves(self, salary=100.0, charges=0.0, payload_hash="h1"):
        lines = [{"account": "64119600", "name": "Salaires", "debit": salary, "credit": 0.0, "analytic": None}]
        if charges:
            lines.append({"account": "64519600", "name": "URSSAF", "debit": charges, "credit": 0.0, "analytic": None})
        lines.append({"account": "42119600", "name": "Net", "debit": 0.0, "credit": salary + charges, "analytic": None})
        return [{
            "import_key": "corr:k1", "payload_hash": payload_hash, "date": "2026-10-31",
            "ref": "SALAIRES OCTOBRE 2026", "message": "<p>PayFlow</p>", "lines": lines,
        }]

    def _plan(self, moves, corrections="alert", dry_run=False, env=None):
        env = env or self.env
        return env["account.move"].payflow_import_plan(
            self.company.id, "PFCOR", moves, dry_run=dry_run, key_prefix="corr:",
            corrections=corrections,
            attachment={"name": "silae.json", "datas": base64.b64encode(b"{}").decode()},
        )

    def _keyed(self, key="corr:k1"):
        return self.env["account.move"].search([("payflow_import_key", "=", key)])

    def _sums(self, moves):
        sums = {}
        for line in moves.line_ids:
            sums[line.account_id.code] = sums.get(line.account_id.code, 0) + round(line.balance * 100)
        return {k: v for k, v in sums.items() if v}

    def test_an_untouched_draft_is_rewritten_in_place(self):
        self._plan(self._moves())
        move = self._keyed()
        self.assertTrue(move.payflow_lines_hash)
        answer = self._plan(self._moves(salary=120.0, charges=30.0, payload_hash="h2"))
        self.assertEqual(answer["problems"], [])
        self.assertEqual((answer["moves"][0]["result"], answer["moves"][0]["id"]), ("replaced", move.id))
        self.assertEqual(self._keyed(), move, "same move, same id")
        self.assertEqual(move.payflow_payload_hash, "h2")
        self.assertEqual(self._sums(move), {"641196": 12000, "645196": 3000, "421196": -15000})
        # The rewrite is PayFlow's own: the next correction still replaces it.
        answer = self._plan(self._moves(salary=110.0, payload_hash="h3"))
        self.assertEqual(answer["moves"][0]["result"], "replaced")
        self.assertEqual(self._sums(move), {"641196": 11000, "421196": -11000})

    def test_a_draft_changed_by_another_user_is_never_replaced(self):
        self._plan(self._moves())
        move = self._keyed()
        line = move.line_ids.filtered(lambda l: l.account_id == self.expense)
        move.with_user(self.accountant).write(
            {"line_ids": [Command.update(line.id, {"name": "Salaires octobre (revu)"})]}
        )
        for dry_run in (True, False):
            answer = self._plan(self._moves(salary=120.0, charges=30.0, payload_hash="h2"), dry_run=dry_run)
            self.assertFalse(answer["written"])
            [problem] = answer["problems"]
            self.assertEqual(problem["kind"], "changed_in_odoo")
            self.assertEqual(problem["move"], {"id": move.id, "name": move.name})
            self.assertEqual(problem["changed_by"], "Jeanne Comptable")
            self.assertTrue(problem["changed_at"])
            self.assertIn("lines", problem["reasons"])
            diff = {d["account"]: d for d in problem["diff"]}
            self.assertEqual(sorted(diff), ["421196", "641196", "645196"])
            self.assertEqual((diff["641196"]["odoo_debit"], diff["641196"]["silae_debit"]), (10000, 12000))
            self.assertEqual((diff["645196"]["odoo_debit"], diff["645196"]["silae_debit"]), (0, 3000))
            self.assertEqual((diff["421196"]["odoo_credit"], diff["421196"]["silae_credit"]), (10000, 15000))
        self.assertEqual(line.name, "Salaires octobre (revu)")
        self.assertEqual(move.payflow_payload_hash, "h1")
        self.assertEqual(self._sums(move), {"641196": 10000, "421196": -10000})
        # The same payroll again: nothing to replace, nothing refused.
        self.assertEqual(self._plan(self._moves())["moves"][0]["result"], "unchanged")
        # payflow_import (the agent without payflow_import_plan) refuses it too.
        with self.assertRaises(UserError):
            self.env["account.move"].payflow_import([{
                "import_key": "corr:k1", "payload_hash": "h2",
                "vals": {"move_type": "entry", "journal_id": self.journal.id, "company_id": self.company.id,
                         "date": "2026-10-31", "line_ids": []},
            }])

    def test_an_edit_under_the_agent_s_own_login_an_attachment_or_a_note_count(self):
        Move = self.env["account.move"]
        self._plan(self._moves())
        move = self._keyed()
        # The amount changed under PayFlow's own login: the fingerprint tells.
        line = move.line_ids.filtered(lambda l: l.account_id == self.expense)
        other = move.line_ids - line
        move.write({"line_ids": [Command.update(line.id, {"debit": 90.0}), Command.update(other.id, {"credit": 90.0})]})
        problems = self._plan(self._moves(salary=120.0, payload_hash="h2"))["problems"]
        self.assertEqual([(p["kind"], p["reasons"]) for p in problems], [("changed_in_odoo", ["lines"])])
        move.unlink()
        self._plan(self._moves())
        move = self._keyed()
        self.env["ir.attachment"].with_user(self.accountant).create(
            {"name": "justificatif.pdf", "datas": base64.b64encode(b"%PDF").decode(),
             "res_model": "account.move", "res_id": move.id}
        )
        problems = self._plan(self._moves(salary=120.0, payload_hash="h2"))["problems"]
        self.assertEqual([p["kind"] for p in problems], ["changed_in_odoo"])
        self.assertIn("attachment", problems[0]["reasons"])
        move.unlink()
        self._plan(self._moves())
        move = Move.browse(self._keyed().id)
        move.with_user(self.accountant).message_post(body="Vu avec le client", message_type="comment")
        problems = self._plan(self._moves(salary=120.0, payload_hash="h2"))["problems"]
        self.assertEqual([p["kind"] for p in problems], ["changed_in_odoo"])
        self.assertIn("message", problems[0]["reasons"])

    def test_a_posted_move_silae_corrected_is_told_by_default(self):
        self._plan(self._moves())
        move = self._keyed()
        move.action_post()
        answer = self._plan(self._moves(salary=120.0, charges=30.0, payload_hash="h2"))
        self.assertFalse(answer["written"])
        [problem] = answer["problems"]
        self.assertEqual((problem["kind"], problem["state"], problem["adjustments"]), ("posted_changed", "posted", []))
        self.assertEqual(len(problem["diff"]), 3)
        self.assertEqual(self._keyed(), move)
        self.assertEqual(self._sums(move), {"641196": 10000, "421196": -10000})
        self.assertFalse(self._keyed("corr:k1:regul-1"))
        # Labels only changed: the amounts are Silae's, nothing to tell.
        same = self._moves(payload_hash="h4")
        same[0]["lines"][0]["name"] = "Salaires de base"
        self.assertEqual(self._plan(same)["problems"], [])

    def test_adjust_books_exactly_the_difference_once(self):
        self._plan(self._moves())
        original = self._keyed()
        original.action_post()
        preview = self._plan(self._moves(salary=120.0, charges=30.0, payload_hash="h2"), "adjust", dry_run=True)
        self.assertEqual(preview["problems"], [])
        self.assertEqual(
            [(r["import_key"], r["result"]) for r in preview["moves"]],
            [("corr:k1", "posted"), ("corr:k1:regul-1", "created")],
        )
        self.assertFalse(self._keyed("corr:k1:regul-1"))
        answer = self._plan(self._moves(salary=120.0, charges=30.0, payload_hash="h2"), "adjust")
        self.assertTrue(answer["written"], answer["problems"])
        rows = {r["import_key"]: r for r in answer["moves"]}
        self.assertEqual(rows["corr:k1"]["result"], "posted")
        self.assertEqual(rows["corr:k1:regul-1"]["result"], "created")
        adjustment = self._keyed("corr:k1:regul-1")
        self.assertEqual(rows["corr:k1:regul-1"]["id"], adjustment.id)
        self.assertEqual(adjustment.state, "draft")
        self.assertEqual(adjustment.journal_id, original.journal_id)
        self.assertEqual(adjustment.ref, "REGULARISATION SALAIRES OCTOBRE 2026")
        self.assertEqual(adjustment.payflow_adjusted_move_id, original)
        self.assertEqual(self._sums(adjustment), {"641196": 2000, "645196": 3000, "421196": -5000})
        self.assertEqual(self._sums(original), {"641196": 10000, "421196": -10000}, "never touched")
        self.assertEqual(self._sums(original | adjustment), {"641196": 12000, "645196": 3000, "421196": -15000})
        self.assertIn(str(adjustment.id), original.message_ids[0].body)
        self.assertIn(str(original.id), adjustment.message_ids[0].body)
        # A re-run creates nothing more, whether the adjustment is posted or not.
        again = self._plan(self._moves(salary=120.0, charges=30.0, payload_hash="h2"), "adjust")
        self.assertEqual([r["result"] for r in again["moves"]], ["posted"])
        adjustment.action_post()
        again = self._plan(self._moves(salary=120.0, charges=30.0, payload_hash="h2"), "adjust")
        self.assertEqual([r["result"] for r in again["moves"]], ["posted"])
        # Silae corrects again: the second adjustment holds the new difference only.
        answer = self._plan(self._moves(salary=125.0, charges=30.0, payload_hash="h3"), "adjust")
        second = self._keyed("corr:k1:regul-2")
        self.assertEqual(self._sums(second), {"641196": 500, "421196": -500})
        self.assertEqual(
            self._sums(original | adjustment | second), {"641196": 12500, "645196": 3000, "421196": -15500}
        )
        self.assertEqual(original.payflow_adjustment_ids, adjustment | second)
        # In alert mode the adjustments count: nothing more to tell.
        self.assertEqual(self._plan(self._moves(salary=125.0, charges=30.0, payload_hash="h3"))["problems"], [])
