from unittest.mock import patch

from odoo.exceptions import AccessError
from odoo import Command
from odoo.tests import TransactionCase, new_test_user, tagged

from .common import FakeAgent


@tagged("post_install", "-at_install")
class TestAccess(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.fake = FakeAgent()
        cls.startClassPatcher(patch.object(cls.registry["payflow.agent"], "_call", cls.fake))
        cls.company_a = cls.env.company
        cls.company_b = cls.env["res.company"].create({"name": "PayFlow Filiale B"})
        both = [Command.set((cls.company_a | cls.company_b).ids)]
        cls.accountant = new_test_user(
            cls.env, "pf_accountant", groups="account.group_account_user", company_ids=both
        )
        cls.manager = new_test_user(
            cls.env, "pf_manager", groups="account.group_account_manager", company_ids=both
        )
        cls.manager_b = new_test_user(
            cls.env,
            "pf_manager_b",
            groups="account.group_account_manager",
            company_id=cls.company_b.id,
            company_ids=[Command.set(cls.company_b.ids)],
        )
        cls.sysadmin = new_test_user(
            cls.env, "pf_sysadmin", groups="base.group_system,account.group_account_manager"
        )
        Dossier = cls.env["payflow.dossier"]
        cls.dossier_a = Dossier.create(
            {"silae_number": "100200", "name": "A", "company_id": cls.company_a.id,
             "journal_code": "SAL", "transfer_day": 5}
        )
        cls.dossier_b = Dossier.create(
            {"silae_number": "100300", "name": "B", "company_id": cls.company_b.id,
             "journal_code": "SAL", "transfer_day": 5}
        )
        cls.fake.runs = [
            {"id": 1, "dossier": "100200", "period": "2026-10", "status": "imported", "moves": [],
             "message": "ok", "started_at": "2026-11-05T06:00:01+01:00",
             "finished_at": "2026-11-05T06:00:02+01:00", "trigger": "timer", "dry_run": False},
            {"id": 2, "dossier": "100300", "period": "2026-10", "status": "failed",
             "error_kind": "missing_accounts", "moves": [], "message": "accounts missing:\n43730000",
             "started_at": "2026-11-05T06:00:03+01:00", "finished_at": "2026-11-05T06:00:04+01:00",
             "trigger": "timer", "dry_run": False},
        ]
        cls.env["payflow.run"]._payflow_sync()

    def test_the_mirror_holds_what_the_agent_said(self):
        runs = self.env["payflow.run"].search([])
        self.assertEqual(runs.mapped("agent_run_id"), [2, 1])
        failed = runs.filtered(lambda r: r.status == "failed")
        self.assertEqual(
            (failed.dossier_id, failed.company_id, failed.error_kind),
            (self.dossier_b, self.company_b, "missing_accounts"),
        )
        self.assertEqual(str(failed.started_at), "2026-11-05 05:00:03")
        self.assertEqual(self.fake.dossiers["100200"]["name"], "A")

    def test_accountants_import_but_do_not_configure(self):
        env = self.env(user=self.accountant)
        self.assertEqual(len(env["payflow.run"].search([])), 2)
        self.assertEqual(len(env["payflow.dossier"].search([])), 2)
        with self.assertRaises(AccessError):
            env["payflow.run"].browse(self.env["payflow.run"].search([], limit=1).id).write(
                {"message": "x"}
            )
        with self.assertRaises(AccessError):
            env["payflow.dossier"].create(
                {"silae_number": "1", "name": "x", "journal_code": "SAL", "transfer_day": 1}
            )
        with self.assertRaises(AccessError):
            self.dossier_a.with_user(self.accountant).write({"name": "x"})
        # Accountants import (monthly work in a firm); managers configure.
        self.assertTrue(self.accountant.has_group("payflow_silae.group_payflow_user"))
        self.assertFalse(self.accountant.has_group("payflow_silae.group_payflow_manager"))
        env["payflow.import.wizard"].create({"dossier_id": self.dossier_a.id})
        self.assertNotIn("payflow_agent_token", env["res.config.settings"].fields_get())
        # The log's menu entry (a server action: refresh, then the list) opens for them.
        menu_action = self.env.ref("payflow_silae.payflow_run_action_open")
        action = menu_action.with_user(self.accountant).run()
        self.assertEqual((action["type"], action["res_model"]), ("ir.actions.act_window", "payflow.run"))
        action = self.env.ref("payflow_silae.payflow_dossier_action_open").with_user(self.accountant).run()
        self.assertEqual(action["res_model"], "payflow.dossier")
        # The menus they see: import, log, dossiers (read-only), in the Invoicing/Accounting app.
        menus = self.env["ir.ui.menu"].with_user(self.accountant)._visible_menu_ids()
        for xmlid in ("menu_payflow_root", "menu_payflow_import", "menu_payflow_runs", "menu_payflow_dossiers"):
            self.assertIn(self.env.ref(f"payflow_silae.{xmlid}").id, menus, xmlid)
        self.assertEqual(self.env.ref("payflow_silae.menu_payflow_root").parent_id, self.env.ref("account.menu_finance"))

    def test_community_invoicing_users_with_payflow_see_the_entries_lines(self):
        """Community: an Invoicing administrator, or an Invoicing user given "Import payrolls",
        reads the imported entries and their lines (Invoicing alone hides them)."""
        invoicing_admin = new_test_user(self.env, "pf_invoicing_admin", groups="account.group_account_manager")
        invoicing_user = new_test_user(
            self.env, "pf_invoicing_user", groups="account.group_account_invoice,payflow_silae.group_payflow_user"
        )
        plain = new_test_user(self.env, "pf_invoicing_plain", groups="account.group_account_invoice")
        journal = self.env["account.journal"].create(
            {"name": "Salaires", "code": "PFCOM", "type": "general", "company_id": self.company_a.id}
        )
        account = self.env["account.account"].with_company(self.company_a)
        accounts = account.create(
            {"code": "641190", "name": "Salaires (test)", "account_type": "expense"}
        ) | account.create(
            {"code": "421190", "name": "Personnel (test)", "account_type": "liability_current"}
        )
        move = self.env["account.move"].create(
            {
                "journal_id": journal.id,
                "line_ids": [
                    Command.create({"account_id": accounts[0].id, "debit": 10.0, "name": "Salaires"}),
                    Command.create({"account_id": accounts[1].id, "credit": 10.0, "name": "Salaires"}),
                ],
            }
        )
        for user in (invoicing_admin, invoicing_user):
            self.assertTrue(user.has_group("account.group_account_readonly"), user.login)
            lines = self.env["account.move.line"].with_user(user).search([("move_id", "=", move.id)])
            self.assertEqual(len(lines), 2, user.login)
            menus = self.env["ir.ui.menu"].with_user(user)._visible_menu_ids()
            self.assertIn(self.env.ref("payflow_silae.menu_payflow_runs").id, menus, user.login)
            self.assertIn(self.env.ref("account.menu_finance_entries").id, menus, user.login)
        self.assertTrue(invoicing_admin.has_group("payflow_silae.group_payflow_manager"))
        # A choice of its own on the user form.
        group = self.env.ref("payflow_silae.group_payflow_user")
        category = self.env.ref("payflow_silae.module_category_payflow")
        if "privilege_id" in group._fields:
            self.assertEqual(group.privilege_id.category_id, category)
        else:
            self.assertEqual(group.category_id, category)
        # Invoicing alone: nothing of PayFlow.
        self.assertFalse(plain.has_group("payflow_silae.group_payflow_user"))
        self.assertNotIn(
            self.env.ref("payflow_silae.menu_payflow_root").id,
            self.env["ir.ui.menu"].with_user(plain)._visible_menu_ids(),
        )

    def test_managers_edit_dossiers_and_run_imports(self):
        env = self.env(user=self.manager)
        dossier = env["payflow.dossier"].create(
            {"silae_number": "100400", "name": "C", "journal_code": "SAL", "transfer_day": 3}
        )
        self.assertIn("100400", self.fake.dossiers)
        dossier.write({"transfer_day": 4})
        self.assertEqual(self.fake.dossiers["100400"]["transfer_day"], 4)
        dossier.unlink()
        self.assertNotIn("100400", self.fake.dossiers)
        env["payflow.import.wizard"].create({"dossier_id": self.dossier_a.id})
        with self.assertRaises(AccessError):
            env["payflow.run"].create({"agent_run_id": 99, "dossier_number": "1", "period": "x"})
        self.assertNotIn("payflow_agent_token", env["res.config.settings"].fields_get())
        self.assertNotIn("payflow_agent_url", env["res.config.settings"].fields_get())

    def test_a_user_sees_the_dossiers_and_runs_of_their_companies(self):
        env = self.env(user=self.manager_b)
        self.assertEqual(env["payflow.dossier"].search([]), self.dossier_b.with_env(env))
        self.assertEqual(env["payflow.run"].search([]).mapped("agent_run_id"), [2])
        with self.assertRaises(AccessError):
            self.dossier_a.with_user(self.manager_b).read(["name"])

    def test_system_administrators_set_the_token_never_shown_again(self):
        env = self.env(user=self.sysadmin)
        settings = env["res.config.settings"].create(
            {"payflow_agent_url": "http://127.0.0.1:8390", "payflow_agent_token": "s3cret-token"}
        )
        settings.execute()
        params = self.env["ir.config_parameter"].sudo()
        self.assertEqual(params.get_param("payflow_silae.agent_token"), "s3cret-token")
        # What a new settings form shows (default_get, as the web client's onchange).
        defaults = env["res.config.settings"].default_get(
            ["payflow_agent_token", "payflow_agent_token_set"]
        )
        self.assertTrue(defaults["payflow_agent_token_set"])
        self.assertFalse(defaults.get("payflow_agent_token"))
        again = env["res.config.settings"].create({})
        self.assertFalse(again.payflow_agent_token)
        self.assertTrue(again.payflow_agent_token_set)
        self.assertNotIn("s3cret-token", str(again.read()))
        self.env.flush_all()
        self.env.cr.execute("SELECT * FROM res_config_settings")
        self.assertNotIn("s3cret-token", str(self.env.cr.fetchall()))
        # Saving the form again with the token left empty keeps it.
        again.execute()
        self.assertEqual(params.get_param("payflow_silae.agent_token"), "s3cret-token")
