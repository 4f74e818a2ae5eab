from unittest.mock import patch

from odoo.exceptions import UserError
from odoo.modules.neutralize import get_neutralization_queries
from odoo.tests import TransactionCase, tagged
from odoo.tools import mute_logger

from ..wizards.payflow_import_wizard import parse_periods
from .common import closed_port


@tagged("post_install", "-at_install")
class TestAgentErrors(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["res.lang"]._activate_lang("fr_FR")
        params = cls.env["ir.config_parameter"].sudo()
        params.set_param("payflow_silae.agent_url", f"http://127.0.0.1:{closed_port()}")
        params.set_param("payflow_silae.agent_token", "a-token")

    def setUp(self):
        super().setUp()
        # Every call here fails on purpose: keep the warnings out of the test log.
        muted = mute_logger("odoo.addons.payflow_silae.models.payflow_agent")
        muted.__enter__()
        self.addCleanup(muted.__exit__, None, None, None)

    def test_agent_down_in_english(self):
        with self.assertRaisesRegex(UserError, "cannot be reached at http://127.0.0.1:") as caught:
            self.env["payflow.agent"].with_context(lang="en_US")._call("status")
        self.assertIn("payflow-agent@", str(caught.exception))
        self.assertNotIn("a-token", str(caught.exception))

    def test_agent_down_in_french(self):
        with self.assertRaisesRegex(UserError, "L'agent PayFlow est injoignable"):
            self.env["payflow.agent"].with_context(lang="fr_FR")._call("status")

    def test_wizards_open_without_calling_the_agent(self):
        """Opening a wizard (its defaults) asks nothing of the agent: no HTTP in default_get."""
        agent = "odoo.addons.payflow_silae.models.payflow_agent"
        with (
            patch(f"{agent}.requests.post", side_effect=AssertionError("HTTP call")) as post,
            patch.object(self.registry["payflow.agent"], "_call", side_effect=AssertionError("call")) as call,
        ):
            for name in ("payflow.import.wizard", "payflow.missing.accounts"):
                wizard = self.env[name]
                wizard.default_get(list(wizard._fields))
        post.assert_not_called()
        call.assert_not_called()

    def test_not_configured(self):
        self.env["ir.config_parameter"].sudo().set_param("payflow_silae.agent_token", False)
        with self.assertRaisesRegex(UserError, "not configured"):
            self.env["payflow.agent"]._call("status")

    def test_the_log_menu_opens_with_a_notice_when_the_agent_is_down(self):
        action = self.env["payflow.run"].action_payflow_open()
        self.assertEqual(action["tag"], "display_notification")
        self.assertEqual(action["params"]["next"]["res_model"], "payflow.run")

    def test_a_failed_test_is_a_notification_like_a_success(self):
        settings = self.env["res.config.settings"].with_context(lang="fr_FR").create({})
        action = settings.action_payflow_test_agent()
        self.assertEqual((action["tag"], action["params"]["type"]), ("display_notification", "danger"))
        self.assertIn("L'agent PayFlow est injoignable", action["params"]["message"])
        dossier = self.env["payflow.dossier"].with_context(payflow_from_agent=True).create(
            {"silae_number": "100200", "name": "ACME", "journal_code": "SAL"}
        )
        action = dossier.with_context(lang="fr_FR").action_payflow_test_connections()
        self.assertEqual((action["tag"], action["params"]["type"]), ("display_notification", "danger"))
        self.assertIn("L'agent PayFlow est injoignable", action["params"]["message"])

    def test_a_neutralized_copy_forgets_the_agent(self):
        self.env.flush_all()
        for query in get_neutralization_queries(["payflow_silae"]):
            self.env.cr.execute(query)
        self.env.registry.clear_cache()
        params = self.env["ir.config_parameter"].sudo()
        self.assertFalse(params.get_param("payflow_silae.agent_url"))
        self.assertFalse(params.get_param("payflow_silae.agent_token"))
        with self.assertRaisesRegex(UserError, "not configured"):
            self.env["payflow.agent"]._call("status")

    def test_periods(self):
        self.assertEqual(parse_periods("2026-10"), ["2026-10"])
        self.assertEqual(parse_periods("2026-10, 2026-09;2026-10"), ["2026-09", "2026-10"])
        self.assertEqual(
            parse_periods("2026-11 .. 2027-02"), ["2026-11", "2026-12", "2027-01", "2027-02"]
        )
        for bad in ("2026-13", "octobre", "2026-10..2026-01"):
            with self.assertRaises(ValueError):
                parse_periods(bad)
