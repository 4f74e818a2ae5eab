"""Missing accounts are fixed where they are seen: created from the failed run in one step."""

import copy

from odoo.tests import TransactionCase, tagged

from .test_outcome import MISSING


@tagged("post_install", "-at_install")
class TestMissingAccounts(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.env["res.company"].create({"name": "Cabinet PayFlow (test)"})
        Account = cls.env["account.account"].with_company(cls.company)
        cls.organisms = Account.create(
            {"code": "437000", "name": "Autres organismes sociaux", "account_type": "liability_current",
             "reconcile": True}
        )
        cls.state = Account.create(
            {"code": "442000", "name": "État - impôts et taxes", "account_type": "liability_current"}
        )
        item = copy.deepcopy(MISSING)
        item["id"] = 9100
        cls.failed_run = cls.env["payflow.run"]._payflow_store([item])
        cls.failed_run.company_id = cls.company

    def test_created_in_one_confirmation_from_silae_codes_and_labels(self):
        action = self.failed_run.action_payflow_create_missing_accounts()
        wizard = self.env[action["res_model"]].browse(action["res_id"])
        by_code = {line.code: line for line in wizard.line_ids}
        self.assertEqual(set(by_code), {"437300", "442100"})
        retirement = by_code["437300"]
        self.assertEqual(retirement.name, "Retraite complémentaire")
        self.assertEqual(retirement.nearest_id, self.organisms)
        self.assertEqual((retirement.account_type, retirement.reconcile), ("liability_current", True))
        self.assertEqual(by_code["442100"].nearest_id, self.state)
        self.assertFalse(by_code["442100"].reconcile)
        done = wizard.action_confirm()
        self.assertEqual(done["params"]["type"], "success")
        created = self.env["account.account"].with_company(self.company).search(
            [("code", "in", ["437300", "442100"])]
            + wizard._payflow_company_domain(self.company)
        )
        self.assertEqual(sorted(created.mapped("name")), ["Prélèvement à la source", "Retraite complémentaire"])
