"""Missing accounts are fixed where they are seen: created from the failed run in one step."""

import copy
from unittest.mock import patch

from odoo import Command
from odoo.exceptions import UserError
from odoo.tests import TransactionCase, tagged

from .common import FakeAgent
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


@tagged("post_install", "-at_install")
class TestMapMissingAccounts(TransactionCase):
    """"Map to existing accounts": the picker proposes the nearest account, the dossier's
    account map keeps the picked account and the agent receives its code."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.fake = FakeAgent()
        cls.startClassPatcher(patch.object(cls.registry["payflow.agent"], "_call", cls.fake))
        cls.company = cls.env["res.company"].create({"name": "Cabinet PayFlow (carte)"})
        Account = cls.env["account.account"].with_company(cls.company)
        cls.organisms = Account.create(
            {"code": "437000", "name": "Autres organismes sociaux", "account_type": "liability_current"}
        )
        cls.state = Account.create(
            {"code": "442000", "name": "État - impôts et taxes", "account_type": "liability_current"}
        )
        cls.other = Account.create(
            {"code": "447000", "name": "Autres impôts", "account_type": "liability_current"}
        )
        journal = cls.env["account.journal"].create(
            {"name": "Salaires", "code": "SALT", "type": "general", "company_id": cls.company.id}
        )
        cls.dossier = cls.env["payflow.dossier"].create(
            {"silae_number": "100200", "name": "ACME", "company_id": cls.company.id, "journal_id": journal.id,
             "journal_code": "SALT"}
        )
        item = copy.deepcopy(MISSING)
        item["id"] = 9200
        cls.failed_run = cls.env["payflow.run"]._payflow_store([item])
        cls.failed_run.write({"company_id": cls.company.id, "dossier_id": cls.dossier.id})

    def test_mapped_in_one_confirmation_and_sent_as_codes(self):
        action = self.failed_run.action_payflow_map_missing_accounts()
        wizard = self.env[action["res_model"]].browse(action["res_id"])
        self.assertEqual(wizard.mode, "map")
        by_silae = {line.silae_code: line for line in wizard.line_ids}
        self.assertEqual(by_silae["43730000"].map_account_id, self.organisms)
        self.assertEqual(by_silae["44210000"].map_account_id, self.state)
        by_silae["44210000"].map_account_id = self.other
        done = wizard.action_confirm()
        self.assertEqual(done["params"]["type"], "success")
        sent = self.fake.dossiers["100200"]["account_map"]
        self.assertEqual(sent, {"43730000": "437000", "44210000": "447000"})
        pairs = {m.source: m.account_id for m in self.dossier.account_map_ids}
        self.assertEqual(pairs, {"43730000": self.organisms, "44210000": self.other})
        # Nothing is created in the chart.
        self.assertFalse(
            self.env["account.account"].with_company(self.company).search(
                [("code", "in", ["437300", "442100"])] + wizard._payflow_company_domain(self.company)
            )
        )

    def test_an_unpicked_account_is_refused(self):
        action = self.failed_run.action_payflow_map_missing_accounts()
        wizard = self.env[action["res_model"]].browse(action["res_id"])
        wizard.line_ids[:1].map_account_id = False
        with self.assertRaises(UserError):
            wizard.action_confirm()
        self.assertFalse(self.fake.dossiers["100200"]["account_map"])

    def test_the_picker_offers_the_dossier_company_accounts_only(self):
        domain = self.env["payflow.dossier.mapping"]._payflow_account_domain()
        self.assertIn("company_id", domain)
        mapping = self.env["payflow.dossier.mapping"].create(
            {"dossier_id": self.dossier.id, "kind": "account", "source": "64110000",
             "account_id": self.organisms.id}
        )
        self.assertEqual(mapping.target, "437000")
        self.dossier.write({"mapping_ids": [Command.update(mapping.id, {"account_id": self.state.id})]})
        self.assertEqual(self.fake.dossiers["100200"]["account_map"]["64110000"], "442000")
        # Read back from the agent: the picker shows the account of that code.
        self.env["payflow.dossier"]._payflow_sync()
        self.assertEqual(self.dossier.account_map_ids.account_id, self.state)
