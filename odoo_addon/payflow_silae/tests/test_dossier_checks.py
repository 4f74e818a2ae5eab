"""What "Test connections" says of a dossier (its journal, its accounts), in French from the
agent's facts, and the warning for alert e-mails the agent cannot send."""

import copy
from unittest.mock import patch

from odoo import Command
from odoo.tests import TransactionCase, tagged

from .common import FakeAgent
from .test_outcome import MISSING


class CheckingAgent(FakeAgent):
    """The fake agent, with ``status`` saying whether SMTP is set and ``connections.test``."""

    smtp = False

    def __call__(self, method, **params):
        if method == "status":
            self.calls.append((method, params))
            return {"instance": "fake", "version": "0", "smtp_configured": self.smtp}
        if method == "connections.test":
            self.calls.append((method, params))
            return {
                "silae": {"target": "silae", "ok": True, "message": "2 dossier(s) readable",
                          "facts": {"dossiers": 2}},
                "odoo": {"target": "odoo", "ok": True, "message": "Odoo 18 over jsonrpc, uid 2",
                         "facts": {"series": 18, "protocol": "jsonrpc", "uid": 2, "addon_installed": True}},
                "smtp": {"target": "smtp", "ok": False, "message": "smtp.example.com:587: refused",
                         "facts": {"configured": True}},
            }[params["target"]]
        return super().__call__(method, **params)


