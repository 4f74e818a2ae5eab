from odoo.tests import TransactionCase, tagged


@tagged("post_install", "-at_install")
class TestPartners(TransactionCase):
    """payflow_import_plan's partners step: the dossier's partner_map puts a partner on the
    lines of those Silae accounts (by reference, else VAT number, else exact name)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.env.company
        cls.env["account.journal"].create(
            {"name": "Salaires partenaires", "code": "PFPRT", "type": "general", "company_id": cls.company.id}
        )
        account = cls.env["account.account"].with_company(cls.company)
        cls.expense = account.create({"code": "641198", "name": "Salaires (partenaires)", "account_type": "expense"})
        cls.social = account.create(
            {"code": "431198", "name": "Organismes (partenaires)", "account_type": "liability_current"}
        )
        Partner = cls.env["res.partner"]
        cls.urssaf = Partner.create({"name": "URSSAF test PayFlow", "ref": "PF-URSSAF-T"})
        cls.retraite = Partner.create({"name": "Caisse test PayFlow", "vat": "FR40303265045"})
        cls.impots = Partner.create({"name": "SIE test PayFlow"})

    def _moves(self):
        return [{
            "import_key": "partners:k1", "payload_hash": "h1", "date": "2026-10-31", "ref": "SALAIRES",
            "message": "<p>PayFlow</p>",
            "lines": [
                {"account": "64119800", "name": "Salaires", "debit": 100.0, "credit": 0.0, "analytic": None},
                {"account": "43119800", "name": "URSSAF", "debit": 0.0, "credit": 50.0, "analytic": None},
                {"account": "43719800", "name": "Retraite", "debit": 0.0, "credit": 30.0, "analytic": None},
                {"account": "44219800", "name": "PAS", "debit": 0.0, "credit": 20.0, "analytic": None},
            ],
        }]

    def _plan(self, partner_map, dry_run=False):
        account_map = {"43719800": "431198", "44219800": "431198"}
        return self.env["account.move"].payflow_import_plan(
            self.company.id, "PFPRT", self._moves(), account_map=account_map, dry_run=dry_run,
            partner_map=partner_map,
        )

    def test_each_mapped_line_carries_its_partner(self):
        partner_map = {
            "43119800": "PF-URSSAF-T",
            "43719800": "FR40303265045",
            "44219800": "SIE test PayFlow",
            "99999999": "not in this payroll",
        }
        answer = self._plan(partner_map)
        self.assertEqual(answer["problems"], [])
        self.assertTrue(answer["written"])
        self.assertEqual(answer["partners"]["43119800"]["id"], self.urssaf.id)
        self.assertNotIn("99999999", answer["partners"])
        move = self.env["account.move"].search([("payflow_import_key", "=", "partners:k1")])
        by_label = {line.name: line.partner_id for line in move.line_ids}
        self.assertEqual(by_label["URSSAF"], self.urssaf)
        self.assertEqual(by_label["Retraite"], self.retraite)
        self.assertEqual(by_label["PAS"], self.impots)
        self.assertFalse(by_label["Salaires"])
        # Three bodies on one Odoo account, each balance apart.
        lines = move.line_ids.filtered(lambda l: l.account_id == self.social)
        self.assertEqual(len(lines.partner_id), 3)

    def test_a_partner_missing_or_twice_is_a_problem_and_nothing_is_written(self):
        twin = self.env["res.partner"].create({"name": "SIE test PayFlow"})
        answer = self._plan({"43119800": "PF-URSAF", "44219800": "SIE test PayFlow"})
        problems = {p["silae_code"]: p for p in answer["problems"] if p["kind"] == "partner"}
        self.assertEqual(problems["43119800"]["found"], [])
        self.assertEqual(problems["43119800"]["partner"], "PF-URSAF")
        self.assertEqual(
            sorted(i for i, _name in problems["44219800"]["found"]), sorted([self.impots.id, twin.id])
        )
        self.assertFalse(answer["written"])
        self.assertFalse(self.env["account.move"].search([("payflow_import_key", "=", "partners:k1")]))

    def test_without_a_partner_map_nothing_changes(self):
        answer = self._plan(None)
        self.assertTrue(answer["written"])
        self.assertEqual(answer["partners"], {})
        move = self.env["account.move"].search([("payflow_import_key", "=", "partners:k1")])
        self.assertFalse(move.line_ids.partner_id)


PREVIEWED = {
    "id": 9101,
    "dossier": "100300",
    "period": "2026-10",
    "status": "previewed",
    "error_kind": None,
    "message": "dry run: ...",
    "moves": [],
    "dry_run": True,
    "outcome": {
        "status": "previewed",
        "error_kind": None,
        "action": "none",
        "facts": {
            "case": "previewed",
            "odoo": {
                "company": "Ma Société",
                "create": 2,
                "replace": 0,
                "already": 0,
                "addon_missing": None,
                "unseparated": [
                    {
                        "odoo_account": "437000",
                        "silae": ["43730000", "43740000", "43750000"],
                        "without_partner": ["43740000", "43750000"],
                    }
                ],
            },
        },
        "totals": {"moves": 2, "lines": 28, "debit_cents": 20668601, "credit_cents": 20668601},
        "moves": [],
        "dossier": "100300",
        "period": "2026-10",
    },
}


@tagged("post_install", "-at_install")
class TestPartnersWarning(TransactionCase):
    """The preview's warning of Silae accounts sharing an Odoo account without partners."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["res.lang"]._activate_lang("fr_FR")

    def test_the_preview_warns_in_french_and_in_english(self):
        run = self.env["payflow.run"]._payflow_store([PREVIEWED])
        french = run.with_context(lang="fr_FR").outcome_text
        self.assertIn(
            "Attention : les comptes Silae 43730000, 43740000, 43750000 arrivent tous sur le "
            "compte Odoo 437000 et 43740000, 43750000 n'ont pas de partenaire",
            french,
        )
        self.assertIn("onglet Partenaires", french)
        english = run.with_context(lang="en_US").outcome_text
        self.assertIn("Warning: the Silae accounts 43730000, 43740000, 43750000", english)
