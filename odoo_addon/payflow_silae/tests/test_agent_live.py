"""The addon against the real agent binary, itself against the Silae simulator and this Odoo.

HttpCase: Odoo's HTTP server runs in test mode and the agent's calls back into Odoo share this
test's transaction. While the agent works, the test thread polls the agent only (no SQL).
"""

import contextlib
import logging
import time

from psycopg2 import IntegrityError

from odoo import Command
from odoo.exceptions import UserError
from odoo.release import version_info
from odoo.tests import HttpCase, tagged
from odoo.tools import mute_logger

from odoo.addons.payflow_silae.models.payflow_agent import NOT_FOUND, AgentError, rpc_call

from .common import LiveAgent, closed_port, payroll_setup

_logger = logging.getLogger(__name__)


@tagged("post_install", "-at_install")
class TestAgentLive(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.agent = LiveAgent()
        cls.skip_reason = cls.agent.start(cls.base_url(), cls.env.cr.dbname, cls._odoo_secret())
        if cls.skip_reason:
            _logger.warning("PayFlow live tests not run: %s", cls.skip_reason)
            return
        cls.addClassCleanup(cls.agent.stop)
        cls.agent.configure(cls.env)
        cls.company = cls.env.company
        cls.journal = payroll_setup(cls.env, cls.company)

    @classmethod
    def _odoo_secret(cls):
        """The admin's password; from Odoo 19 on the agent speaks JSON-2, with an API key."""
        if version_info[0] < 19:
            return "admin"
        admin = cls.env.ref("base.user_admin")
        return cls.env["res.users.apikeys"].with_user(admin)._generate(None, "PayFlow test", None)

    def setUp(self):
        super().setUp()
        if self.skip_reason:
            self.skipTest(self.skip_reason)

    def _agent_may_call_odoo(self):
        """Lets the agent's requests into this test's transaction.

        Odoo 19 holds a lock in the test thread and refuses requests without the test's
        cookie: ``allow_requests`` releases the one and waives the other. On 17 and 18 the
        test thread holds no lock and every request is served."""
        allow = getattr(self, "allow_requests", None)
        return allow(all_requests=True) if allow else contextlib.nullcontext()

    def rpc(self, method, **params):
        return rpc_call(self.agent.url, self.agent.token, method, params)

    def _dossier(self, number="100200", **values):
        vals = {
            "silae_number": number,
            "name": "ACME",
            "company_id": self.company.id,
            "journal_id": self.journal.id,
            "journal_code": "SAL",
            "transfer_day": 5,
            "alert_emails": "paie@example.com",
            # The French chart has no 437300/437400/437500 (scripts/demo does the same).
            "account_map_ids": [
                Command.create({"source": code, "target": "437000"})
                for code in ("43730000", "43740000", "43750000")
            ],
        }
        vals.update(values)
        return self.env["payflow.dossier"].create(vals)

    def _run_wizard(self, dossier, periods, dry_run=False, wizard=None):
        """Starts an import (or, given a previewed ``wizard``, its "Import now") and waits."""
        with self._agent_may_call_odoo():
            if wizard:
                wizard.action_import_now()
            else:
                wizard = self.env["payflow.import.wizard"].create(
                    {"dossier_id": dossier.id, "periods": periods, "dry_run": dry_run}
                )
                wizard.action_start()
            job_id = wizard.job_id
            # The agent may still be calling Odoo back: wait through the agent only.
            deadline = time.monotonic() + 90
            while self.rpc("jobs.get", job_id=job_id)["state"] == "running":
                self.assertLess(time.monotonic(), deadline, "the import job did not finish")
                time.sleep(0.25)
        wizard.action_refresh()
        self.env.invalidate_all()
        return wizard

    def test_status_through_the_settings_button(self):
        settings = self.env["res.config.settings"].create({})
        # The agent's status asks this Odoo for its version: on 19 that request needs the
        # test's leave, else Odoo answers 400 and the agent reports Odoo not reachable.
        with self._agent_may_call_odoo():
            action = settings.action_payflow_test_agent()
        message = action["params"]["message"]
        self.assertEqual(action["params"]["type"], "success")
        self.assertIn("addontest", message)
        self.assertIn(f"database {self.env.cr.dbname}: reachable.", message)
        self.assertNotIn("not reachable", message)
        self.assertNotIn(self.agent.token, str(action))

    def test_dossier_saved_through_the_agent(self):
        dossier = self._dossier("100300", name="ACME Paris-Lyon")
        stored = self.rpc("dossiers.get", silae_number="100300")
        self.assertEqual(stored["name"], "ACME Paris-Lyon")
        self.assertEqual(stored["journal_code"], "SAL")
        self.assertEqual(stored["company_id"], self.company.id)
        self.assertEqual(stored["alert_emails"], ["paie@example.com"])
        self.assertEqual(stored["account_map"]["43730000"], "437000")
        dossier.write(
            {
                "transfer_day": 10,
                "analytic_map_ids": [Command.create({"source": "1", "target": "PARIS"})],
            }
        )
        stored = self.rpc("dossiers.get", silae_number="100300")
        self.assertEqual((stored["transfer_day"], stored["analytic"]), (10, {"1": "PARIS"}))
        # The agent's refusal comes back as a message, and nothing is saved.
        with mute_logger("odoo.addons.payflow_silae.models.payflow_agent"), self.assertRaisesRegex(
            UserError, "refused these values"
        ), self.env.cr.savepoint():
            self._dossier("10-0")
        # The mirror follows the agent.
        self.env["payflow.dossier"]._payflow_sync()
        self.assertIn("100300", self.env["payflow.dossier"].search([]).mapped("silae_number"))
        dossier.unlink()
        with self.assertRaises(AgentError) as caught:
            self.rpc("dossiers.get", silae_number="100300")
        self.assertEqual(caught.exception.code, NOT_FOUND)

    def test_test_connections_from_a_dossier(self):
        dossier = self._dossier("100200")
        with self._agent_may_call_odoo():
            action = dossier.action_payflow_test_connections()
        message = action["params"]["message"]
        self.assertEqual(action["params"]["type"], "success", message)
        self.assertIn("dossier(s) readable", message)
        self.assertIn("PayFlow module installed", message)
        # The dossier's own needs, read in Odoo: its journal and its account map.
        self.assertIn("Dossier ACME: ready", message)
        self.assertIn("not configured in the agent", message)

    def test_silae_picker_lists_the_readable_dossiers(self):
        # The menu entry refreshes the picker (never default_get: no HTTP call there).
        self.env["payflow.dossier"].action_payflow_open()
        numbers = self.env["payflow.silae.dossier"].search([]).mapped("number")
        self.assertIn("100200", numbers)

    def test_preview_then_import_from_the_wizard_then_the_log(self):
        dossier = self._dossier("100200")
        preview = self._run_wizard(dossier, "2026-10", dry_run=True)
        self.assertEqual(preview.state, "done")
        self.assertEqual(preview.run_ids.status, "previewed", preview.run_ids.message)
        self.assertFalse(preview.run_ids.move_ids)
        self.assertEqual(len(preview.line_ids), 13)
        self.assertAlmostEqual(sum(preview.line_ids.mapped("debit")), 77298.40, places=2)
        self.assertFalse(
            self.env["account.move"].search([("payflow_import_key", "like", "silae:100200:")])
        )

        # "Import now", from the previewed wizard: the same period for real.
        wizard = self._run_wizard(dossier, "2026-10", wizard=preview)
        self.assertEqual(wizard, preview)
        self.assertFalse(wizard.dry_run)
        run = wizard.run_ids
        self.assertEqual(run.status, "imported", run.message)
        move = self.env["account.move"].search([("payflow_import_key", "like", "silae:100200:2026-10")])
        self.assertEqual(len(move), 1)
        self.assertEqual(run.move_ids, move)
        # Linked at once, by name; the message says so in the user's language. Odoo 19
        # numbers a draft only when it is posted: it is then shown as "draft #id".
        label = move.name if move.name and move.name != "/" else f"draft #{move.id}"
        self.assertEqual(run.move_names, label)
        self.assertIn(label, run.with_context(lang="en_US").outcome_text)
        self.assertEqual((move.state, move.journal_id), ("draft", self.journal))
        self.assertEqual(run.dossier_id, dossier)
        self.assertEqual(run.company_id, self.company)
        self.assertFalse(wizard.line_ids)

        # The log shows it, with its link; the filters work on the mirror.
        self.env["payflow.run"]._payflow_sync()
        Run = self.env["payflow.run"]
        logged = Run.search([("agent_run_id", "=", run.agent_run_id)])
        self.assertEqual(logged.move_ids, move)
        self.assertIn(logged, Run.search([("dossier_number", "=", "100200"), ("period", "=", "2026-10")]))
        self.assertIn(logged, Run.search([("move_ids", "!=", False)]))
        action = logged.action_payflow_open_moves()
        self.assertEqual(action["res_id"], move.id)

        # The same period again: nothing doubled.
        again = self._run_wizard(dossier, "2026-10")
        self.assertEqual(again.run_ids.status, "already_imported")
        self.assertEqual(
            self.env["account.move"].search_count([("payflow_import_key", "=", move.payflow_import_key)]),
            1,
        )
        # And the database refuses a second move with the key.
        with mute_logger("odoo.sql_db"), self.assertRaises(IntegrityError), self.env.cr.savepoint():
            move.copy({"payflow_import_key": move.payflow_import_key})
            self.env.flush_all()

    def _paying_dossier(self, number):
        """A dossier importing its salary payments into the company's bank journal; Silae's
        51200000 is that journal's account, and 421 allows reconciliation."""
        bank = self.env["account.journal"].search(
            [("company_id", "=", self.company.id), ("type", "=", "bank")], limit=1
        ) or self.env["account.journal"].create(
            {"name": "Banque", "code": "BNK1", "type": "bank", "company_id": self.company.id}
        )
        Account = self.env["account.account"].with_company(self.company)
        Account.search([("code", "=", "421000")], limit=1).reconcile = True
        dossier = self._dossier(number, payments=True, payments_journal_id=bank.id)
        dossier.write(
            {"account_map_ids": [(0, 0, {"source": "51200000", "target": bank.default_account_id.code})]}
        )
        return dossier, bank

    def _period_moves(self, number):
        return self.env["account.move"].search(
            [("payflow_import_key", "=like", f"silae:{number}:2026-10:%")], order="id"
        )

    def _net_pay_lines(self, moves):
        return moves.line_ids.filtered(lambda l: l.account_id.code.startswith("421"))

    def test_salary_payments_imported_once_then_reconciled_when_posted(self):
        dossier, bank = self._paying_dossier("100200")
        run = self._run_wizard(dossier, "2026-10").run_ids
        self.assertEqual(run.status, "imported", run.message)
        moves = self._period_moves("100200")
        # The payroll, batch 1 and the advances; batch 2 is not published by Silae yet.
        self.assertEqual(
            sorted(moves.mapped("ref")),
            ["ACOMPTES OCTOBRE 2026", "SALAIRES OCTOBRE 2026", "VIREMENTS SALAIRES OCTOBRE 2026 - LOT 1"],
        )
        payments = moves.filtered(lambda m: m.ref != "SALAIRES OCTOBRE 2026")
        self.assertEqual(payments.journal_id, bank)
        self.assertEqual(set(moves.mapped("state")), {"draft"})
        # Each carries its own Silae answer.
        names = self.env["ir.attachment"].search(
            [("res_model", "=", "account.move"), ("res_id", "in", moves.ids)]
        ).mapped("name")
        self.assertIn("silae-100200-2026-10-virement-1.json", names)
        # The import log shows the payments by batch number; the payroll's chatter links them.
        batches = run.with_context(lang="en_US").payment_batches
        self.assertTrue(batches.startswith("Batch 1: ") and "Advances: " in batches, batches)
        payroll = moves.filtered(lambda m: m.ref == "SALAIRES OCTOBRE 2026")
        noted = payroll.message_ids.filtered(lambda m: "data-oe-id" in (m.body or ""))
        self.assertEqual(len(noted), 1, noted.mapped("body"))
        for payment in payments:
            self.assertIn(f'data-oe-id="{payment.id}"', noted.body)

        # Silae publishes batch 2: the next import adds it alone; then nothing more.
        self.assertEqual(self.agent.publish_late_batches("100200", "2026-10"), 204)
        late = self._run_wizard(dossier, "2026-10").run_ids
        self.assertEqual(late.status, "imported", late.message)
        self.assertIn("matched to the cent", late.with_context(lang="en_US").outcome_text)
        again = self._run_wizard(dossier, "2026-10").run_ids
        self.assertEqual(again.status, "already_imported", again.message)
        moves = self._period_moves("100200")
        self.assertEqual(len(moves), 4)
        self.assertIn("VIREMENTS SALAIRES OCTOBRE 2026 - LOT 2", moves.mapped("ref"))

        # Posted as an accountant would: the payments first (nothing to reconcile yet), then
        # the payroll: every 421 line is reconciled, to 0.00.
        payroll = moves.filtered(lambda m: m.ref == "SALAIRES OCTOBRE 2026")
        (moves - payroll).action_post()
        self.assertFalse(self._net_pay_lines(moves).full_reconcile_id)
        payroll.action_post()
        lines = self._net_pay_lines(moves)
        self.assertEqual(len(lines), 8)
        self.assertTrue(all(lines.mapped("full_reconcile_id")), lines.mapped("full_reconcile_id"))
        self.assertEqual(len(lines.full_reconcile_id), 1)
        self.assertAlmostEqual(sum(lines.mapped("balance")), 0.0, places=2)
        said = payroll.message_ids.filtered(lambda m: "421" in (m.body or ""))
        self.assertTrue(said, "the payroll's chatter tells the reconciliation")
        for payment in moves - payroll:
            self.assertIn(f'data-oe-id="{payment.id}"', said[0].body)
        dossier.invalidate_recordset()
        self.assertEqual(dossier.with_context(lang="en_US").payments_status, "2026-10 : balanced")

    def test_salary_payments_one_cent_short_stay_open_with_the_difference(self):
        dossier, _bank = self._paying_dossier("100300")
        run = self._run_wizard(dossier, "2026-10").run_ids
        self.assertEqual(run.status, "imported", run.message)
        self.assertIn("not matched, difference", run.with_context(lang="en_US").outcome_text)
        moves = self._period_moves("100300")
        self.assertEqual(len(moves), 3, moves.mapped("ref"))
        moves.action_post()
        lines = self._net_pay_lines(moves)
        self.assertFalse(any(lines.mapped("full_reconcile_id")))
        payroll = moves.filtered(lambda m: m.ref.startswith("SALAIRES"))
        said = payroll[0].message_ids.filtered(lambda m: "421" in (m.body or ""))
        self.assertTrue(said)
        self.assertIn("0.01", said[0].body)
        dossier.invalidate_recordset()
        self.assertEqual(dossier.with_context(lang="en_US").payments_status, "2026-10 : 7 open lines")

    def test_a_failed_import_stands_out_in_the_log(self):
        dossier = self._dossier("100200", journal_id=False, journal_code="NOPE")
        wizard = self._run_wizard(dossier, "2026-10")
        self.assertTrue(wizard.failed)
        run = wizard.run_ids
        self.assertEqual((run.status, run.error_kind), ("failed", "missing_journal"))
        self.assertIn("NOPE", run.message)
        self.assertIn(run, self.env["payflow.run"].search([("status", "=", "failed")]))

    @mute_logger("odoo.addons.payflow_silae.models.payflow_agent")
    def test_agent_down_and_wrong_token_are_messages(self):
        params = self.env["ir.config_parameter"].sudo()
        params.set_param("payflow_silae.agent_token", "not-the-token")
        with self.assertRaisesRegex(UserError, "refused the token") as caught:
            self.env["payflow.agent"]._call("status")
        self.assertNotIn(self.agent.token, str(caught.exception))
        self.assertNotIn("not-the-token", str(caught.exception))
        params.set_param("payflow_silae.agent_url", f"http://127.0.0.1:{closed_port()}")
        with self.assertRaisesRegex(UserError, "cannot be reached"):
            self.env["payflow.agent"]._call("status")
        # Opening the menus still works: a notice, then the (mirrored) list.
        action = self.env["payflow.dossier"].action_payflow_open()
        self.assertEqual(action["tag"], "display_notification")
        self.assertEqual(action["params"]["next"]["res_model"], "payflow.dossier")