@tagged("post_install", "-at_install")
class TestDossierChecks(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.fake = CheckingAgent()
        cls.startClassPatcher(patch.object(cls.registry["payflow.agent"], "_call", cls.fake))
        cls.env["res.lang"]._activate_lang("fr_FR")
        cls.company = cls.env["res.company"].create({"name": "Cabinet PayFlow (contrôle)"})
        Account = cls.env["account.account"].with_company(cls.company)
        cls.organisms = Account.create(
            {"code": "437000", "name": "Autres organismes sociaux", "account_type": "liability_current"}
        )
        cls.journal = cls.env["account.journal"].create(
            {"name": "Salaires", "code": "SALC", "type": "general", "company_id": cls.company.id}
        )

    def _dossier(self, **values):
        vals = {
            "silae_number": "100200",
            "name": "ACME",
            "company_id": self.company.id,
            "journal_id": self.journal.id,
            "journal_code": "SALC",
        }
        vals.update(values)
        return self.env["payflow.dossier"].create(vals)

    def test_a_ready_dossier_in_french(self):
        dossier = self._dossier()
        action = dossier.with_context(lang="fr_FR").action_payflow_test_connections()
        message = action["params"]["message"]
        self.assertEqual(action["params"]["type"], "success", message)
        self.assertIn("Silae : OK — 2 dossier(s) lisible(s)", message)
        self.assertIn("Odoo : OK — Odoo 18, module PayFlow installé", message)
        self.assertIn("Dossier ACME : prêt", message)
        for english in ("readable", "over jsonrpc", "uid"):
            self.assertNotIn(english, message)

    def test_journal_and_accounts_that_odoo_lacks(self):
        dossier = self._dossier(
            journal_id=False,
            journal_code="PAIE",
            account_map_ids=[Command.create({"source": "64110000", "target": "641199"})],
        )
        item = copy.deepcopy(MISSING)
        item["id"] = 9300
        run = self.env["payflow.run"]._payflow_store([item])
        run.write({"dossier_id": dossier.id, "company_id": self.company.id})
        action = dossier.with_context(lang="fr_FR").action_payflow_test_connections()
        message = action["params"]["message"]
        self.assertEqual(action["params"]["type"], "danger", message)
        self.assertIn("pas de journal PAIE dans Cabinet PayFlow (contrôle)", message)
        self.assertIn("641199", message)
        self.assertIn("43730000, 44210000", message)
        # Once mapped or created, the accounts are no longer reported.
        dossier.write(
            {
                "journal_id": self.journal.id,
                "journal_code": "SALC",
                "mapping_ids": [
                    Command.clear(),
                    Command.create({"kind": "account", "source": "43730000", "account_id": self.organisms.id}),
                    Command.create({"kind": "account", "source": "44210000", "account_id": self.organisms.id}),
                ],
            }
        )
        action = dossier.with_context(lang="fr_FR").action_payflow_test_connections()
        self.assertEqual(action["params"]["type"], "success", action["params"]["message"])

    def test_smtp_failure_detail_and_alert_emails_without_smtp(self):
        dossier = self._dossier(alert_emails="paie@example.com")
        # The agent said (at the dossier's save) it has no SMTP server: the form warns.
        self.assertTrue(dossier.smtp_missing)
        settings = self.env["res.config.settings"].create({})
        self.assertTrue(settings.payflow_smtp_missing)
        action = dossier.with_context(lang="fr_FR").action_payflow_test_connections()
        self.assertIn("E-mail (SMTP) : non configuré dans l'agent", action["params"]["message"])
        # With SMTP set up, the SMTP test is made and its failure shown with the detail.
        self.fake.smtp = True
        try:
            action = dossier.with_context(lang="fr_FR").action_payflow_test_connections()
        finally:
            self.fake.smtp = False
        dossier.invalidate_recordset(["smtp_missing"])
        self.assertFalse(dossier.smtp_missing)
        message = action["params"]["message"]
        self.assertEqual(action["params"]["type"], "danger", message)
        self.assertIn("E-mail (SMTP) : échec — détail pour l'administrateur : smtp.example.com:587: refused", message)
        # Without alert e-mails, no warning.
        self.assertFalse(self._dossier(silae_number="100300", alert_emails=False).smtp_missing)


    def test_the_settings_show_the_silae_secret_expiry_the_agent_announced(self):
        Dossier = self.env["payflow.dossier"]
        Settings = self.env["res.config.settings"]
        self.assertFalse(Settings.create({}).payflow_silae_secret_expiry)
        expiry = {"primary": {"expires": "2026-12-24", "announced_at": "2026-12-04T06:00:00+01:00",
                              "days_left": 20, "notified": ["announced"]}}
        Dossier._payflow_note_status({"instance": "fake", "silae": {"secret_expiry": expiry}})
        english = Settings.with_context(lang="en_US").create({}).payflow_silae_secret_expiry
        self.assertIn("Silae's primary client secret expires on 2026-12-24 (20 days left)", english)
        french = Settings.with_context(lang="fr_FR").create({}).payflow_silae_secret_expiry
        self.assertIn("Le secret client principal de Silae expire le 2026-12-24 (encore 20 jours)", french)
        self.assertIn("payflow-agent secret set silae_client_secret", french)
        # The agent's "Test" notification says it too.
        text = Settings.with_context(lang="fr_FR")._payflow_status_text(
            {"silae": {"configured": True, "secret_expiry": expiry}}
        )
        self.assertIn("expire le 2026-12-24", text)
        # Renewed: the agent's status no longer has it, nor do the settings.
        Dossier._payflow_note_status({"instance": "fake", "silae": {"secret_expiry": {}}})
        self.assertFalse(Settings.create({}).payflow_silae_secret_expiry)

    def test_a_large_dossier_is_sent_to_the_agent_and_read_back(self):
        dossier = self._dossier(large=True)
        self.assertIs(self.fake.dossiers["100200"]["large"], True)
        self.fake.dossiers["100200"]["large"] = False
        # A journal map set with the agent's CLI survives a save from Odoo.
        self.fake.dossiers["100200"]["journal_map"] = {"PB": "OD"}
        self.env["payflow.dossier"]._payflow_sync()
        self.assertFalse(dossier.large)
        dossier.write({"name": "ACME (renommé)"})
        self.assertEqual(self.fake.dossiers["100200"]["journal_map"], {"PB": "OD"})
        self.assertEqual(self.fake.dossiers["100200"]["name"], "ACME (renommé)")


@tagged("post_install", "-at_install")
class TestDossierChatter(TransactionCase):
    """Who changed the account map or the day: the dossier's chatter."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.fake = FakeAgent()
        cls.startClassPatcher(patch.object(cls.registry["payflow.agent"], "_call", cls.fake))
        cls.company = cls.env["res.company"].create({"name": "Cabinet PayFlow (historique)"})
        Account = cls.env["account.account"].with_company(cls.company)
        cls.organisms = Account.create(
            {"code": "437000", "name": "Autres organismes sociaux", "account_type": "liability_current"}
        )
        cls.dossier = cls.env["payflow.dossier"].create(
            {"silae_number": "100200", "name": "ACME", "company_id": cls.company.id, "journal_code": "SAL"}
        )

    def _flush_tracking(self):
        self.env.flush_all()
        self.env.cr.precommit.run()

    def _messages_since(self, last_id):
        return self.env["mail.message"].search(
            [("model", "=", "payflow.dossier"), ("res_id", "=", self.dossier.id), ("id", ">", last_id)]
        )

    def test_day_and_account_map_changes_are_traced_with_their_author(self):
        accountant = self.env.user
        self._flush_tracking()
        before = max(self._messages_since(0).ids or [0])
        self.dossier.write({"transfer_day": 12})
        self._flush_tracking()
        self.dossier.write(
            {"account_map_ids": [Command.create({"source": "43730000", "account_id": self.organisms.id})]}
        )
        mapping = self.dossier.account_map_ids
        self.dossier.write({"account_map_ids": [Command.delete(mapping.id)]})
        self._flush_tracking()
        messages = self._messages_since(before)
        self.assertEqual(set(messages.mapped("author_id")), {accountant.partner_id})
        bodies = " | ".join(messages.mapped("body"))
        self.assertIn("43730000 → 437000 added", bodies)
        self.assertIn("43730000 → 437000 removed", bodies)
        tracked = messages.tracking_value_ids.filtered(
            lambda v: v.field_id.name == "transfer_day"
        )
        self.assertEqual(len(tracked), 1)
        # The sync with the agent rewrites the map without a note.
        last = max(messages.ids)
        self.env["payflow.dossier"]._payflow_sync()
        self._flush_tracking()
        self.assertFalse(self._messages_since(last))
