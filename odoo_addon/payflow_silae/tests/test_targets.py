"""An accounting firm's Odoo: the agent serves several Odoo databases (targets); this one's
PayFlow menus list every dossier and run of every target, grouped by client database."""

from unittest.mock import patch

from odoo.exceptions import UserError
from odoo.tests import TransactionCase, tagged

from .common import FakeAgent


@tagged("post_install", "-at_install")
class TestTargets(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.fake = FakeAgent()
        cls.startClassPatcher(patch.object(cls.registry["payflow.agent"], "_call", cls.fake))
        cls.company = cls.env.company
        cls.journal = cls.env["account.journal"].create(
            {"name": "Salaires cabinet", "code": "SALF", "type": "general", "company_id": cls.company.id}
        )
        base = {"transfer_day": 5, "alert_emails": [], "enabled": True, "account_map": {},
                "analytic": {}, "start_period": None, "wait_closed": True, "journal_map": {},
                "large": False}
        cls.fake.dossiers = {
            "100200": dict(base, silae_number="100200", name="Cabinet", company_id=cls.company.id,
                           journal_code="SALF", payments=False, payments_journal=None, target="default"),
            # The client's company 7 and journals PAIE / BNK live in its own database.
            "200100": dict(base, silae_number="200100", name="Client B", company_id=7,
                           journal_code="PAIE", payments=True, payments_journal="BNK", target="client_b"),
        }
        cls.fake.runs = [
            {"id": 1, "dossier": "100200", "period": "2026-10", "status": "imported", "moves": [],
             "target": "default"},
            {"id": 2, "dossier": "200100", "period": "2026-10", "status": "imported",
             "moves": [cls.journal.id], "target": "client_b",
             "outcome": {"status": "imported", "moves": [{"id": cls.journal.id, "name": "PAIE/2026/10/0001"}]}},
        ]

    def test_every_target_s_dossiers_and_runs_are_listed_grouped_by_client_database(self):
        Dossier = self.env["payflow.dossier"]
        action = Dossier.action_payflow_open()
        self.assertEqual(action.get("context"), {"search_default_group_target": 1})
        remote = Dossier.search([("silae_number", "=", "200100")])
        self.assertEqual(
            (remote.target, remote.is_remote, remote.target_company_id, remote.journal_code),
            ("client_b", True, 7, "PAIE"),
        )
        # Under this database's company, with no journal of this database.
        self.assertEqual(remote.company_id, self.company)
        self.assertFalse(remote.journal_id)
        local = Dossier.search([("silae_number", "=", "100200")])
        self.assertEqual((local.target, local.is_remote, local.journal_id), ("default", False, self.journal))
        # An edit from here goes to the agent with the client database's company and journals.
        remote.write({"name": "Client B SAS"})
        sent = [p["dossier"] for m, p in self.fake.calls if m == "dossiers.upsert"][-1]
        self.assertEqual(
            (sent["target"], sent["company_id"], sent["journal_code"], sent["payments_journal"], sent["name"]),
            ("client_b", 7, "PAIE", "BNK", "Client B SAS"),
        )
        Run = self.env["payflow.run"]
        action = Run.action_payflow_open()
        self.assertEqual(action.get("context"), {"search_default_group_target": 1})
        run = Run.search([("agent_run_id", "=", 2)])
        self.assertEqual((run.target, run.dossier_id), ("client_b", remote))
        # Its move ids are the client database's: never linked to this database's moves.
        self.assertFalse(run.move_ids)
        self.assertEqual(run.move_names, "PAIE/2026/10/0001")
        with self.assertRaisesRegex(UserError, "client_b"):
            run.action_payflow_open_moves()
        self.assertEqual(Run.search([("agent_run_id", "=", 1)]).target, "default")

    def test_with_one_target_the_lists_are_not_grouped(self):
        self.fake.dossiers.pop("200100")
        action = self.env["payflow.dossier"].action_payflow_open()
        self.assertNotEqual(action.get("context"), {"search_default_group_target": 1})
