"""The agent's typed outcome, rendered for accountants: French, French amounts, no shell."""

import json

from odoo.tests import TransactionCase, tagged

# What the agent answers for a run (runs.list / jobs.get): the contract's fields and `outcome`.
MISSING = {
    "id": 9001,
    "dossier": "100200",
    "period": "2026-10",
    "status": "failed",
    "error_kind": "missing_accounts",
    "message": "4 Silae account(s) have no Odoo account in My Company; nothing was written:\n"
    "- 43730000 (tried 43730000, 4373000, 437300)\n"
    "Create these accounts in Odoo, or map each one to an existing account: "
    "payflow-agent dossier add ... --map 43730000=ODOO_CODE",
    "moves": [],
    "dry_run": False,
    "outcome": {
        "status": "failed",
        "error_kind": "missing_accounts",
        "action": "create_or_map_accounts",
        "facts": {
            "case": "missing_accounts",
            "accounts": [
                {
                    "code": "43730000",
                    "tried": ["43730000", "4373000", "437300"],
                    "label": "Retraite complémentaire",
                },
                {"code": "44210000", "tried": ["44210000", "442100"], "label": "Prélèvement à la source"},
            ],
            "analytic": [],
            "detail": "English detail",
        },
        "totals": None,
        "moves": [],
        "dossier": "100200",
        "period": "2026-10",
    },
}
IMPORTED = {
    "id": 9002,
    "dossier": "100200",
    "period": "2026-10",
    "status": "imported",
    "error_kind": None,
    "message": "1 move(s), 13 lines, debit 77298.40 = credit 77298.40; ...",
    "moves": [424242],
    "dry_run": False,
    "total_debit_cents": 7729840,
    "total_credit_cents": 7729840,
    "outcome": {
        "status": "imported",
        "error_kind": None,
        "action": "none",
        "facts": {"case": "imported", "company": "Ma Société", "created": 1, "replaced": 0, "already": 0},
        "totals": {
            "moves": 1,
            "lines": 13,
            "debit_cents": 7729840,
            "credit_cents": 7729840,
            "ruptures": [],
        },
        "moves": [{"id": 424242, "name": "SAL/2026/10/0001", "rupture_label": "Siège"}],
        "dossier": "100200",
        "period": "2026-10",
    },
}
ENGLISH_WORDS = ("tried", "nothing was written", "Silae account", "move(s)", "debit", "created")
SHELL = ("payflow-agent", "--map", "dossier add")


