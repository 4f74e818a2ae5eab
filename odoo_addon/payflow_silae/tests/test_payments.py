"""Salary payments in Odoo (docs/payments.md): the payroll move's chatter links its payment
moves as soon as they are imported, before anything is posted."""

from odoo import Command
from odoo.tests import TransactionCase, tagged

PREFIX = "silae:100200:2026-10:"


@tagged("post_install", "-at_install")
class TestPaymentLinks(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        company = cls.env.company
        Journal = cls.env["account.journal"]
        cls.payroll_journal = Journal.create(
            {"name": "Salaires PayFlow", "code": "PFSAL", "type": "general", "company_id": company.id}
        )
        cls.bank = Journal.create(
            {"name": "Virements PayFlow", "code": "PFVIR", "type": "general", "company_id": company.id}
        )
        Account = cls.env["account.account"].with_company(company)
        cls.expense = Account.create({"code": "641191", "name": "Salaires (test)", "account_type": "expense"})
        cls.net_pay = Account.create(
            {"code": "421191", "name": "Net à payer (test)", "account_type": "liability_current", "reconcile": True}
        )
        cls.cash = Account.create(
            {"code": "512191", "name": "Banque (test)", "account_type": "asset_current"}
        )

    def _entry(self, part, ref, journal, debit_account, credit_account, amount):
        return {
            "import_key": PREFIX + part,
            "payload_hash": part,
            "vals": {
                "move_type": "entry",
                "journal_id": journal.id,
                "company_id": journal.company_id.id,
                "date": "2026-10-31",
                "ref": ref,
                "line_ids": [
                    Command.create({"account_id": debit_account.id, "name": ref, "debit": amount, "credit": 0.0}),
                    Command.create({"account_id": credit_account.id, "name": ref, "debit": 0.0, "credit": amount}),
                ],
            },
        }

    def _payroll(self):
        return self._entry("paie", "SALAIRES OCTOBRE 2026", self.payroll_journal, self.expense, self.net_pay, 300.0)

    def _batch(self, number, amount):
        ref = f"VIREMENTS SALAIRES OCTOBRE 2026 - LOT {number}"
        return self._entry(f"virement-{number}", ref, self.bank, self.net_pay, self.cash, amount)

    def _notes(self, move):
        return move.message_ids.filtered(lambda m: "data-oe-id" in (m.body or "")).mapped("body")

    def test_the_payroll_links_its_payments_once_imported(self):
        Move = self.env["account.move"]
        advances = self._entry("acomptes", "ACOMPTES OCTOBRE 2026", self.bank, self.net_pay, self.cash, 50.0)
        results = Move.payflow_import([self._payroll(), self._batch(1, 150.0), advances])
        ids = {r["import_key"][len(PREFIX):]: r["id"] for r in results}
        payroll = Move.browse(ids["paie"])
        notes = self._notes(payroll)
        self.assertEqual(len(notes), 1, notes)
        for part in ("virement-1", "acomptes"):
            self.assertIn(f'data-oe-id="{ids[part]}"', notes[0])
        self.assertIn("LOT 1", notes[0])
        self.assertEqual(set(Move.browse(ids.values()).mapped("state")), {"draft"}, "nothing posted")

        # The late batch: a new note lists all three; the same import again adds nothing.
        late = Move.payflow_import([self._payroll(), self._batch(1, 150.0), advances, self._batch(2, 100.0)])
        lot2 = next(r["id"] for r in late if r["import_key"].endswith("virement-2"))
        payroll.invalidate_recordset()
        notes = self._notes(payroll)
        self.assertEqual(len(notes), 2, notes)
        latest = payroll.message_ids.filtered(lambda m: "data-oe-id" in (m.body or ""))[:1].body
        for move_id in (ids["virement-1"], ids["acomptes"], lot2):
            self.assertIn(f'data-oe-id="{move_id}"', latest)
        Move.payflow_import([self._payroll(), self._batch(1, 150.0), advances, self._batch(2, 100.0)])
        payroll.invalidate_recordset()
        self.assertEqual(len(self._notes(payroll)), 2, "unchanged moves say nothing again")

    def test_a_payroll_alone_has_no_payment_note(self):
        results = self.env["account.move"].payflow_import([self._payroll()])
        payroll = self.env["account.move"].browse(results[0]["id"])
        self.assertFalse(self._notes(payroll))