@tagged("post_install", "-at_install")
class TestOutcome(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["res.lang"]._activate_lang("fr_FR")
        cls.eur = cls.env.ref("base.EUR")

    def _run(self, item, lang):
        runs = self.env["payflow.run"]._payflow_store([item])
        return runs.with_context(lang=lang)

    def test_missing_accounts_in_french_with_labels_and_no_shell(self):
        run = self._run(MISSING, "fr_FR")
        text = run.outcome_text
        self.assertIn("2 compte(s) Silae n'ont pas de compte dans Odoo", text)
        self.assertIn("43730000 Retraite complémentaire (essayé : 43730000, 4373000, 437300)", text)
        for word in ENGLISH_WORDS + SHELL:
            self.assertNotIn(word, text)
        # The list shows which accounts, not a line ending in a colon.
        self.assertIn("43730000", run.summary)
        self.assertIn("44210000", run.summary)
        self.assertEqual(run.action_code, "create_or_map_accounts")
        # The agent's English text stays, for the administrator.
        self.assertIn("--map", run.message)

    def test_missing_accounts_in_english(self):
        text = self._run(MISSING, "en_US").outcome_text
        self.assertIn("2 Silae account(s) have no account in Odoo", text)
        self.assertNotIn("payflow-agent", text)

    def test_an_import_in_french_amounts_and_names_at_once(self):
        run = self._run(IMPORTED, "fr_FR")
        text = run._payflow_outcome_text(json.loads(run.outcome), self.eur)
        self.assertIn("débit 77\u00a0298,40\u00a0€ = crédit 77\u00a0298,40\u00a0€", text)
        self.assertIn("SAL/2026/10/0001", text)
        for word in ENGLISH_WORDS:
            self.assertNotIn(word, text)
        # The move is not in this database: its name still shows, and the count.
        self.assertEqual(run.move_names, "SAL/2026/10/0001")
        self.assertEqual(run.move_count, 1)

    def test_an_old_run_without_outcome_shows_its_message(self):
        old = dict(MISSING, id=9003)
        old.pop("outcome")
        run = self._run(old, "fr_FR")
        self.assertEqual(run.outcome_text, old["message"])

    def test_salary_payments_shown_by_batch_number(self):
        def rupture(label, cents, payment=None):
            total = {"rupture": "1", "label": label, "lines": 3, "debit_cents": cents, "credit_cents": cents}
            if payment:
                total["payment"] = payment
            return total

        outcome = dict(
            IMPORTED["outcome"],
            totals=dict(
                IMPORTED["outcome"]["totals"],
                ruptures=[
                    rupture("Journal de paie - Octobre 2026", 7729840),
                    rupture("Lot de virement 1", 3646031, {"kind": "batch", "batch": 1}),
                    rupture("Lot de virement 2", 813545, {"kind": "batch", "batch": 2}),
                    rupture("Acomptes", 150000, {"kind": "advances"}),
                ],
            ),
        )
        item = dict(IMPORTED, id=9004, outcome=outcome)
        french = self._run(item, "fr_FR").payment_batches
        parts = french.split(", ")
        self.assertEqual(len(parts), 3, french)
        self.assertTrue(parts[0].startswith("Lot 1 : ") and "36\u00a0460,31" in parts[0], french)
        self.assertTrue(parts[1].startswith("Lot 2 : ") and "8\u00a0135,45" in parts[1], french)
        self.assertTrue(parts[2].startswith("Acomptes : ") and "1\u00a0500,00" in parts[2], french)
        english = self._run(item, "en_US").payment_batches
        self.assertIn("Batch 1: ", english)
        self.assertIn("36,460.31", english)
        self.assertIn("Advances: ", english)
        # A run without salary payments shows none.
        self.assertFalse(self._run(IMPORTED, "fr_FR").payment_batches)
    def test_a_changed_draft_and_a_corrected_posted_entry_in_french_with_the_diff(self):
        diff = {"account": "641100", "name": "Salaires", "analytic": False,
                "odoo_debit_cents": 6779337, "odoo_credit_cents": 0,
                "silae_debit_cents": 6809337, "silae_credit_cents": 0}
        added = {"account": "645300", "name": "Retraite", "analytic": "Lyon",
                 "odoo_debit_cents": 0, "odoo_credit_cents": 0,
                 "silae_debit_cents": 12050, "silae_credit_cents": 0}
        corrected = dict(
            MISSING, id=9004, error_kind="changed_in_odoo",
            outcome=dict(
                MISSING["outcome"], error_kind="changed_in_odoo", action="review_changed_draft",
                facts={"case": "corrected", "moves": [
                    {"import_key": "silae:100200:2026-10:siege", "move": {"id": 7, "name": "SAL/2026/10/0001"},
                     "state": "draft", "changed_by": "Jeanne Comptable", "changed_at": "2026-11-02 10:14:00",
                     "reasons": ["lines"], "adjustments": [], "diff": [diff, added]},
                    {"import_key": "silae:100200:2026-10:lyon", "move": {"id": 8, "name": "SAL/2026/10/0002"},
                     "state": "posted", "reasons": [], "adjustments": [], "diff": [added]},
                ]},
            ),
        )
        run = self._run(corrected, "fr_FR")
        text = run._payflow_outcome_text(json.loads(run.outcome), self.eur)
        self.assertIn("Le brouillon SAL/2026/10/0001 a été modifié dans Odoo par Jeanne Comptable", text)
        self.assertIn("641100 Salaires : débit 67\u00a0793,37\u00a0€ dans Odoo, débit 68\u00a0093,37\u00a0€ selon Silae", text)
        self.assertIn("645300 Retraite (Lyon) : ajouté par Silae, débit 120,50\u00a0€", text)
        self.assertIn("Silae a corrigé la paie de la pièce comptabilisée SAL/2026/10/0002", text)
        self.assertIn("Régulariser", text)
        for word in ENGLISH_WORDS:
            self.assertNotIn(word, text)
        self.assertEqual(run.error_kind, "changed_in_odoo")
        self.assertIn("SAL/2026/10/0001", run.summary)
        self.assertIn("Rien n'a été écrit.", run.summary)
        english = self._run(dict(corrected, id=9005), "en_US").outcome_text
        self.assertIn("641100 Salaires: debit", english)
        self.assertIn("changed in Odoo by Jeanne Comptable", english)
